"""CPU per event of the apply path, in one process: the first ``BENCH_EVENTS`` (default
200,000) events of the simulated year, decoded as the calculator decodes them, then
applied with ``IndicatorStore.apply_many`` (plan, read the states, the rules, the
check-then-write script) in batches of ``BENCH_BATCH`` (4,000) into a throwaway
redis-server with AOF. Prints the calculator's CPU per event (decode and apply apart),
Redis' CPU per event (``INFO cpu``) and the commands Redis spent it in
(``INFO commandstats``). ``BENCH_PROFILE=1`` adds a cProfile of the apply.

    python -m bench.apply_path
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import itertools
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

import orjson

from devstack.ports import free_port
from devstack.redis import RedisServer
from shared.contract.fastevents import AnyEvent, FastValidator, decode_one
from shared.domain.catalog import load_agencies
from shared.domain.lifecycle import COMPILED
from shared.store.client import redis_from_url
from shared.store.indicator_store import KNOWN_STATES, IndicatorStore
from simulator.appendix2024 import YearStream

EVENTS = int(os.environ.get("BENCH_EVENTS", "200000"))
BATCH = int(os.environ.get("BENCH_BATCH", "4000"))
PROFILE = os.environ.get("BENCH_PROFILE") == "1"
# entity states the store keeps of what it wrote (0: every state read first)
STATES = int(os.environ.get("BENCH_KNOWN_STATES", str(KNOWN_STATES)))


def _cpu(info: dict[str, object]) -> float:
    return float(str(info["used_cpu_user"])) + float(str(info["used_cpu_sys"]))


async def run(url: str) -> None:
    redis = redis_from_url(url)
    store = IndicatorStore(redis, keyspace="", known_states=STATES)
    fast = FastValidator(load_agencies(), None)
    raw = [
        orjson.dumps(e)
        for e in itertools.islice(YearStream(lifecycle_fraction=1.0).events(), EVENTS)
    ]
    gc.set_threshold(20_000, 20, 20)  # as the calculator runs (services/calculator)
    if os.environ.get("BENCH_GC") == "0":
        gc.disable()
    gc.freeze()
    started = time.process_time()
    # as the calculator decodes: msgspec's struct, checked, no pydantic event built
    decoded = [decode_one(r) for r in raw]
    events: list[AnyEvent] = [e for e in decoded if e is not None and fast.ok(e)]
    decode_s = time.process_time() - started
    assert len(events) == len(raw), "the fast path refused events of the simulated year"
    batches = [events[i : i + BATCH] for i in range(0, len(events), BATCH)]
    profile = cProfile.Profile() if PROFILE else None
    await redis.config_resetstat()
    cpu_before = await redis.info("cpu")
    redis_before = _cpu(cpu_before)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for batch in batches:
        if profile:
            profile.enable()
        await store.apply_many(batch, plan=await store.plan(batch))
        if profile:
            profile.disable()
    cpu1, wall1 = time.process_time(), time.perf_counter()
    cpu_after = await redis.info("cpu")
    redis_s = _cpu(cpu_after) - redis_before
    sys_s = float(str(cpu_after["used_cpu_sys"])) - float(str(cpu_before["used_cpu_sys"]))
    persistence = await redis.info("persistence")
    memory = await redis.info("memory")
    n = len(events)
    kept = store._overlay  # what the calculator keeps between batches
    kept_mb = (
        sys.getsizeof(kept) + sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in kept.items())
    ) / 1e6
    print(
        f"{n:,} events in batches of {BATCH:,}; rules compiled: {COMPILED}\n"
        f"  decode            {1e6 * decode_s / n:6.1f} µs/event (calculator CPU)\n"
        f"  apply, calculator {1e6 * (cpu1 - cpu0) / n:6.1f} µs/event\n"
        f"  apply, Redis      {1e6 * redis_s / n:6.1f} µs/event (AOF on; system "
        f"{1e6 * sys_s / n:.1f}; {persistence['aof_rewrites']} AOF rewrites; "
        f"{memory['used_memory_human']} used)\n"
        f"  wall              {1e6 * (wall1 - wall0) / n:6.1f} µs/event\n"
        f"  entity states: {store.known:,} known, {store.new:,} guessed new, "
        f"{store.unknown:,} read (keeping {STATES:,}); "
        f"conflicts {store.conflicts}\n"
        f"  states kept at the end: {len(kept):,}, {kept_mb:.1f} MB "
        f"(keys, values and the dictionary; {kept_mb * 1e6 / max(len(kept), 1):.0f} bytes each)"
    )
    stats = await redis.info("commandstats")
    top = sorted(stats.items(), key=lambda kv: -float(kv[1]["usec"]))[:8]
    for name, row in top:
        print(
            f"    {name.removeprefix('cmdstat_'):10} {int(row['calls']):>9,} calls "
            f"{float(row['usec']) / n:6.2f} µs/event"
        )
    if profile:
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    await redis.aclose()


def main() -> None:
    server = RedisServer(Path(tempfile.mkdtemp(prefix="egov-apply-")) / "redis", free_port())
    server.start()
    try:
        asyncio.run(run(server.url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
