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
consumer group (it would race it), and while a year is archived (``egov years archive``):
replaying from offset 0 would bring back the archived states and count the late events the
calculator dead-lettered, changing the frozen figures of that year; restore its archives
first (``egov years restore FILE``), rebuild, then archive again.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import CoordinatorNotAvailableError, NodeNotReadyError
from redis.asyncio.cluster import RedisCluster
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.ops.exceptions import RebuildRefused
from shared.platform.config import OpsSettings
from shared.platform.exceptions import TopicCheckError
from shared.platform.topic_check import require_event_log
from shared.store import keys as redis_keys
from shared.store.archived_years import read_archived_years
from shared.store.catalog_log import CatalogTimeline, read_history
from shared.store.catalogs import CatalogCache
from shared.store.client import LuaScript, RedisClient, redis_from_url
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
    # the previous keyspace, kept when a replica did not acknowledge the switch in time
    # (the next rebuild deletes it as abandoned)
    kept_keyspace: str | None = None


# the lease of the rebuild lock, renewed every third of it while the rebuild runs
LOCK_LEASE_S = 30
# how long the switch to the new keyspace may take to reach the replicas
WAIT_REPLICAS_MS = 5000
# releases the lock only if this rebuild still holds it
_RELEASE = LuaScript(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)
_RENEW = LuaScript(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)


@asynccontextmanager
async def rebuild_lock(redis: RedisClient) -> AsyncIterator[str]:
    """Hold ``rebuild:lock`` for the rebuild (a lease renewed while it runs, released at
    the end; a crashed rebuild's lapses within ``LOCK_LEASE_S``)."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lock = redis_keys.REBUILD_LOCK
    if not await redis.set(lock, token, nx=True, ex=LOCK_LEASE_S):
        holder = await redis.get(lock)
        ttl = await redis.ttl(lock)
        name = holder.decode() if isinstance(holder, bytes) else holder
        raise RebuildRefused(
            f"another egov rebuild is running ({lock} held by {name}, lease {ttl} s): "
            "wait for it to finish"
        )

    async def renew() -> None:
        while True:
            await asyncio.sleep(LOCK_LEASE_S / 3)
            await _RENEW.run(redis, [lock], [token, str(LOCK_LEASE_S * 1000)])

    renewing = asyncio.create_task(renew())
    try:
        yield token
    finally:
        renewing.cancel()
        await _RELEASE.run(redis, [lock], [token])


async def replicas_acknowledged(redis: RedisClient) -> bool:
    """WAIT until every replica of the node holding ``keyspace:current`` has the writes
    before (the switch), for at most ``WAIT_REPLICAS_MS``; True when all did (or there
    are none)."""
    if isinstance(redis, RedisCluster):
        node = redis.get_node_from_key(redis_keys.KEYSPACE_CURRENT)
        info = await redis.info("replication", target_nodes=node)
        want = int(info.get("connected_slaves", 0))
        if not want:
            return True
        got = await redis.execute_command("WAIT", want, WAIT_REPLICAS_MS, target_nodes=node)
    else:
        want = int((await redis.info("replication")).get("connected_slaves", 0))
        if not want:
            return True
        got = await redis.execute_command("WAIT", want, WAIT_REPLICAS_MS)  # type: ignore[no-untyped-call]
    return int(got) >= want


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
    try:
        await asyncio.to_thread(require_event_log, settings)
    except TopicCheckError as exc:
        raise RebuildRefused(
            f"the event log cannot be trusted as the whole history: {exc}"
        ) from None
    await refuse_archived_years(settings)  # after the log's checks: they need no Redis
    live = await asyncio.to_thread(live_calculators, settings)
    if live:
        raise RebuildRefused(
            f"{live} calculator(s) live in consumer group {settings.calculator_group!r}: "
            "stop the calculator before a rebuild"
        )
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
            async with rebuild_lock(redis):
                await _derive(
                    settings,
                    redis,
                    consumer,
                    parts,
                    end,
                    report,
                    flush=flush,
                    batch_size=batch_size,
                    show_progress=show_progress,
                )
        finally:
            await redis.aclose()
    finally:
        consumer.close()
    report.seconds = time.perf_counter() - started
    return report


async def refuse_archived_years(settings: OpsSettings) -> None:
    """Refuse while years are archived (the module's docstring), naming their files."""
    redis = redis_from_url(settings.redis_url, settings=settings)
    try:
        archived = await read_archived_years(redis)
    finally:
        await redis.aclose()
    if archived:
        files = ", ".join(f"{year}: {rec.file}" for year, rec in sorted(archived.items()))
        raise RebuildRefused(
            f"years archived ({files}): a rebuild from offset 0 would count their late "
            "events again; `egov years restore FILE` each first, rebuild, then archive again"
        )


async def _derive(
    settings: OpsSettings,
    redis: RedisClient,
    consumer: KafkaConsumer,
    parts: list[TopicPartition],
    end: dict[TopicPartition, int],
    report: RebuildReport,
    *,
    flush: bool,
    batch_size: int,
    show_progress: bool,
) -> None:
    """The rebuild proper, under the lock: derive, switch, then delete the old keyspace
    once the replicas have the switch."""
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
        # a failover before the replicas have the switch would bring back a
        # keyspace:current naming what is deleted here: WAIT, else keep it
        if await replicas_acknowledged(redis):
            report.deleted_keys += await delete_keyspace(redis, current)
        else:
            report.kept_keyspace = current
    report.records, report.applied = counts.records, counts.applied
    report.duplicates, report.invalid = counts.duplicates, counts.invalid


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
