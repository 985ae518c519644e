"""The calculator: contract events from Kafka into the indicators' Redis state.

Each batch (a whole fetch, ``services.calculator.fetch_loop``) is decoded (:meth:`Calculator.
prepare`), its invalid records dead-lettered with the reason (and the events dated in an
archived year: ``year_archived``, shared/store/archived_years.py), and its events applied with
the idempotent Redis script (``shared.store.indicator_store``); when a batch is done and what
is committed is the checkpoint's (``services.calculator.checkpoint``): a crash replays what was not
committed and the script skips what it already applied. Before a batch, and on a timer,
what Redis lost (a restart from an older AOF, a cluster failover) is re-applied from the
event log. The timers export the business metrics and the consumer lag (the group's
leader), take snapshots and publish the indicator updates of the agencies touched.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import faust
from kafka import TopicPartition
from kafka.errors import KafkaError

from services.calculator import business_metrics, garbage, index766_metrics, metrics
from services.calculator.checkpoint import BatchInFlight, Checkpoint, Offsets
from services.calculator.faust_adapter import FaustConsumer
from services.calculator.fetch_loop import FetchLoop
from services.calculator.updates import Coalescer, build_update
from shared.contract.decoding import dead_letter, decode_record
from shared.contract.fastevents import AnyEvent, FastValidator
from shared.contract.validation import FieldError
from shared.domain.calendar import LOCAL_OFFSET, now_utc
from shared.domain.indicators import load_indicators
from shared.domain.succession import succession_of
from shared.domain.targets import load_targets
from shared.platform.config import CalculatorSettings
from shared.platform.faust_app import guarded_timer
from shared.platform.lag_probe import LagProbe
from shared.platform.logs import get_logger
from shared.store.archived_years import YEAR_ARCHIVED, ArchivedYearsCache, archived_event
from shared.store.catalogs import CatalogCache
from shared.store.client import (
    REDIS_UNAVAILABLE,
    RedisClient,
    is_cluster,
    redis_from_url,
    redis_gone,
)
from shared.store.indicator_store import ApplyPlan, ComputePlace, IndicatorStore, local_year
from shared.store.last_seen import record_event_times
from shared.store.replay import open_consumer, replay_ranges
from shared.store.snapshots import take_snapshot

log = get_logger("calculator")

# records per fetch (a batch), and how often applied batches are committed
BATCH_MAX = 4000
COMMIT_INTERVAL_S = 1.0
# records decoded between two turns of the event loop
PREPARE_SLICE = 250
# batches in flight: while one batch's scripts run in Redis, the next is sent as soon as
# they return (its decoding, gap check and call building done meanwhile)
APPLY_DEPTH = 2


@dataclass
class Prepared:
    """A decoded batch: its events, its invalid records and their reasons, the ingest
    stamps (freshness) and the events' script calls (``None``: planned when applied)."""

    started: float
    now: datetime
    valid: list[AnyEvent] = field(default_factory=list)
    invalid: list[tuple[Any, str, list[FieldError]]] = field(default_factory=list)
    # the raw ingest stamps (ms) and their events: a request's events share theirs
    ingested: Counter[bytes] = field(default_factory=Counter)
    plan: ApplyPlan | None = None


def touched_years(events: Sequence[AnyEvent], applied: Sequence[bool]) -> set[tuple[str, int]]:
    """The (agency, local year) of every applied event: their indicator updates."""
    out: set[tuple[str, int]] = set()
    for event, was_applied in zip(events, applied, strict=True):
        if was_applied:
            ts = event.occurred_at
            # stamped in local time (nearly all): its own year, without the arithmetic
            year = ts.year if ts.utcoffset() == LOCAL_OFFSET else int(local_year(ts))
            out.add((event.agency_code, year))
    return out


def abort_batch(exc: BaseException) -> None:
    """A batch that could not complete must never be acked: exit at once (no ack, no
    commit) and let the restart re-read it."""
    log.error("batch_aborted", error=repr(exc))
    os._exit(70)


