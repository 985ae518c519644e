"""Benchmark: years of operation through the calculator's apply path (issue 20, item 12).

``BENCH_YEARS`` (7) simulated years, each the simulated year's first ``BENCH_YEAR_EVENTS``
events (0: the whole year, ~2.7 M) moved to its year — the years up to 2024, 2018–2024
for seven (dates + k years, k ≤ 0, ids prefixed with
the year: new dossiers; a 29 February that does not exist is left out), applied through
``IndicatorStore.apply_many`` (batches of 2,000) into one throwaway redis-server with
devstack's settings. After each year Y it archives year Y − ``BENCH_YEARS_KEPT`` (2: the
policy of docs/operating.md, "Years" — a year's entity states stay until its figures are
published and a full year has passed) with the production command's code
(``services.ops.years.archive_year``: its closed dossiers' and petitions' states to a
file, then out of Redis); ``BENCH_YEARS_KEPT=0`` keeps every state (no archive). After
each year it prints the throughput, Redis' ``used_memory`` and how many dossier bucket
hashes are no longer listpacks (``OBJECT ENCODING``: a bucket past
``hash-max-listpack-entries``, 512, turns into a hashtable), with the largest bucket's
length, and the archive's states, file size, time and memory freed; at the end what Redis
holds by key kind and one ``BGSAVE`` (the snapshot's fork) with the server's RSS and the
fork's copy-on-write.

``make bench-years``; shortened: ``BENCH_YEARS=4 BENCH_YEAR_EVENTS=20000``.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.redis_memory import breakdown, on_throwaway_redis
from services.ops.years import archive_year
from shared.contract.events import EVENT_MODELS, Event
from shared.store import keys as redis_keys
from shared.store.indicator_store import IndicatorStore
from simulator.appendix2024 import YearStream

YEARS = int(os.environ.get("BENCH_YEARS", "7"))
YEAR_EVENTS = int(os.environ.get("BENCH_YEAR_EVENTS", "0"))
KEPT = int(os.environ.get("BENCH_YEARS_KEPT", "2"))
BATCH = 2_000
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


def _shift(value: Any, years: int, prefix: str, key: str = "") -> Any:
    """``value`` moved ``years`` on (dates) with its ids prefixed; ValueError: a date that
    does not exist in that year."""
    if isinstance(value, dict):
        return {k: _shift(v, years, prefix, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, years, prefix, key) for v in value]
    if not isinstance(value, str):
        return value
    if key.endswith("_id") or key.endswith("_ids"):
        return prefix + value
    m = _DATE.match(value)
    if m:
        year, month, day = int(m[1]) + years, int(m[2]), int(m[3])
        date(year, month, day)  # raises for 29 February of a common year
        return f"{year:04d}" + value[4:]
    return value


def year_events(k: int) -> Iterator[Event]:
    stream: Iterator[dict[str, Any]] = YearStream(lifecycle_fraction=1.0).events()
    if YEAR_EVENTS:
        stream = islice(stream, YEAR_EVENTS)
    for raw in stream:
        try:
            moved = _shift(raw, k, f"y{k}-") if k else raw
        except ValueError:
            continue
        yield EVENT_MODELS[moved["event_type"]].model_validate(moved)  # type: ignore[misc]


async def dossier_buckets(redis: Redis) -> tuple[int, int, int]:
    """(dossier buckets, those no longer listpacks, the largest one's entries)."""
    names = [k async for k in redis.scan_iter(match="ent:*:d[0-9]*", count=5_000)]
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.object("encoding", name)
        pipe.hlen(name)
    out = await pipe.execute() if names else []
    encodings, lengths = out[0::2], out[1::2]
    big = sum(1 for e in encodings if (e or b"") not in (b"listpack", "listpack"))
    return len(names), big, max((int(n) for n in lengths), default=0)


async def snapshot_fork(redis: Redis) -> dict[str, float]:
    """One BGSAVE: RSS before, the fork's time and copy-on-write (Redis' own figures)."""
    rss = int((await redis.info("memory"))["used_memory_rss"])
    await redis.bgsave()
    started = time.perf_counter()
    while True:
        await asyncio.sleep(0.1)
        info = await redis.info("persistence")
        if not int(info["rdb_bgsave_in_progress"]):
            break
    stats = await redis.info("stats")
    return {
        "rss_mb": rss / 1e6,
        "fork_ms": int(stats["latest_fork_usec"]) / 1e3,
        "cow_mb": int(info["rdb_last_cow_size"]) / 1e6,
        "save_s": time.perf_counter() - started,
    }


async def archive(redis: Redis, year: int, base: int) -> None:
    """``egov years archive YEAR`` as the policy runs it once YEAR + 2 has begun (no
    calculator runs here: no settling wait)."""
    out = Path(tempfile.mkdtemp(prefix="egov-years-")) / f"{year}.ndjson.gz"
    tick = time.perf_counter()
    report = await archive_year(redis, year, out, settle_s=0)
    used = int((await redis.info("memory"))["used_memory"]) - base
    _, big, largest = await dossier_buckets(redis)
    print(
        f"  archived {year}: {report.states:,} states ({report.kept_open:,} open kept), "
        f"{report.file_bytes / 1e6:,.1f} MB file, {time.perf_counter() - tick:,.1f} s; "
        f"used_memory {used / 1e6:,.1f} MB; largest dossier bucket {largest}, {big} past "
        f"the limit",
        flush=True,
    )
    out.unlink()


async def run(url: str) -> None:
    redis = Redis.from_url(url)
    try:
        base = int((await redis.info("memory"))["used_memory"])
        store = IndicatorStore(redis, keyspace="")
        volume = f"{YEAR_EVENTS:,} events" if YEAR_EVENTS else "the whole year"
        limit = redis_keys.REDIS_LISTPACK_CONFIG["hash-max-listpack-entries"]
        kept = f"entity states of {KEPT} years kept" if KEPT else "every entity state kept"
        print(
            f"{YEARS} years × {volume} (hash-max-listpack-entries {limit}, "
            f"{redis_keys.ENTITY_BUCKETS['d']} dossier buckets per agency; {kept})"
        )
        # the years up to the simulated one (2024): later ones would be dated in the future
        # today, and events more than 5 minutes ahead are refused
        for k in range(1 - YEARS, 1):
            n, applying = 0, 0.0
            stream = year_events(k)
            while chunk := list(islice(stream, BATCH)):
                tick = time.perf_counter()
                await store.apply_many(chunk)
                applying += time.perf_counter() - tick
                n += len(chunk)
            used = int((await redis.info("memory"))["used_memory"]) - base
            buckets, big, largest = await dossier_buckets(redis)
            print(
                f"year {2024 + k}: {n:,} events, {n / max(applying, 1e-9):,.0f} events/s; "
                f"used_memory {used / 1e6:,.1f} MB (+{used / (k + YEARS) / 1e6:,.1f} MB/year); "
                f"dossier buckets {buckets:,}, {big} past the listpack limit, largest {largest}",
                flush=True,
            )
            if KEPT and k - KEPT >= 1 - YEARS:
                await archive(redis, 2024 + k - KEPT, base)
        parts = await breakdown(redis)
        print("what Redis holds after the last year, by key kind (MEMORY USAGE):")
        for kind, (keys, size) in sorted(parts.items(), key=lambda kv: -kv[1][1]):
            print(f"  {kind:6} {keys:>9,} keys {size / 1e6:8.1f} MB")
        fork = await snapshot_fork(redis)
        print(
            f"BGSAVE: RSS {fork['rss_mb']:,.1f} MB before, fork {fork['fork_ms']:.1f} ms, "
            f"copy-on-write {fork['cow_mb']:,.1f} MB, saved in {fork['save_s']:.1f} s"
        )
    finally:
        await redis.aclose()


def main() -> None:
    on_throwaway_redis(run, "years")


if __name__ == "__main__":
    main()
