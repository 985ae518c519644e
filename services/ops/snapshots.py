"""Snapshots of the derived state for a fast restore (``egov snapshot``, ``egov restore``).

A snapshot is Redis' own point-in-time RDB, streamed over the replication protocol by
``redis-cli --rdb`` (so Redis may be on another host): every key at one instant, including
each keyspace's applied offsets, which the apply script writes atomically with the figures
(``shared/store/keys.py``). A restore loads the latest snapshot into an empty Redis, puts
back the catalogs from the catalog topic, and replays the event log's tail from the
snapshot's offsets with the same idempotent script: the result equals a full rebuild, in
the time of the tail only.

One server only: on a Redis Cluster (``redis+cluster://``) both refuse, with a message
naming the scheme. A cluster's figures survive a node through its replicas (each primary
has one) and AOF on every node; what a failover loses, the calculators re-apply from the
event log (per-agency applied offsets, ``shared/store/keys.py``), and ``egov rebuild``
re-derives everything from offset 0.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from redis.asyncio import Redis

from services.ops.exceptions import RebuildRefused, RestoreRefused
from services.ops.rebuild import catalogs_in_force, event_partitions, live_calculators
from shared.platform.config import OpsSettings
from shared.platform.exceptions import TopicCheckError
from shared.platform.topic_check import require_event_log
from shared.store import keys as redis_keys
from shared.store.archived_years import read_archived_years
from shared.store.catalog_log import CatalogTimeline, read_history
from shared.store.catalogs import CatalogStore
from shared.store.client import LuaScript
from shared.store.indicator_store import IndicatorStore
from shared.store.keys import REDIS_LISTPACK_CONFIG
from shared.store.layout import layout_problem
from shared.store.replay import open_consumer, replay_ranges
from shared.store.snapshots import list_snapshots, refuse_cluster


@dataclass
class RestoreReport:
    snapshot: str = ""
    keys: int = 0
    tail_records: int = 0
    tail_applied: int = 0
    catalogs_restored: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0
    tail_seconds: float = 0.0


FENCE = redis_keys.RESTORE_FENCE.encode()
# the fence's lease, renewed every third of it while the restore runs
FENCE_LEASE_S = 60
_RENEW_FENCE = LuaScript(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE_FENCE = LuaScript(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


@asynccontextmanager
async def restore_fence(redis: Redis) -> AsyncIterator[str]:
    """Hold ``restore:fence`` while the restore replaces the database: calculators wait at
    their start and refuse batches meanwhile (``shared/store/layout.py``,
    ``IndicatorStore.apply_many``); a second restore is refused. A lease renewed while it
    runs, released at the end (a crashed restore's lapses)."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    fence = redis_keys.RESTORE_FENCE
    if not await redis.set(fence, token, nx=True, ex=FENCE_LEASE_S):
        raise RestoreRefused(f"another egov restore is running ({fence} is held)")

    async def renew() -> None:
        while True:
            await asyncio.sleep(FENCE_LEASE_S / 3)
            # set again if a FLUSHDB took it, extend it otherwise
            await redis.set(fence, token, ex=FENCE_LEASE_S, nx=True)
            await _RENEW_FENCE.run(redis, [fence], [token, str(FENCE_LEASE_S * 1000)])

    renewing = asyncio.create_task(renew())
    try:
        yield token
    finally:
        renewing.cancel()
        await _RELEASE_FENCE.run(redis, [fence], [token])


async def alert_state(redis: Redis) -> list[tuple[bytes, int, bytes]]:
    """Every key of the alerts (``…{alerts}…``: states, history, outbox) as DUMP with its
    TTL: a restore puts today's back, so notifications already sent do not go out again."""
    out: list[tuple[bytes, int, bytes]] = []
    async for key in redis.scan_iter(match="*{alerts}*", count=1000):
        dumped = await redis.dump(key)
        if dumped is not None:
            out.append((key, max(int(await redis.pttl(key)), 0), dumped))
    return out


async def _copy_keys(source: Redis, target: Redis, chunk: int = 1000) -> int:
    copied = 0
    keys: list[bytes] = []

    async def flush() -> int:
        read = source.pipeline(transaction=False)
        for key in keys:
            read.dump(key)
            read.pttl(key)
        values = await read.execute()
        write = target.pipeline(transaction=False)
        for i, key in enumerate(keys):
            dumped, pttl = values[2 * i], values[2 * i + 1]
            if dumped is not None:
                write.restore(key, max(int(pttl), 0), dumped, replace=True)
        await write.execute()
        n = len(keys)
        keys.clear()
        return n

    async for key in source.scan_iter(count=chunk):
        if key == FENCE:
            continue  # a fence in the snapshot is not this restore's
        keys.append(key)
        if len(keys) >= chunk:
            copied += await flush()
    if keys:
        copied += await flush()
    return copied


async def _load_snapshot(snapshot: Path, target: Redis, db: int) -> int:
    """Start a throwaway redis-server on the snapshot file and copy its keys over."""
    with tempfile.TemporaryDirectory(prefix="egov-restore-") as tmp:
        shutil.copyfile(snapshot, Path(tmp) / "dump.rdb")
        with socket.socket() as probe:  # a free loopback port for the throwaway server
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = subprocess.Popen(
            [
                "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", tmp,
                "--dbfilename", "dump.rdb",
                "--appendonly", "no",
                "--save", "",
                "--daemonize", "no",
                # the entity buckets stay listpacks while they are copied
                *(arg for k, v in REDIS_LISTPACK_CONFIG.items() for arg in (f"--{k}", v)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        source = Redis(host="127.0.0.1", port=port, db=db)
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if await source.ping():
                        break
                except Exception:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"cannot load snapshot {snapshot}") from None
                    await asyncio.sleep(0.1)
            problem = await layout_problem(source)
            if problem is not None:
                raise RestoreRefused(
                    f"snapshot {snapshot}: {problem}; nothing was copied from it: restore a "
                    "snapshot of this layout (--snapshot FILE), or run `egov rebuild`"
                )
            return await _copy_keys(source, target)
        finally:
            await source.aclose()
            server.terminate()
            server.wait(timeout=30)


async def restore(
    settings: OpsSettings,
    snapshot: Path | None = None,
    *,
    force: bool = False,
) -> RestoreReport:
    """Latest snapshot (or ``snapshot``) + the catalogs + a replay of the log's tail."""
    report = RestoreReport()
    started = time.perf_counter()
    refused = refuse_cluster(settings.redis_url, "a restore")
    if refused:
        raise RestoreRefused(refused)
    try:
        live = await asyncio.to_thread(live_calculators, settings)
    except RebuildRefused as exc:
        raise RestoreRefused(str(exc)) from None
    if live:
        raise RestoreRefused(
            f"{live} calculator(s) live in consumer group {settings.calculator_group!r}: "
            "stop the calculator before a restore"
        )
    try:
        await asyncio.to_thread(require_event_log, settings)
    except TopicCheckError as exc:
        raise RestoreRefused(
            f"the event log cannot be trusted as the whole history: {exc}"
        ) from None
    if snapshot is None:
        found = list_snapshots(Path(settings.snapshot_dir)) if settings.snapshot_dir else []
        snapshot = found[-1] if found else None
    redis = Redis.from_url(settings.redis_url)
    try:
        if await redis.dbsize() and not force:
            raise RestoreRefused(
                "the target Redis database is not empty: a restore replaces everything in it "
                "(use --force to overwrite)"
            )
        async with restore_fence(redis) as token:
            await _restore(settings, redis, token, snapshot, report, started)
    finally:
        await redis.aclose()
    report.seconds = time.perf_counter() - started
    return report


async def _restore(
    settings: OpsSettings,
    redis: Redis,
    token: str,
    snapshot: Path | None,
    report: RestoreReport,
    started: float,
) -> None:
    """The restore proper, under the fence."""
    alerts = await alert_state(redis)
    if await redis.dbsize() > 1:
        await redis.flushdb()
        await redis.set(redis_keys.RESTORE_FENCE, token, ex=FENCE_LEASE_S)  # held on
    if snapshot is not None:
        db = int((urlparse(settings.redis_url).path or "/0").lstrip("/") or 0)
        report.snapshot = str(snapshot)
        report.keys = await _load_snapshot(snapshot, redis, db)
    # the alerts as they are today (states, history, outbox), when Redis still had them:
    # what was notified since the snapshot is not notified again
    if alerts:
        async for key in redis.scan_iter(match="*{alerts}*", count=1000):
            await redis.unlink(key)
        pipe = redis.pipeline(transaction=False)
        for key, ttl, dumped in alerts:
            pipe.restore(key, ttl, dumped, replace=True)
        await pipe.execute()
    report.load_seconds = time.perf_counter() - started
    # catalogs: the catalog topic is their system of record
    timeline = CatalogTimeline(
        await asyncio.to_thread(read_history, settings.kafka_bootstrap, settings.topics.catalog)
    )
    catalogs = CatalogStore(redis)
    if timeline.latest_agencies is not None:
        await catalogs.replace_agencies(timeline.latest_agencies.agencies.values(), allow_drop=True)
        report.catalogs_restored += 1
    if timeline.latest_procedures is not None:
        await catalogs.replace_procedures(
            timeline.latest_procedures.procedures.values(), allow_drop=True
        )
        report.catalogs_restored += 1
    # the tail: everything after the snapshot's applied offsets
    tail_started = time.perf_counter()
    store = IndicatorStore(redis, honour_fence=False)  # the restore's own replay
    applied = await store.applied_offsets()
    consumer = await asyncio.to_thread(open_consumer, settings.kafka_bootstrap, 2000)
    try:
        parts = event_partitions(consumer, settings)
        begin = consumer.beginning_offsets(parts)
        end = consumer.end_offsets(parts)
        ranges = {tp: (applied.get((tp.topic, tp.partition), -1) + 1, end[tp]) for tp in parts}
        lost = [
            f"{tp.topic}[{tp.partition}] starts at {begin[tp]}, the snapshot needs {ranges[tp][0]}"
            for tp in parts
            if begin[tp] > ranges[tp][0] and ranges[tp][0] < end[tp]
        ]
        if lost:
            raise RestoreRefused("the log's tail is missing: " + "; ".join(lost))
        # the archived years the snapshot lists (`egov years archive`): their late events
        # were dead-lettered live, so the tail does not count them either
        counts = await replay_ranges(
            consumer,
            store,
            ranges,
            await catalogs_in_force(settings, redis),
            skip_years=set(await read_archived_years(redis)),
        )
    finally:
        await asyncio.to_thread(consumer.close)
    report.tail_records, report.tail_applied = counts.records, counts.applied
    report.tail_seconds = time.perf_counter() - tail_started
    await store.bump_data_versions([], every_written=True)
