"""The calculator's Faust app.

The agent subscribes the dossier and document topics; their records are pulled in whole
fetches by the batch drain (``services.calculator.drain``). Each event is applied with the
idempotent Redis script (``shared.store.indicator_store``); a batch's offsets are committed
only after Redis confirmed it, so a crash replays the batch and the script skips what it already
applied. Records that are not valid contract events go to the dead-letter topic
with the reason, and the agent keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import faust
from faust.types import StreamT
from kafka import TopicPartition
from kafka.errors import KafkaError

from services.calculator import business_metrics, metrics
from services.calculator.drain import BatchDrain
from services.calculator.updates import Coalescer, build_update
from shared.contract.decoding import dead_letter, decode_record
from shared.contract.events import Event
from shared.contract.fastevents import FastValidator
from shared.contract.validation import FieldError
from shared.domain.calendar import now_utc
from shared.domain.indicators import load_indicators
from shared.domain.targets import load_targets
from shared.platform.config import CalculatorSettings, load
from shared.platform.faust_app import guarded_timer, make_faust_app
from shared.platform.lag_probe import LagProbe
from shared.platform.logs import get_logger
from shared.store.catalogs import CatalogCache
from shared.store.client import REDIS_UNAVAILABLE, RedisClient, is_cluster, redis_from_url
from shared.store.indicator_store import ApplyPlan, IndicatorStore, local_year
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
    """A decoded batch: its events, its invalid records and their reasons, per partition
    its first and last offsets, the ingest stamps (freshness) and the events' script
    calls (``None``: planned when applied)."""

    started: float
    now: datetime
    valid: list[Event] = field(default_factory=list)
    invalid: list[tuple[Any, str, list[FieldError]]] = field(default_factory=list)
    first: dict[tuple[str, int], int] = field(default_factory=dict)
    last: dict[tuple[str, int], int] = field(default_factory=dict)
    ingested: list[float] = field(default_factory=list)
    plan: ApplyPlan | None = None


def abort_batch(exc: BaseException) -> None:
    """A batch that could not complete must never be acked: exit at once (no ack, no
    commit) and let the restart re-read it."""
    log.error("batch_aborted", error=repr(exc))
    os._exit(70)


def create_app(settings: CalculatorSettings | None = None) -> faust.App:
    settings = settings or load(CalculatorSettings)
    app = make_faust_app(
        settings,
        settings.calculator_group,
        settings.calculator_host,
        settings.calculator_port,
        topic_partitions=settings.topic_partitions,
        broker_commit_interval=COMMIT_INTERVAL_S,
        broker_max_poll_records=BATCH_MAX,
        leader=True,  # one worker of the group exports the group's gauges
    )
    events_topic = app.topic(
        settings.topics.dossier,
        settings.topics.document,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    deadletter_topic = app.topic(
        settings.topics.deadletter, key_serializer="raw", value_serializer="raw"
    )
    updates_topic = app.topic(
        settings.topics.indicator_updates, key_serializer="raw", value_serializer="raw"
    )
    indicators = load_indicators()
    targets = load_targets()
    coalescer = Coalescer()
    # (topic, partition) → offset after the last record this worker processed: everything
    # before it must be in Redis (the gap check compares Redis' applied offsets with it).
    processed: dict[tuple[str, int], int] = {}
    state: dict[str, Any] = {}
    # batches handed to apply and not finished, in fetch order, and the future the last
    # one's scripts resolve when they returned (the next one's scripts wait for it)
    in_flight: list[Prepared] = []
    script_turn: list[asyncio.Future[None] | None] = [None]

    def redis() -> RedisClient:
        if "redis" not in state:
            state["redis"] = redis_from_url(settings.redis_url, settings=settings)
        return state["redis"]  # type: ignore[no-any-return]

    def store() -> IndicatorStore:
        if "store" not in state:
            state["store"] = IndicatorStore(redis())
        return state["store"]  # type: ignore[no-any-return]

    def catalogs() -> CatalogCache:
        if "catalogs" not in state:
            state["catalogs"] = CatalogCache(redis(), wait=True)  # never the packaged one
        return state["catalogs"]  # type: ignore[no-any-return]

    async def fill_gaps(
        first: dict[tuple[str, int], int], agencies: set[str] | None = None
    ) -> None:
        """Re-apply what Redis lost: records before ``first`` (per partition) that the
        applied offsets don't cover — the central hash behind (a Redis restarted from an
        older AOF, a restored snapshot, offsets committed by a crashed batch), or an
        agency's own offsets behind the central hash (its cluster primary failed over and
        lost its last calls; ``agencies``: those to check, default all). Idempotent, so
        over-reading is harmless; the agencies found behind then claim the replayed range."""
        gaps = await store().gaps(first, agencies)
        if not gaps:
            return
        ranges = {TopicPartition(t, p): (start, end) for (t, p), (start, end, _) in gaps.items()}
        log.warning(
            "redis_behind_kafka",
            gaps={f"{tp.topic}[{tp.partition}]": span for tp, span in ranges.items()},
            agencies=sorted({a for _, _, behind in gaps.values() for a in behind}),
        )
        catalog = (await catalogs().current()).agencies
        consumer = await asyncio.to_thread(open_consumer, settings.kafka_bootstrap, 2000)
        try:
            counts = await replay_ranges(consumer, store(), ranges, lambda _: catalog)
        finally:
            await asyncio.to_thread(consumer.close)
        for tp, (_, end, behind) in gaps.items():
            await store().claim_applied(behind, {tp: end - 1})
        metrics.GAP_RECORDS.inc(counts.records)
        log.warning("redis_gap_filled", records=counts.records, applied=counts.applied)

    async def apply_with_retry(
        events: list[Event],
        first: dict[tuple[str, int], int],
        last: dict[tuple[str, int], int],
        plan: ApplyPlan | None = None,
        previous: asyncio.Future[None] | None = None,
        mine: asyncio.Future[None] | None = None,
    ) -> list[bool]:
        """Redis down must not ack the batch: retry until it is applied. ``previous``:
        resolved once the previous batch's scripts returned (this batch's run after them);
        ``mine``: resolved once this batch's did."""

        async def after_previous() -> None:
            if previous is not None:
                await previous

        def done() -> None:
            if mine is not None and not mine.done():
                mine.set_result(None)

        delay = 0.2
        while True:
            try:
                await fill_gaps(first, {e.agency_code for e in events})
                return await store().apply_many(
                    events, last, plan, before_scripts=after_previous, after_scripts=done
                )
            except (*REDIS_UNAVAILABLE, KafkaError) as exc:
                metrics.REDIS_RETRIES.inc()
                log.warning("apply_retry", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def send_dead_letter(record: Any, reason: str, errors: list[Any]) -> None:
        entry = dead_letter(
            reason,
            errors,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            now=now_utc(),
            max_value_bytes=settings.deadletter_max_value_bytes,
        )
        fut = await deadletter_topic.send(key=record.key, value=entry.model_dump_json().encode())
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

    async def prepare(batch: list[Any]) -> Prepared:
        """Decode a fetched batch (msgspec first, pydantic for what it does not accept):
        CPU only, run while the previous batch is in Redis."""
        started = time.perf_counter()
        now = now_utc()
        agencies = (await catalogs().current()).agencies
        fast = FastValidator(agencies, now)
        out = Prepared(started=started, now=now)
        first, last, valid, ingested = out.first, out.last, out.valid, out.ingested
        for n, record in enumerate(batch):
            if n % PREPARE_SLICE == PREPARE_SLICE - 1:
                # let the batch in flight take Redis' answers between slices: its few
                # round trips must not each wait for a whole batch to be decoded
                await asyncio.sleep(0)
            tp = (record.topic, record.partition)
            first.setdefault(tp, record.offset)  # a partition's records come in order
            last[tp] = record.offset
            try:
                result = decode_record(record.value, agencies=agencies, now=now, fast=fast)
            except Exception as exc:  # a decoding bug must not lose or stop the batch
                result = (
                    "undecodable",
                    [FieldError(field="value", reason=type(exc).__name__, code="internal")],
                )
            if isinstance(result, tuple):
                out.invalid.append((record, *result))
                continue
            valid.append(result)
            if record.headers:
                stamp = dict(record.headers).get("ingested_at_ms")
                if stamp:
                    try:
                        ingested.append(int(stamp) / 1000)
                    except (TypeError, ValueError):
                        metrics.BAD_HEADERS.inc()
        with contextlib.suppress(*REDIS_UNAVAILABLE):  # else apply_many plans it
            out.plan = await store().plan(valid)
        return out

    async def record_times(events: list[Event], now: datetime) -> None:
        with contextlib.suppress(*REDIS_UNAVAILABLE):
            await record_event_times(redis(), events, now)

    def apply(batch: Prepared) -> Awaitable[dict[tuple[str, int], int]]:
        """The batch's apply, chained to the previous one's (called in fetch order)."""
        previous = script_turn[0]
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        script_turn[0] = mine
        in_flight.append(batch)
        return run_batch(batch, previous, mine)

    def gap_floor(batch: Prepared) -> dict[tuple[str, int], int]:
        """Per partition of the batch, the offset everything before which must be in
        Redis: its first, or an earlier batch's still in flight (not yet applied: not a
        gap)."""
        floor = dict(batch.first)
        for other in in_flight:
            if other is batch:
                break
            for tp, offset in other.first.items():
                if tp in floor:
                    floor[tp] = min(floor[tp], offset)
        return floor

    async def run_batch(
        batch: Prepared, previous: asyncio.Future[None] | None, mine: asyncio.Future[None]
    ) -> dict[tuple[str, int], int]:
        """Dead letters sent, events applied in Redis (retried until it answers): only
        then may the drain commit the batch's offsets, which it returns."""
        try:
            return await apply_batch(batch, previous, mine)
        finally:
            in_flight.remove(batch)
            if not mine.done():  # failed or cancelled: the later batches must not follow
                mine.set_exception(RuntimeError("an earlier batch did not reach Redis"))
                mine.exception()  # retrieved: the next batch, if any, raises it

    async def apply_batch(
        batch: Prepared, previous: asyncio.Future[None] | None, mine: asyncio.Future[None]
    ) -> dict[tuple[str, int], int]:
        for record, reason, errors in batch.invalid:
            await send_dead_letter(record, reason, errors)
        valid, now = batch.valid, batch.now
        # only feeds the silence alerts (the next batch records it again): alongside the
        # apply, one round trip less per batch
        times = asyncio.ensure_future(record_times(valid, now))
        applied = await apply_with_retry(
            valid, gap_floor(batch), batch.last, batch.plan, previous, mine
        )
        await times
        for tp, offset in batch.last.items():
            processed[tp] = max(processed.get(tp, 0), offset + 1)
        done = time.time()
        # metrics and coalescing per batch, not per event (the hot path)
        counts: Counter[tuple[str, bool]] = Counter()
        touched: set[tuple[str, str]] = set()
        for event, was_applied in zip(valid, applied, strict=True):
            counts[(event.family, was_applied)] += 1
            if was_applied:
                touched.add((event.agency_code, local_year(event.occurred_at)))
        for (family, was_applied), n in counts.items():
            (metrics.EVENTS_APPLIED if was_applied else metrics.DUPLICATES).labels(family).inc(n)
        for agency, year in touched:
            coalescer.touch(agency, int(year))
        for stamp_s in batch.ingested:
            metrics.FRESHNESS.observe(max(0.0, done - stamp_s))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - batch.started)
        metrics.LAST_APPLIED.set(done)
        return batch.last

    drain = BatchDrain(
        app,
        [settings.topics.dossier, settings.topics.document],
        prepare,
        apply,
        abort_batch,
        commit_interval_s=COMMIT_INTERVAL_S,
        stop_grace_s=settings.calculator_stop_grace_s,
        depth=APPLY_DEPTH,
    )

    @app.agent(events_topic)
    async def apply_events(stream: StreamT[Any]) -> None:
        """Subscribes the event topics. Their records never reach this stream: the batch
        drain (``services.calculator.drain``) pulls them from the consumer in whole
        fetches, decodes, applies and commits them."""
        async for _ in stream:
            abort_batch(RuntimeError("an event record reached the Faust stream"))

    drain.install()

    lag_probe = LagProbe(
        settings.kafka_bootstrap,
        settings.calculator_group,
        [settings.topics.dossier, settings.topics.document],
    )

    @guarded_timer(app, settings.metrics_interval_s, on_leader=True)
    async def export_metrics() -> None:
        """Business metrics and consumer lag for Prometheus (read from Redis and Kafka): the
        same figures for the whole group, so the leader alone exports them."""
        try:
            await business_metrics.export(
                store(), await catalogs().current(), targets, list(indicators.values())
            )
            for (topic, partition), lag in (await asyncio.to_thread(lag_probe.measure)).items():
                metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
        except (*REDIS_UNAVAILABLE, KafkaError) as exc:
            log.warning("metrics_export_failed", error=type(exc).__name__)

    business_metrics.follow(app)  # only the leader exports the gauges it sets

    async def forget_revoked(sender: Any, *args: Any, **kwargs: Any) -> None:
        """Partitions now owned by another worker are its to check."""
        for tp in (args[0] if args else kwargs.get("revoked")) or ():
            processed.pop((tp.topic, tp.partition), None)

    app.on_partitions_revoked.connect(forget_revoked)  # type: ignore[arg-type]

    @guarded_timer(app, settings.calculator_gap_check_interval_s)
    async def check_gaps() -> None:
        """Redis can lose writes while this worker runs (restarted from an AOF that missed
        its last second, a cluster primary failed over): re-apply what Redis no longer has
        on every partition this worker owns — also those it has not processed a batch of
        yet (given by a rebalance after their last records were applied elsewhere)."""
        owned = {
            (tp.topic, tp.partition)
            for tp in app.consumer.assignment()
            if tp.topic in (settings.topics.dossier, settings.topics.document)
        }
        reached = {tp: processed.get(tp, 0) for tp in owned | set(processed)}
        if reached:
            await fill_gaps(reached)

    if settings.snapshot_dir and is_cluster(settings.redis_url):
        log.warning("snapshots_off", reason="a Redis Cluster has no snapshots (replicas, AOF)")
    elif settings.snapshot_dir:
        snapshot_dir = Path(settings.snapshot_dir)

        @guarded_timer(app, settings.snapshot_interval_s)
        async def take_snapshots() -> None:
            """One calculator per interval snapshots Redis (the lock expires with it)."""
            lock = await redis().set(
                "snapshot:lock", "1", nx=True, px=int(settings.snapshot_interval_s * 900)
            )
            if lock:
                path = await asyncio.to_thread(
                    take_snapshot, settings.redis_url, snapshot_dir, settings.snapshot_keep
                )
                metrics.SNAPSHOTS.inc()
                log.info("snapshot_taken", path=str(path), bytes=path.stat().st_size)

    @guarded_timer(app, settings.calculator_publish_interval_s)
    async def publish_updates() -> None:
        now = now_utc()
        for agency, year in coalescer.drain():
            try:
                update = await build_update(store(), indicators, agency, year, now)
            except REDIS_UNAVAILABLE:
                coalescer.touch(agency, year)
                continue
            await updates_topic.send(key=agency.encode(), value=update.model_dump_json().encode())
            metrics.UPDATES_PUBLISHED.inc()

    return app
