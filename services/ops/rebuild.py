"""Re-derive every indicator figure from the event topics, from offset 0.

Derives into a fresh keyspace (``shared/store/keys.py``) while readers keep the current
one: reads the dossier and document topics up to their end offsets at start and applies
each record with the same decoding and the same idempotent script as the calculator, then
switches readers over in one step and deletes the old keyspace. Stop the calculator
first; when it restarts, it continues from the rebuilt keyspace's applied offsets.

It refuses, touching nothing, when history is missing (a partition's beginning offset is
not 0: retention or a deletion removed records, and a rebuild would silently derive only
what is left), when a topic of the log could lose records unseen (compacted, shorter
retention, too few replicas: ``shared.platform.topic_check``) or when a calculator is live in the
consumer group (it would race it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import CoordinatorNotAvailableError, NodeNotReadyError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.ops.exceptions import RebuildRefused
from shared.platform.config import OpsSettings
from shared.platform.exceptions import TopicCheckError
from shared.platform.topic_check import require_event_log
from shared.store import keys as redis_keys
from shared.store.catalog_log import CatalogTimeline, read_history
from shared.store.catalogs import CatalogCache
from shared.store.client import RedisClient, redis_from_url
from shared.store.indicator_store import IndicatorStore
from shared.store.layout import layout_problem
from shared.store.replay import CatalogAt, open_consumer, replay_ranges


def live_calculators(settings: OpsSettings, wait_s: float = 20.0) -> int:
    """Members of the calculator's consumer group now (0: none is consuming). The group
    coordinator can be briefly unavailable (a fresh broker creates its offsets topic on
    the first lookup): retried for ``wait_s``, then the rebuild is refused."""
    deadline = time.monotonic() + wait_s
    while True:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, client_id="egov-rebuild"
        )
        try:
            groups = admin.describe_groups([settings.calculator_group])
            break
        except (CoordinatorNotAvailableError, NodeNotReadyError) as exc:
            if time.monotonic() >= deadline:
                raise RebuildRefused(
                    f"cannot tell whether a calculator is live ({type(exc).__name__})"
                ) from None
            time.sleep(1.0)
        finally:
            admin.close()
    return sum(
        len(g.get("members") or [])
        for g in groups.values()
        if g.get("group_state") not in ("Dead", "Empty")
    )


@dataclass
class RebuildReport:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    invalid: int = 0
    deleted_keys: int = 0
    seconds: float = 0.0


async def delete_keyspace(redis: RedisClient, ks: str) -> int:
    """Delete every derived key of keyspace ``ks`` (never catalogs, versions or alerts)."""
    deleted = 0
    for kind in redis_keys.DERIVED_KINDS:
        batch: list[bytes] = []
        async for key in redis.scan_iter(f"{ks}{kind}*", count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                deleted += await redis.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await redis.unlink(*batch)
    return deleted


async def delete_derived_state(redis: RedisClient) -> int:
    """Delete the derived state of the current keyspace (tests, emergencies)."""
    return await delete_keyspace(redis, await IndicatorStore(redis).keyspace())


async def abandoned_keyspaces(redis: RedisClient, current: str) -> set[str]:
    """Keyspaces a rebuild started and never switched to (it crashed or was stopped)."""
    found: set[str] = set()
    async for key in redis.scan_iter("ks*", count=5000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        prefix = name[: name.find(":") + 1]
        if prefix[2:-1].isdigit():
            found.add(prefix)
    return found - {current}


def event_partitions(consumer: KafkaConsumer, settings: OpsSettings) -> list[TopicPartition]:
    """Every partition of the dossier and document topics."""
    return [
        TopicPartition(t, p)
        for t in (settings.topics.dossier, settings.topics.document)
        for p in sorted(consumer.partitions_for_topic(t) or [])
    ]


async def rebuild(
    settings: OpsSettings, *, batch_size: int = 2000, show_progress: bool = True, flush: bool = True
) -> RebuildReport:
    """Re-derive every figure from offset 0 into a fresh keyspace and switch readers to it
    in one step (``flush=False``: apply on top of the current keyspace instead)."""
    report = RebuildReport()
    started = time.perf_counter()
    live = await asyncio.to_thread(live_calculators, settings)
    if live:
        raise RebuildRefused(
            f"{live} calculator(s) live in consumer group {settings.calculator_group!r}: "
            "stop the calculator before a rebuild"
        )
    try:
        await asyncio.to_thread(require_event_log, settings)
    except TopicCheckError as exc:
        raise RebuildRefused(
            f"the event log cannot be trusted as the whole history: {exc}"
        ) from None
    consumer = open_consumer(settings.kafka_bootstrap, batch_size)
    try:
        parts = event_partitions(consumer, settings)
        begin = consumer.beginning_offsets(parts)
        end = consumer.end_offsets(parts)
        lost = [
            f"{tp.topic}[{tp.partition}] starts at offset {begin[tp]}" for tp in parts if begin[tp]
        ]
        if lost:
            raise RebuildRefused(
                "history is missing, a rebuild would derive only what is left: " + "; ".join(lost)
            )
        redis = redis_from_url(settings.redis_url, settings=settings)
        try:
            current = await IndicatorStore(redis).keyspace()
            if not flush:
                problem = await layout_problem(redis)
                if problem is not None:
                    raise RebuildRefused(f"{problem}: rebuild without --keep-state")
            for ks in await abandoned_keyspaces(redis, current):
                report.deleted_keys += await delete_keyspace(redis, ks)
            target = f"ks{await redis.incr(redis_keys.KEYSPACE_SEQ)}:" if flush else current
            store = IndicatorStore(redis, keyspace=target)
            catalog_at = await catalogs_in_force(settings, redis)
            with Progress(
                TextColumn("rebuild"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                disable=not show_progress,
            ) as progress:
                task = progress.add_task("records", total=sum(end[tp] for tp in parts))
                counts = await replay_ranges(
                    consumer,
                    store,
                    {tp: (0, end[tp]) for tp in parts},
                    catalog_at,
                    on_progress=lambda n: progress.update(task, completed=n),
                    batch_size=batch_size,
                )
            if flush:
                await switch_keyspace(redis, store, target)
                report.deleted_keys += await delete_keyspace(redis, current)
        finally:
            await redis.aclose()
    finally:
        consumer.close()
    report.records, report.applied = counts.records, counts.applied
    report.duplicates, report.invalid = counts.duplicates, counts.invalid
    report.seconds = time.perf_counter() - started
    return report


async def catalogs_in_force(settings: OpsSettings, redis: RedisClient) -> CatalogAt:
    """The agency catalog in force at each record's time, from the catalog topic; when the
    topic holds no agency catalog yet (loaded before catalogs were logged), Redis' one."""
    timeline = CatalogTimeline(
        await asyncio.to_thread(read_history, settings.kafka_bootstrap, settings.topics.catalog)
    )
    if timeline.latest_agencies is None:
        current = (await CatalogCache(redis).current()).agencies
        return lambda _: current
    return timeline.agencies_at


async def switch_keyspace(redis: RedisClient, store: IndicatorStore, target: str) -> None:
    """Readers move to ``target`` in one SET; every cached figure is invalidated."""
    await redis.set(redis_keys.KEYSPACE_CURRENT, target)
    await store.bump_data_versions([], every_written=True)