class Calculator:
    """One calculator worker: its batches, gap filling, dead letters and timers, on the
    Faust ``app`` it is installed in."""

    def __init__(
        self,
        settings: CalculatorSettings,
        app: faust.App,
        deadletter_topic: faust.types.TopicT,
        updates_topic: faust.types.TopicT,
    ) -> None:
        self.settings = settings
        self.app = app
        self.deadletter_topic = deadletter_topic
        self.updates_topic = updates_topic
        self.event_topics = [settings.topics.dossier, settings.topics.document]
        self.indicators = load_indicators()
        self.targets = load_targets()
        self.coalescer = Coalescer()
        self.consumer = FaustConsumer(app)
        self.checkpoint = Checkpoint(
            self.consumer, abort_batch, depth=APPLY_DEPTH, commit_interval_s=COMMIT_INTERVAL_S
        )
        self.fetch_loop = FetchLoop(
            self.consumer,
            self.event_topics,
            self.checkpoint,
            self.prepare,
            self.apply,
            stop_grace_s=settings.calculator_stop_grace_s,
            fetch_wait_ms=settings.calculator_fetch_wait_ms,
        )
        self.snapshot_dir = Path(settings.snapshot_dir or ".")
        self.lag_probe = LagProbe(
            settings.kafka_bootstrap, settings.calculator_group, self.event_topics
        )
        # created in the worker's event loop, on first use
        self._redis: RedisClient | None = None
        self._store: IndicatorStore | None = None
        self._catalogs: CatalogCache | None = None
        self._archived: ArchivedYearsCache | None = None
        self._store_counts = metrics.StoreCounts()

    @property
    def redis(self) -> RedisClient:
        if self._redis is None:
            self._redis = redis_from_url(self.settings.redis_url, settings=self.settings)
        return self._redis

    @property
    def store(self) -> IndicatorStore:
        if self._store is None:
            self._store = IndicatorStore(
                self.redis, known_states=self.settings.calculator_known_states
            )
        return self._store

    @property
    def catalogs(self) -> CatalogCache:
        if self._catalogs is None:
            self._catalogs = CatalogCache(self.redis, wait=True)  # never the packaged one
        return self._catalogs

    @property
    def archived(self) -> ArchivedYearsCache:
        """The archived years (``egov years archive``): their events are dead-lettered."""
        if self._archived is None:
            self._archived = ArchivedYearsCache(self.redis)
        return self._archived

    def install(self) -> None:
        """Replace the app's fetch loop and register the timers."""
        settings, app = self.settings, self.app
        self.fetch_loop.install()
        guarded_timer(app, settings.metrics_interval_s, on_leader=True)(self.export_metrics)
        business_metrics.follow(app)  # only the leader exports the gauges it sets
        guarded_timer(app, settings.calculator_gap_check_interval_s)(self.check_gaps)
        if settings.snapshot_dir and is_cluster(settings.redis_url):
            log.warning("snapshots_off", reason="a Redis Cluster has no snapshots (replicas, AOF)")
        elif settings.snapshot_dir:
            guarded_timer(app, settings.snapshot_interval_s)(self.take_snapshots)
        guarded_timer(app, settings.calculator_publish_interval_s)(self.publish_updates)
        guarded_timer(app, settings.calculator_gc_interval_s)(self.collect_garbage)

    # --- a batch -----------------------------------------------------------------------

    async def prepare(self, batch: list[Any]) -> Prepared:
        """Decode a fetched batch (msgspec first, pydantic for what it does not accept):
        CPU only, run while the previous batch is in Redis."""
        started = time.perf_counter()
        now = now_utc()
        agencies = (await self.catalogs.current()).agencies
        # §4b: a reorganisation's successor sends under its own code what it continues
        self.store.succession = succession_of(agencies)
        archived = await self.archived.current()
        fast = FastValidator(agencies, now)
        out = Prepared(started=started, now=now)
        valid, ingested = out.valid, out.ingested
        for n, record in enumerate(batch):
            if n % PREPARE_SLICE == PREPARE_SLICE - 1:
                # let the batch in flight take Redis' answers between slices: its few
                # round trips must not each wait for a whole batch to be decoded
                await asyncio.sleep(0)
            try:
                # msgspec's struct when the fast path accepts it; else pydantic says why
                result: AnyEvent | tuple[str, list[FieldError]] = decode_record(
                    record.value, agencies=agencies, now=now, fast=fast, structs=True
                )
            except Exception as exc:  # a decoding bug must not lose or stop the batch
                result = (
                    "undecodable",
                    [FieldError(field="value", reason=type(exc).__name__, code="internal")],
                )
            if isinstance(result, tuple):
                out.invalid.append((record, *result))
                continue
            frozen = archived_event(result, archived)
            if frozen is not None:  # its year's states are archived: never counted anew
                out.invalid.append((record, YEAR_ARCHIVED, [frozen]))
                continue
            valid.append(result)
            for name, stamp in record.headers or ():
                if name == "ingested_at_ms" and stamp:
                    ingested[stamp] += 1
                    break
        try:
            out.plan = await self.store.plan(valid)
        except Exception as exc:  # Redis away: apply_many plans it
            if not redis_gone(exc):
                raise
        return out

    async def apply(self, prepared: Prepared, batch: BatchInFlight) -> None:
        """Dead letters sent, events applied in Redis (retried until it answers): only
        then is the batch done (the checkpoint notes and commits it)."""
        # its place among the batches computing, in the order they started (= their
        # turns), whatever their dead letters and gap checks take
        place = self.store.take_place()
        try:
            for record, reason, errors in prepared.invalid:
                await self.send_dead_letter(record, reason, errors)
            valid, now = prepared.valid, prepared.now
            # only feeds the silence alerts (the next batch records it again): alongside
            # the apply, one round trip less per batch
            times = asyncio.ensure_future(self.record_times(valid, now))
            applied = await self.apply_with_retry(valid, batch, prepared.plan, place)
            await times
        finally:
            place.release()
        done = time.time()
        # metrics and coalescing per batch, not per event (the hot path)
        counts: Counter[tuple[str, bool]] = Counter(
            zip([e.family for e in valid], applied, strict=True)
        )
        for (family, was_applied), n in counts.items():
            (metrics.EVENTS_APPLIED if was_applied else metrics.DUPLICATES).labels(family).inc(n)
        for agency, year in touched_years(valid, applied):
            self.coalescer.touch(agency, year)
        for stamp, n in prepared.ingested.items():
            try:
                stamp_s = int(stamp) / 1000
            except (TypeError, ValueError):
                metrics.BAD_HEADERS.inc(n)
                continue
            metrics.observe_repeated(metrics.FRESHNESS, max(0.0, done - stamp_s), n)
        store = self.store
        self._store_counts.export(store.known, store.new, store.unknown, store.conflicts)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - prepared.started)
        metrics.LAST_APPLIED.set(done)

    async def apply_with_retry(
        self,
        events: list[AnyEvent],
        batch: BatchInFlight,
        plan: ApplyPlan | None,
        place: ComputePlace | None = None,
    ) -> list[bool]:
        """Redis down must not ack the batch: retry until it is applied. Its script calls
        take their turn after the previous batch's (the checkpoint's order)."""
        floor = batch.gap_floor()
        delay = 0.2
        while True:
            try:
                agencies = (
                    {c.agency for c in plan.calls} if plan else {e.agency_code for e in events}
                )
                await self.fill_gaps(floor, agencies, place)
                return await self.store.apply_many(
                    events, batch.last, plan, turn=batch, floor=floor, place=place
                )
            except Exception as exc:
                if not (redis_gone(exc) or isinstance(exc, KafkaError)):
                    raise  # a bug, not Redis or Kafka away: the batch aborts
                metrics.REDIS_RETRIES.inc()
                log.warning("apply_retry", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def fill_gaps(
        self, first: Offsets, agencies: set[str] | None = None, place: ComputePlace | None = None
    ) -> None:
        """Re-apply what Redis lost: records before ``first`` (per partition) that the
        applied offsets don't cover — the central hash behind (a Redis restarted from an
        older AOF, a restored snapshot, offsets committed by a crashed batch), or an
        agency's own offsets behind the central hash (its cluster primary failed over and
        lost its last calls; ``agencies``: those to check, default all). Idempotent, so
        over-reading is harmless; the agencies found behind then claim the replayed range.

        ``place``: the batch's place among those computing, given up before a replay (whose
        batches take places after the next batch's, which waits for this one's)."""
        store = self.store
        gaps = await store.gaps(first, agencies)
        if not gaps:
            return
        if place is not None:
            place.release()
        ranges = {TopicPartition(t, p): (start, end) for (t, p), (start, end, _) in gaps.items()}
        log.warning(
            "redis_behind_kafka",
            gaps={f"{tp.topic}[{tp.partition}]": span for tp, span in ranges.items()},
            agencies=sorted({a for _, _, behind in gaps.values() for a in behind}),
        )
        catalog = (await self.catalogs.current()).agencies
        consumer = await asyncio.to_thread(open_consumer, self.settings.kafka_bootstrap, 2000)
        try:
            counts = await replay_ranges(
                consumer, store, ranges, lambda _: catalog, skip_years=await self.archived.current()
            )
        finally:
            await asyncio.to_thread(consumer.close)
        for tp, (_, end, behind) in gaps.items():
            await store.claim_applied(behind, {tp: end - 1})
        metrics.GAP_RECORDS.inc(counts.records)
        log.warning("redis_gap_filled", records=counts.records, applied=counts.applied)

    async def send_dead_letter(self, record: Any, reason: str, errors: list[Any]) -> None:
        entry = dead_letter(
            reason,
            errors,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            now=now_utc(),
            max_value_bytes=self.settings.deadletter_max_value_bytes,
        )
        fut = await self.deadletter_topic.send(
            key=record.key, value=entry.model_dump_json().encode()
        )
        await fut
        metrics.DEADLETTERED.labels(reason).inc()
        log.warning(
            "dead_lettered",
            reason=reason,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            truncated=entry.truncated,
            fields=[e.field for e in errors],
        )

    async def record_times(self, events: list[AnyEvent], now: datetime) -> None:
        try:
            await record_event_times(self.redis, events, now)
        except Exception as exc:
            if not redis_gone(exc):
                raise

    # --- timers ------------------------------------------------------------------------

    async def export_metrics(self) -> None:
        """Business metrics and consumer lag for Prometheus (read from Redis and Kafka): the
        same figures for the whole group, so the leader alone exports them."""
        try:
            catalogs = await self.catalogs.current()
            index766 = await index766_metrics.read(self.store, catalogs, now_utc())
            await business_metrics.export(
                self.store, catalogs, self.targets, list(self.indicators.values())
            )
            # right after the export marks the gauges fresh, no await between: a scrape
            # never sees the new leader's other gauges without its 766 ones
            index766_metrics.publish(index766)
            lags = await asyncio.to_thread(self.lag_probe.measure)
            for (topic, partition), lag in lags.items():
                metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
        except (*REDIS_UNAVAILABLE, KafkaError) as exc:
            log.warning("metrics_export_failed", error=type(exc).__name__)

    async def check_gaps(self) -> None:
        """Redis can lose writes while this worker runs (restarted from an AOF that missed
        its last second, a cluster primary failed over): re-apply what Redis no longer has
        on every partition this worker owns — also those it has not processed a batch of
        yet (given by a rebalance after their last records were applied elsewhere)."""
        owned = [
            (tp.topic, tp.partition)
            for tp in self.consumer.assignment()
            if tp.topic in self.event_topics
        ]
        reached = self.checkpoint.reached(owned, self.consumer.committed())
        if reached:
            await self.fill_gaps(reached)

    async def take_snapshots(self) -> None:
        """One calculator per interval snapshots Redis (the lock expires with it)."""
        settings = self.settings
        lock = await self.redis.set(
            "snapshot:lock", "1", nx=True, px=int(settings.snapshot_interval_s * 900)
        )
        if lock:
            path = await asyncio.to_thread(
                take_snapshot, settings.redis_url, self.snapshot_dir, settings.snapshot_keep
            )
            metrics.SNAPSHOTS.inc()
            log.info("snapshot_taken", path=str(path), bytes=path.stat().st_size)

    async def collect_garbage(self) -> None:
        garbage.collect()

    async def publish_updates(self) -> None:
        now = now_utc()
        for agency, year in self.coalescer.drain():
            try:
                update = await build_update(self.store, self.indicators, agency, year, now)
            except REDIS_UNAVAILABLE:
                self.coalescer.touch(agency, year)
                continue
            await self.updates_topic.send(
                key=agency.encode(), value=update.model_dump_json().encode()
            )
            metrics.UPDATES_PUBLISHED.inc()
