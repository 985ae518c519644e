"""Benchmark: Redis memory per 100,000 dossiers with lifecycles, cheaply (no Kafka).

The first ``BENCH_DOSSIERS`` (100,000) dossiers of the simulated year (v1.1, every dossier
with its lifecycle; in arrival order) with all their events, and every other event that
arrives before the last of them, are applied straight through ``IndicatorStore.apply_many``
(batches of 2,000) into a throwaway redis-server (devstack's settings). Prints
``used_memory`` per 100,000 dossiers, the redis-server CPU per event, and a breakdown by
key kind (``MEMORY USAGE`` of every key, or of ``BENCH_SAMPLE`` keys per kind when there
are more). ``python -m bench.redis_memory``: ~1 min; ``BENCH_DOSSIERS=0``: the whole year
(the same events as ``bench.restore``), ~3.5 min.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from shared.contract.events import EVENT_MODELS, Event
from shared.store.indicator_store import IndicatorStore
from simulator.appendix2024 import YearStream

DOSSIERS = int(os.environ.get("BENCH_DOSSIERS", "100000"))
SAMPLE = int(os.environ.get("BENCH_SAMPLE", "20000"))
BATCH = 2_000


class Selection:
    """Every event that arrives before the ``limit``-th dossier's first receipt (0: the
    whole year), then only the events of the dossiers received by then, in arrival order
    (streamed: the year never sits in memory)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dossiers: set[str] = set()

    def events(self) -> Iterator[dict[str, Any]]:
        full = False
        for event in YearStream(lifecycle_fraction=1.0).events():
            dossier = event.get("dossier_id")
            if full:
                if dossier in self.dossiers:
                    yield event
                continue
            if dossier is not None and event["event_type"] == "received":
                self.dossiers.add(dossier)
                full = self.limit > 0 and len(self.dossiers) >= self.limit
            yield event


def kind_of(key: bytes) -> str:
    name = key.decode()
    if name.startswith("ks") and ":" in name:
        name = name.split(":", 1)[1]
    return name.split(":", 1)[0]  # the key family (ent, cnt, cset, o766, …)


async def breakdown(redis: Redis) -> dict[str, tuple[int, int]]:
    """Per key kind: (keys, bytes by MEMORY USAGE, extrapolated from a sample)."""
    keys: dict[str, list[bytes]] = defaultdict(list)
    async for key in redis.scan_iter(count=5_000):
        keys[kind_of(key)].append(key)
    rng = random.Random(1)
    out: dict[str, tuple[int, int]] = {}
    for kind, names in keys.items():
        sample = names if len(names) <= SAMPLE else rng.sample(names, SAMPLE)
        pipe = redis.pipeline(transaction=False)
        for name in sample:
            pipe.memory_usage(name, samples=0)
        sizes = await pipe.execute()
        total = sum(int(s or 0) for s in sizes)
        out[kind] = (len(names), round(total * len(names) / len(sample)))
    return out


async def redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def run(url: str) -> None:
    redis = Redis.from_url(url)
    try:
        base = int((await redis.info("memory"))["used_memory"])
        cpu0 = await redis_cpu(redis)
        store = IndicatorStore(redis, keyspace="")
        selection = Selection(DOSSIERS)
        started = time.perf_counter()
        applying = 0.0
        n = 0
        stream = selection.events()
        while chunk := list(islice(stream, BATCH)):
            events: list[Event] = [
                EVENT_MODELS[e["event_type"]].model_validate(e)  # type: ignore[misc]
                for e in chunk
            ]
            tick = time.perf_counter()
            await store.apply_many(events)
            applying += time.perf_counter() - tick
            n += len(events)
        cpu = await redis_cpu(redis) - cpu0
        dossiers = len(selection.dossiers)
        print(
            f"{n:,} events of {dossiers:,} dossiers generated, decoded and applied in "
            f"{time.perf_counter() - started:.0f} s (apply_many: {applying:.0f} s, "
            f"{n / applying:,.0f} events/s; redis-server CPU {cpu:.1f} s, "
            f"{cpu / n * 1e6:.1f} µs per event)"
        )
        used = int((await redis.info("memory"))["used_memory"]) - base
        per = 1e5 / dossiers / 1e6
        print(
            f"used_memory: {used / 1e6:.1f} MB above the empty server, "
            f"{used * per:.1f} MB per 100,000 dossiers"
        )
        parts = await breakdown(redis)
        total = sum(size for _, size in parts.values())
        for kind, (keys, size) in sorted(parts.items(), key=lambda kv: -kv[1][1]):
            print(
                f"  {kind:6} {keys:>9,} keys {size * per:6.1f} MB per 100,000 dossiers "
                f"({size / max(keys, 1):,.0f} B/key, {size / max(total, 1):.0%})"
            )
    finally:
        await redis.aclose()


def on_throwaway_redis(bench: Callable[[str], Coroutine[Any, Any, None]], name: str) -> None:
    """Run ``bench(url)`` on a fresh redis-server (devstack's settings), then remove it."""
    work = Path(tempfile.mkdtemp(prefix=f"egov-bench-{name}-"))
    server = RedisServer(work / "redis", free_port())
    server.start()
    try:
        asyncio.run(bench(server.url))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    on_throwaway_redis(run, "redis-memory")


if __name__ == "__main__":
    main()
