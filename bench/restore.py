"""Benchmark: how long it takes to get a lost Redis back for a full simulated year
(``make bench-restore``; figures printed, see bench/README.md).

1. The simulated year 2024 (with lifecycles) is produced to Kafka.
2. ``rebuild``: every figure derived from offset 0 into a fresh keyspace (the restore
   without a snapshot).
3. A snapshot is taken; one more simulated working day (a tail) is produced.
4. Redis is lost (killed, its data deleted) and ``restore`` = snapshot + catalogs + tail.
The restored figures are compared with the ones before the loss.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import orjson
from redis.asyncio import Redis

from bench.pipeline import produce_year
from devstack.kafka import KafkaBroker
from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.topics import create_topics
from services.ops.rebuild import rebuild
from services.ops.snapshots import restore
from shared.platform.config import Settings
from shared.store.snapshots import take_snapshot
from simulator.replay import event_producer, key_for, produce_each
from tests.factories import received
from tests.integration.test_counting_redis import snapshot as counters

TAIL = int(os.environ.get("BENCH_TAIL_EVENTS", "20000"))


def produce_tail(bootstrap: str, settings: Settings) -> int:
    events = (
        received(
            agency="so-y-te" if i % 2 else "ubnd-an-phu",
            dossier=f"tail-{i}",
            at="2025-01-02T09:00:00+07:00",
            event_id=f"tail-{i}",
        )
        for i in range(TAIL)
    )
    return produce_each(
        event_producer(bootstrap, **{"linger.ms": 50}),
        ((settings.topics.dossier, key_for(e), orjson.dumps(e)) for e in events),
    )


async def figures(url: str) -> dict[str, dict[str, int]]:
    redis = Redis.from_url(url)
    try:
        return await counters(redis)
    finally:
        await redis.aclose()


async def used_memory(url: str) -> int:
    redis = Redis.from_url(url)
    try:
        return int((await redis.info("memory"))["used_memory"])
    finally:
        await redis.aclose()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="egov-bench-restore-"))
    kafka = KafkaBroker(work / "kafka", free_port(), free_port(), heap="1g")
    redis_dir = work / "redis"
    redis = RedisServer(redis_dir, free_port())
    kafka.start()
    redis.start()
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap,
        redis_url=redis.url,
        calculator_group="bench-restore",
        snapshot_dir=str(work / "snapshots"),
    )
    try:
        create_topics(kafka.bootstrap, settings)
        n, produce_s, dossiers = produce_year(kafka.bootstrap, settings)
        print(f"year produced: {n:,} events ({dossiers:,} dossiers) in {produce_s:.0f} s")
        built = asyncio.run(rebuild(settings, show_progress=False))
        print(
            f"rebuild from offset 0 (restore without a snapshot): {built.records:,} records in "
            f"{built.seconds:.1f} s ({built.records / built.seconds:,.0f} records/s)"
        )
        used = asyncio.run(used_memory(redis.url))
        print(
            f"Redis after the year: {used / 1e6:.1f} MB used, "
            f"{used / dossiers * 1e5 / 1e6:.1f} MB per 100,000 dossiers (with lifecycles)"
        )
        started = time.perf_counter()
        snap = take_snapshot(redis.url, Path(settings.snapshot_dir or ""))
        print(
            f"snapshot: {snap.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s"
        )
        produce_tail(kafka.bootstrap, settings)
        asyncio.run(rebuild(settings, show_progress=False, flush=False))  # apply the tail
        before = asyncio.run(figures(redis.url))
        redis.kill()
        shutil.rmtree(redis_dir)
        redis.start()
        report = asyncio.run(restore(settings))
        after = asyncio.run(figures(redis.url))
        print(
            f"restore = snapshot ({report.keys:,} keys, {report.load_seconds:.1f} s) + tail "
            f"({report.tail_records:,} records, {report.tail_seconds:.1f} s): "
            f"{report.seconds:.1f} s in all; figures identical: {after == before}"
        )
    finally:
        redis.stop()
        kafka.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
