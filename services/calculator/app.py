"""The calculator's Faust app.

One agent consumes the dossier and document topics in batches. Each event is applied
with the idempotent Redis script (``shared.store``); the batch's offsets are acked only
after Redis confirmed it, so a crash replays the batch and the script skips what it
already applied. Records that are not valid contract events go to the dead-letter topic
with the reason, and the agent keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import StreamT
from kafka import TopicPartition
from kafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.calculator import business_metrics, metrics
from services.calculator.decoding import dead_letter, decode_record
from services.calculator.lag import LagProbe
from services.calculator.replay_log import open_consumer, replay_ranges
from services.calculator.snapshots import take_snapshot
from services.calculator.updates import Coalescer, build_update
from shared.catalog_store import CatalogCache
from shared.config import Settings, get_settings
from shared.events import Event
from shared.faust_app import guarded_timer, make_faust_app
from shared.indicators import load_indicators
from shared.last_seen import record_event_times
from shared.logs import get_logger
from shared.store import IndicatorStore, occurrence
from shared.targets import load_targets
from shared.timeutil import now_utc
from shared.validation import FieldError

log = get_logger("calculator")

BATCH_MAX = 1000
BATCH_WITHIN_S = 0.05


def abort_batch(exc: BaseException) -> None:
    """A batch that could not complete must never be acked: exit at once (no ack, no
    commit) and let the restart re-read it."""
    log.error("batch_aborted", error=repr(exc))
    os._exit(70)


def create_app(settings: Settings | None = None) -> faust.App:
    settings = settings or get_settings()
    app = make_faust_app(
        settings,
        settings.calculator_group,
        settings.calculator_host,
        settings.calculator_port,
        topic_partitions=settings.topic_partitions,
        broker_commit_interval=1.0,
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

    def redis() -> Redis:
        if "redis" not in state:
            state["redis"] = Redis.from_url(settings.redis_url)
        return state["redis"]  # type: ignore[no-any-return]

    def store() -> IndicatorStore:
        if "store" not in state:
            state["store"] = IndicatorStore(redis())
        return state["store"]  # type: ignore[no-any-return]

    def catalogs() -> CatalogCache:
        if "catalogs" not in state:
            state["catalogs"] = CatalogCache(redis())
        return state["catalogs"]  # type: ignore[no-any-return]

    async def fill_gaps(first: dict[tuple[str, int], int]) -> None:
        """Re-apply what Redis lost: records before this batch that its applied offsets
        don't cover (a Redis restarted from an older AOF, a restored snapshot, offsets
        committed by a crashed batch). Idempotent, so over-reading is harmless."""
        applied = await store().applied_offsets()
        ranges = {
            TopicPartition(topic, partition): (applied.get((topic, partition), -1) + 1, start)
            for (topic, partition), start in first.items()
            if applied.get((topic, partition), -1) + 1 < start
        }
        if not ranges:
            return
        log.warning(
            "redis_behind_kafka",
            gaps={f"{tp.topic}[{tp.partition}]": span for tp, span in ranges.items()},
        )
        catalog = (await catalogs().current()).agencies
        consumer = await asyncio.to_thread(open_consumer, settings.kafka_bootstrap, 2000)
        try:
            counts = await replay_ranges(consumer, store(), ranges, lambda _: catalog)
        finally:
            await asyncio.to_thread(consumer.close)
        metrics.GAP_RECORDS.inc(counts.records)
        log.warning("redis_gap_filled", records=counts.records, applied=counts.applied)

    async def apply_with_retry(
        events: list[Event],
        first: dict[tuple[str, int], int],
        last: dict[tuple[str, int], int],
    ) -> list[bool]:
        """Redis down must not ack the batch: retry until it is applied."""
        delay = 0.2
        while True:
            try:
                await fill_gaps(first)
                return await store().apply_many(events, last)
            except (RedisError, OSError, KafkaError) as exc:
                metrics.REDIS_RETRIES.inc()
                log.warning("apply_retry", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def send_dead_letter(kafka_event: Any, reason: str, errors: list[Any]) -> None:
        msg = kafka_event.message
        entry = dead_letter(
            reason,
            errors,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            key=msg.key,
            value=msg.value,
            now=now_utc(),
            max_value_bytes=settings.deadletter_max_value_bytes,
        )
        fut = await deadletter_topic.send(key=msg.key, value=entry.model_dump_json().encode())
        await fut
        metrics.DEADLETTERED.labels(reason).inc()
        log.warning(
            "dead_lettered",
            reason=reason,
            topic=msg.topic,
            partition=msg.partition,
            offset=msg.offset,
            truncated=entry.truncated,
            fields=[e.field for e in errors],
        )

    async def process(batch: list[Any]) -> None:
        started = time.perf_counter()
        now = now_utc()
        agencies = (await catalogs().current()).agencies
        valid: list[Event] = []
        ingested: list[float] = []
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        for kafka_event in batch:
            msg = kafka_event.message
            tp = (msg.topic, msg.partition)
            first[tp] = min(first.get(tp, msg.offset), msg.offset)
            last[tp] = max(last.get(tp, msg.offset), msg.offset)
            try:
                result = decode_record(msg.value, agencies=agencies, now=now)
            except Exception as exc:  # a decoding bug must not lose or stop the batch
                result = (
                    "undecodable",
                    [FieldError(field="value", reason=type(exc).__name__, code="internal")],
                )
            if isinstance(result, tuple):
                await send_dead_letter(kafka_event, *result)
                continue
            valid.append(result)
            stamp = dict(msg.headers or []).get("ingested_at_ms")
            if stamp:
                try:
                    ingested.append(int(stamp) / 1000)
                except (TypeError, ValueError):
                    metrics.BAD_HEADERS.inc()
        applied = await apply_with_retry(valid, first, last)
        for tp, offset in last.items():
            processed[tp] = max(processed.get(tp, 0), offset + 1)
        # only feeds the silence alerts; the next batch records it again
        with contextlib.suppress(RedisError, OSError):
            await record_event_times(redis(), valid, now)
        done = time.time()
        # metrics and coalescing per batch, not per event (the hot path)
        counts: Counter[tuple[str, bool]] = Counter()
        touched: set[tuple[str, int]] = set()
        for event, was_applied in zip(valid, applied, strict=True):
            counts[(event.family, was_applied)] += 1
            if was_applied:
                touched.add((event.agency_code, int(occurrence(event.occurred_at).year)))
        for (family, was_applied), n in counts.items():
            (metrics.EVENTS_APPLIED if was_applied else metrics.DUPLICATES).labels(family).inc(n)
        for agency, year in touched:
            coalescer.touch(agency, year)
        for stamp_s in ingested:
            metrics.FRESHNESS.observe(max(0.0, done - stamp_s))
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        metrics.LAST_APPLIED.set(done)

    @app.agent(events_topic)
    async def apply_events(stream: StreamT[Any]) -> None:
        """Faust acks a yielded batch whatever happens in this body (even on an exception or
        a cancellation), so a batch either completes here or the process exits before the
        ack: a restart then re-reads it (and Redis' applied offsets fill any gap)."""
        batches = cast("faust.Stream[Any]", stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
        async for batch in batches:
            job = asyncio.ensure_future(process(list(batch)))
            try:
                await asyncio.shield(job)
            except asyncio.CancelledError:
                # stopping: let the batch finish (briefly) before Faust acks it
                try:
                    await asyncio.wait_for(asyncio.shield(job), settings.calculator_stop_grace_s)
                except BaseException as exc:
                    abort_batch(exc)
                raise
            except BaseException as exc:
                abort_batch(exc)

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
        except (RedisError, OSError, KafkaError) as exc:
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
        its last second): re-apply what this worker processed and Redis no longer has."""
        if processed:
            await fill_gaps(dict(processed))

    if settings.snapshot_dir:
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
            except (RedisError, OSError):
                coalescer.touch(agency, year)
                continue
            await updates_topic.send(key=agency.encode(), value=update.model_dump_json().encode())
            metrics.UPDATES_PUBLISHED.inc()

    return app
