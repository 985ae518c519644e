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
import time
from typing import Any, cast

import faust
from faust.types import StreamT
from kafka.errors import KafkaError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.calculator import business_metrics, metrics
from services.calculator.decoding import dead_letter, decode_record
from services.calculator.lag import LagProbe
from services.calculator.updates import Coalescer, build_update
from shared.catalog_store import CatalogCache
from shared.config import Settings, get_settings
from shared.events import Event
from shared.faust_app import guarded_timer, make_faust_app
from shared.indicators import load_indicators
from shared.last_seen import record_last_seen
from shared.logs import get_logger
from shared.store import IndicatorStore
from shared.targets import load_targets
from shared.timeutil import LOCAL_TZ, now_utc

log = get_logger("calculator")

BATCH_MAX = 1000
BATCH_WITHIN_S = 0.05


def create_app(settings: Settings | None = None) -> faust.App:
    settings = settings or get_settings()
    app = make_faust_app(
        settings,
        settings.calculator_group,
        settings.calculator_host,
        settings.calculator_port,
        topic_partitions=settings.topic_partitions,
        broker_commit_interval=1.0,
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

    async def apply_with_retry(events: list[Event]) -> list[bool]:
        """Redis down must not ack the batch: retry until it is applied."""
        delay = 0.2
        while True:
            try:
                return await store().apply_many(events)
            except (RedisError, OSError) as exc:
                metrics.REDIS_RETRIES.inc()
                log.warning("redis_unavailable", error=type(exc).__name__, retry_in=delay)
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
            fields=[e.field for e in errors],
        )

    @app.agent(events_topic)
    async def apply_events(stream: StreamT[Any]) -> None:
        batches = cast("faust.Stream[Any]", stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
        async for batch in batches:
            started = time.perf_counter()
            now = now_utc()
            agencies = (await catalogs().current()).agencies
            valid: list[Event] = []
            ingested: list[float] = []
            for kafka_event in batch:
                result = decode_record(kafka_event.message.value, agencies=agencies, now=now)
                if isinstance(result, tuple):
                    await send_dead_letter(kafka_event, *result)
                    continue
                valid.append(result)
                headers = dict(kafka_event.message.headers or [])
                stamp = headers.get("ingested_at_ms")
                if stamp:
                    ingested.append(int(stamp) / 1000)
            applied = await apply_with_retry(valid)
            # only feeds the silence alerts; the next batch records it again
            with contextlib.suppress(RedisError, OSError):
                await record_last_seen(
                    redis(),
                    {e.agency_code for e in valid},
                    {e.source for e in valid if e.source},
                    now,
                )
            done = time.time()
            for event, was_applied in zip(valid, applied, strict=True):
                if was_applied:
                    metrics.EVENTS_APPLIED.labels(event.family).inc()
                    coalescer.touch(event.agency_code, event.occurred_at.astimezone(LOCAL_TZ).year)
                else:
                    metrics.DUPLICATES.labels(event.family).inc()
            for stamp_s in ingested:
                metrics.FRESHNESS.observe(max(0.0, done - stamp_s))
            metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
            metrics.LAST_APPLIED.set(done)

    lag_probe = LagProbe(
        settings.kafka_bootstrap,
        settings.calculator_group,
        [settings.topics.dossier, settings.topics.document],
    )

    @guarded_timer(app, settings.metrics_interval_s)
    async def export_metrics() -> None:
        """Business metrics and consumer lag for Prometheus (read from Redis and Kafka)."""
        try:
            await business_metrics.export(
                store(), await catalogs().current(), targets, list(indicators.values())
            )
            for (topic, partition), lag in (await asyncio.to_thread(lag_probe.measure)).items():
                metrics.CONSUMER_LAG.labels(topic, str(partition)).set(lag)
        except (RedisError, OSError, KafkaError) as exc:
            log.warning("metrics_export_failed", error=type(exc).__name__)

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
