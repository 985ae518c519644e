"""API latency with the appendix year loaded: a single indicator query and a 30-agency
ranking, each driven open-loop at ``BENCH_API_RATE`` requests/s (default 500) for
``BENCH_API_SECONDS`` (default 20). Prints p50 and p99. ``python -m bench.api_latency``.

Responses are cached until the figures behind them change (services/api/response_cache.py),
so the ranking runs twice: on a still year, and while a writer applies a batch of events to
every agency each ``BENCH_API_WRITE_MS`` (default 100 ms, the calculator's commit rhythm),
which makes every ranking after a write a cache miss computed from Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import start_service
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.store.catalogs import CatalogStore
from shared.store.indicator_store import IndicatorStore
from simulator.appendix2024 import YearStream

RATE = int(os.environ.get("BENCH_API_RATE", "500"))
WRITE_MS = int(os.environ.get("BENCH_API_WRITE_MS", "100"))
SECONDS = int(os.environ.get("BENCH_API_SECONDS", "20"))
READ = {"Authorization": "Bearer dev-read-token"}


async def load_year(url: str) -> int:
    redis = Redis.from_url(url)
    store = IndicatorStore(redis)
    stream = YearStream(lifecycle_fraction=0.0)
    await CatalogStore(redis).replace_procedures(stream.catalog().procedures.values())
    agencies = load_agencies().codes
    batch = []
    n = 0
    for raw in stream.events():
        event = validate_event(raw, agencies=agencies)
        if isinstance(event, list):
            continue
        batch.append(event)
        if len(batch) == 2000:
            await store.apply_many(batch)
            n += len(batch)
            batch = []
    await store.apply_many(batch)
    await redis.aclose()
    return n + len(batch)


async def _connection(
    host: str,
    port: int,
    queue: asyncio.Queue[tuple[str, float] | None],
    latencies: list[float],
    token: str,
) -> None:
    """One keep-alive HTTP/1.1 connection taking requests off the queue. A minimal client:
    httpx spent more CPU per request than the server, so it measured itself."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (item := await queue.get()) is not None:
            path, scheduled = item
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\n\r\n".encode()
            )
            status = (await reader.readline()).split(b" ", 2)[1]
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            # from the scheduled start: waiting for a free connection counts too
            latencies.append(time.perf_counter() - scheduled)
            if status != b"200":
                FAILED.append(path)
    finally:
        writer.close()


async def write_continuously(url: str, stop: asyncio.Event) -> int:
    """Every WRITE_MS a batch of new received dossiers, one per agency (in 2024)."""
    redis = Redis.from_url(url)
    store = IndicatorStore(redis)
    codes = sorted(load_agencies().codes)
    written = 0
    while not stop.is_set():
        batch = []
        for code in codes:
            raw = {
                "event_id": f"bench-{written}",
                "event_type": "received",
                "occurred_at": "2024-12-30T10:00:00+07:00",
                "agency_code": code,
                "dossier_id": f"bench-d{written}",
                "procedure_code": "bench-p",
                "service_level": "full_online",
                "channel": "online",
                "submitted_by": "citizen",
                "due_at": "2025-01-10T17:00:00+07:00",
            }
            event = validate_event(raw, agencies=codes)
            assert not isinstance(event, list), event
            batch.append(event)
            written += 1
        await store.apply_many(batch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), WRITE_MS / 1000)
    await redis.aclose()
    return written


async def drive_while_writing(base: str, paths: list[str], url: str) -> tuple[list[float], int]:
    stop = asyncio.Event()
    writer = asyncio.create_task(write_continuously(url, stop))
    latencies = await drive(base, paths)
    stop.set()
    return latencies, await writer


def cache_lookups(base: str) -> dict[str, float]:
    """The API's cache hit and miss counters, from its /metrics."""
    out = {"hit": 0.0, "miss": 0.0, "joined": 0.0}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("egov_api_cache_lookups_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = float(line.rsplit(" ", 1)[1])
    return out


async def drive(
    base: str, paths: list[str], seconds: int = SECONDS, connections: int = 32
) -> list[float]:
    """Open loop at RATE requests/s; latency measured from each request's scheduled time."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    workers = [
        asyncio.create_task(
            _connection(host, int(port), queue, latencies, READ["Authorization"].split()[1])
        )
        for _ in range(connections)
    ]
    start = time.perf_counter()
    for i in range(RATE * seconds):
        scheduled = start + i / RATE
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((paths[i % len(paths)], scheduled))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies


FAILED: list[str] = []


def report(name: str, lat: list[float]) -> None:
    ordered = sorted(lat)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(
        f"  {name}: {len(lat)} requests at {RATE}/s — p50 {1000 * statistics.median(lat):.1f} ms,"
        f" p99 {1000 * p99:.1f} ms, max {1000 * ordered[-1]:.1f} ms; failed {len(FAILED)}",
        flush=True,
    )
    FAILED.clear()


def print_cache(before: dict[str, float], after: dict[str, float], extra: str = "") -> None:
    hits, misses = after["hit"] - before["hit"], after["miss"] - before["miss"]
    joined = after["joined"] - before["joined"]
    print(
        f"    cache: {hits:,.0f} hits, {misses:,.0f} misses (computed from Redis),"
        f" {joined:,.0f} joined a computation under way{extra}"
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="egov-apibench-"))
    redis_srv = RedisServer(work / "redis", free_port())
    redis_srv.start()
    try:
        t = time.perf_counter()
        n = asyncio.run(load_year(redis_srv.url))
        print(
            f"loaded the appendix year: {n:,} received events in {time.perf_counter() - t:.0f}s",
            flush=True,
        )
        api = start_service(
            "api",
            free_port(),
            {
                "EGOV_REDIS_URL": redis_srv.url,
                "EGOV_RATE_LIMIT_PER_S": "1000000",
                "EGOV_RATE_LIMIT_BURST": "1000000",
                "EGOV_LOG_LEVEL": "WARNING",
            },
            work / "logs",
        )
        try:
            codes = sorted(load_agencies().codes)
            single = [f"/v1/indicators/full_online_rate?scope={c}&period=2024" for c in codes]
            ranking = ["/v1/rankings/full_online_rate?scope=province&period=2024"]
            asyncio.run(drive(api.url, single[:5], seconds=2))  # warm up
            FAILED.clear()
            print(f"API latency (uvicorn, one process) with the year loaded, {SECONDS}s each:")
            for name, paths in (("single indicator", single), ("30-agency ranking", ranking)):
                before = cache_lookups(api.url)
                report(name, asyncio.run(drive(api.url, paths)))
                print_cache(before, cache_lookups(api.url))
            before = cache_lookups(api.url)
            lat, written = asyncio.run(drive_while_writing(api.url, ranking, redis_srv.url))
            report(f"30-agency ranking while writing every {WRITE_MS} ms", lat)
            print_cache(before, cache_lookups(api.url), f"; {written:,} events written")
        finally:
            api.process.stop()
    finally:
        redis_srv.stop()


if __name__ == "__main__":
    main()
