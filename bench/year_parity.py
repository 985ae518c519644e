"""The apply path of this release against the previous release's (the §4a rules inside the
v1.1 Lua script, ``tests/integration/lua/apply_batch_v1_1.lua``) on the simulated year:
the same batches (``BENCH_BATCH`` events, default 4,000; ``BENCH_EVENTS`` caps the events
taken, default all) applied by each into its own database of one throwaway redis-server
(AOF on, as the stack runs it), alternately; Redis CPU per event of each (``INFO cpu``
around every call), then every key of the two databases compared: states, counters,
counted sets, sets, open dossiers and applied counts must be byte-identical (v1.2 only adds
its own marks and keys, and extends the entity states).

    python -m bench.year_parity
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from shared.contract.events import EVENT_MODELS, Event
from shared.store.indicator_store import IndicatorStore
from simulator.appendix2024 import YearStream
from tests.integration.test_lifecycle_parity import assert_superset, dump
from tests.integration.v1_1_script import apply_v1_1

EVENTS = int(os.environ.get("BENCH_EVENTS", "0")) or None
BATCH = int(os.environ.get("BENCH_BATCH", "4000"))


async def redis_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def run(url: str) -> None:
    old = Redis.from_url(url.replace("/0", "/1"))
    new = Redis.from_url(url)
    store = IndicatorStore(new, keyspace="")
    stream = YearStream(lifecycle_fraction=1.0).events()
    if EVENTS:
        stream = itertools.islice(stream, EVENTS)
    cpu_old = cpu_new = 0.0
    wall_old = wall_new = 0.0
    n = 0
    while chunk := list(itertools.islice(stream, BATCH)):
        events: list[Event] = [
            EVENT_MODELS[e["event_type"]].model_validate(e)  # type: ignore[misc]
            for e in chunk
        ]
        c0, t0 = await redis_cpu(new), time.perf_counter()
        want = await apply_v1_1(old, events)
        c1, t1 = await redis_cpu(new), time.perf_counter()
        got = await store.apply_many(events)
        c2, t2 = await redis_cpu(new), time.perf_counter()
        assert got == want, "applied flags differ"
        cpu_old, cpu_new = cpu_old + c1 - c0, cpu_new + c2 - c1
        wall_old, wall_new = wall_old + t1 - t0, wall_new + t2 - t1
        n += len(events)
    print(f"{n:,} events in batches of {BATCH:,}, Redis with AOF")
    print(
        f"  previous release (rules in Lua): Redis CPU {1e6 * cpu_old / n:.1f} µs/event, "
        f"apply wall time {1e6 * wall_old / n:.1f} µs/event"
    )
    print(
        f"  this release (check-then-write): Redis CPU {1e6 * cpu_new / n:.1f} µs/event, "
        f"apply wall time {1e6 * wall_new / n:.1f} µs/event (calculator's rules included), "
        f"{store.conflicts} conflicts"
    )
    a, b = await dump(old), await dump(new)
    assert_superset(b, a)
    print(
        f"  every key of the previous release identical ({len(a):,} keys; entity states: "
        f"the same entities), {len(b) - len(a):,} keys of contract v1.2's inputs added"
    )
    await old.aclose()
    await new.aclose()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="egov-parity-"))
    server = RedisServer(work / "redis", free_port())
    server.start()
    try:
        asyncio.run(run(server.url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
