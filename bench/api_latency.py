"""API latency on the merged province (117 units, ``bench/province.py``: the catalog
through the product's catalog store, a year of dossiers sized like the units). Each
figure is driven open-loop at ``BENCH_API_RATE`` requests/s (default 500) for
``BENCH_API_SECONDS`` (default 20) and printed as p50 and p99: one indicator of one unit
(cycling over the units), the 117-unit ranking of the year, the public page of the latest
closed month, the board (``GET /board``: its fragments, refreshed when anything behind
them changed), the Decision 766 score of a unit (``GET /v1/index766``, cycling over the
units) and the 766 ranking of the communes (``GET /v1/index766/rankings``).
``python -m bench.api_latency``.

Responses are cached until the figures behind them change (services/api/response_cache.py),
so each figure runs twice: alone, and while a writer (``bench.api_writer``, a process of
its own like the calculator) applies a new received dossier to every unit each
``BENCH_API_WRITE_MS`` (default 100 ms, the calculator's commit rhythm), which makes every
response of this year after a write a cache miss computed from Redis.
``BENCH_API_ONLY`` (comma-separated names: single, ranking, public, board, 766, 766-200,
766-ranking) runs a subset; ``766-200`` is the 766 score of a unit at 200 requests/s (the
rate of issue 19's acceptance; ``BENCH_API_RATE_766``). The board is read signed in (its
server-side session, ``POST /board/login``). Each figure also prints the API process's CPU
time per request (from /proc: what a shared machine's other load does not inflate).
Requests ask for gzip as browsers do (``BENCH_API_GZIP=0``: not).
``BENCH_REDIS_URL`` reads a Redis already holding the province (``BENCH_HOLD=1 python -m
bench.read_profile`` loads one and keeps it) instead of loading a fresh one."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from bench.procstat import cpu_seconds
from bench.province import load_province
from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import start_service
from services.api.public.results import latest_closed_month
from shared.domain.calendar import today_local
from shared.domain.catalog import AgencyCatalog
from shared.store.catalogs import CatalogCache

RATE = int(os.environ.get("BENCH_API_RATE", "500"))
RATE_766 = int(os.environ.get("BENCH_API_RATE_766", "200"))
WRITE_MS = int(os.environ.get("BENCH_API_WRITE_MS", "100"))
SECONDS = int(os.environ.get("BENCH_API_SECONDS", "20"))
ONLY = {n for n in os.environ.get("BENCH_API_ONLY", "").split(",") if n}
TOKEN = "dev-read-token"
# as every browser and portal asks (services/api/compression.py); BENCH_API_GZIP=0: plain
ACCEPT = (
    "Accept-Encoding: gzip, deflate, br\r\n" if os.environ.get("BENCH_API_GZIP", "1") != "0" else ""
)


async def _connection(
    host: str,
    port: int,
    queue: asyncio.Queue[tuple[str, float] | None],
    latencies: list[float],
    auth: str,
) -> None:
    """One keep-alive HTTP/1.1 connection taking requests off the queue. A minimal client:
    httpx spent more CPU per request than the server, so it measured itself."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (item := await queue.get()) is not None:
            path, scheduled = item
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{ACCEPT}{auth}\r\n".encode())
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


class Writer:
    """``bench.api_writer`` in its own process, writing until stopped."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.api_writer", url, str(WRITE_MS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "ready", "the writer did not start"

    def stop(self) -> int:
        """Events written."""
        out, _ = self.process.communicate("", timeout=60)
        return int(out.strip().splitlines()[-1])


async def drive_while_writing(
    base: str, paths: list[str], url: str, rate: int, auth: str
) -> tuple[list[float], int]:
    writer = Writer(url)
    try:
        latencies = await drive(base, paths, rate=rate, auth=auth)
    finally:
        written = writer.stop()
    return latencies, written


def cache_lookups(base: str) -> dict[str, float]:
    """The API's cache counters, from its /metrics: lookups (young, hit, miss, joined, previous)
    and two-stage renders (rendered, unchanged)."""
    out = {
        "young": 0.0,
        "hit": 0.0,
        "miss": 0.0,
        "joined": 0.0,
        "previous": 0.0,
        "rendered": 0.0,
        "unchanged": 0.0,
    }
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(("egov_api_cache_lookups_total{", "egov_api_cache_renders_total{")):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = float(line.rsplit(" ", 1)[1])
        elif line.startswith(GC_LINES):
            generation = line.split('generation="', 1)[1].split('"', 1)[0]
            kind = "sum" if "_sum{" in line else "count"
            out[f"gc{generation}_{kind}"] = float(line.rsplit(" ", 1)[1])
    return out


GC_LINES = ("egov_api_gc_pause_seconds_sum{", "egov_api_gc_pause_seconds_count{")
BEARER = f"Authorization: Bearer {TOKEN}\r\n"


def board_session(base: str) -> str:
    """The header lines of a signed-in board reader: ``POST /board/login`` with the read
    token opens a server-side session; its cookie names it."""
    response = httpx.post(f"{base}/board/login", data={"token": TOKEN}, timeout=10)
    session = response.cookies.get("egov_board")
    if response.status_code != 303 or not session:
        raise SystemExit(f"board sign-in failed: HTTP {response.status_code}")
    return f"Cookie: egov_board={session}\r\n"


async def drive(
    base: str,
    paths: list[str],
    seconds: int = SECONDS,
    connections: int = 32,
    *,
    rate: int = RATE,
    auth: str = BEARER,
) -> list[float]:
    """Open loop at ``rate`` requests/s; latency measured from each request's scheduled
    time."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[str, float] | None] = asyncio.Queue()
    workers = [
        asyncio.create_task(_connection(host, int(port), queue, latencies, auth))
        for _ in range(connections)
    ]
    start = time.perf_counter()
    for i in range(rate * seconds):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((paths[i % len(paths)], scheduled))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return latencies


FAILED: list[str] = []


def report(name: str, lat: list[float], rate: int, cpu_s: float) -> None:
    ordered = sorted(lat)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(
        f"  {name}: {len(lat)} requests at {rate}/s — p50 {1000 * statistics.median(lat):.1f} ms,"
        f" p99 {1000 * p99:.1f} ms, max {1000 * ordered[-1]:.1f} ms; failed {len(FAILED)};"
        f" API CPU {1000 * cpu_s / max(len(lat), 1):.2f} ms per request",
        flush=True,
    )
    FAILED.clear()


def print_cache(before: dict[str, float], after: dict[str, float], extra: str = "") -> None:
    d = {k: after[k] - before.get(k, 0.0) for k in after}
    gc = ", ".join(
        f"gen{g} {d[f'gc{g}_count']:,.0f} ({1000 * d[f'gc{g}_sum']:,.0f} ms)"
        for g in range(3)
        if d.get(f"gc{g}_count")
    )
    extra += f"; GC pauses: {gc}" if gc else ""
    staged = (
        f"; pages {d['rendered']:,.0f} rendered, {d['unchanged']:,.0f} unchanged"
        if d["rendered"] or d["unchanged"]
        else ""
    )
    print(
        f"    cache: {d['young']:,.0f} from memory (young), {d['hit']:,.0f} hits (versions"
        f" read), {d['miss']:,.0f} misses (computed from Redis),"
        f" {d['joined']:,.0f} joined a computation under way, {d['previous']:,.0f} answered"
        f" with the previous one meanwhile{staged}{extra}",
        flush=True,
    )


def score_766_paths(base: str, codes: list[str], period: str) -> list[str] | None:
    """The Decision 766 score of each unit (domain README §8, ``GET /v1/index766``) for
    ``period``; None when the API has no such route — nothing is measured then, nothing is
    faked."""
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    if "get" not in spec.get("paths", {}).get("/v1/index766", {}):
        return None
    return [f"/v1/index766?scope={code}&period={period}" for code in codes]


def ranking_766_paths(base: str, period: str) -> list[str] | None:
    """The 766 ranking of the communes (``group=dia_phuong``) for ``period``."""
    spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
    if "get" not in spec.get("paths", {}).get("/v1/index766/rankings", {}):
        return None
    return [f"/v1/index766/rankings?group=dia_phuong&period={period}"]


def measure(
    name: str,
    base: str,
    paths: list[str],
    url: str,
    api_pid: int,
    rate: int = RATE,
    auth: str = BEARER,
) -> None:
    before, cpu = cache_lookups(base), cpu_seconds(api_pid)
    lat = asyncio.run(drive(base, paths, rate=rate, auth=auth))
    report(name, lat, rate, cpu_seconds(api_pid) - cpu)
    print_cache(before, cache_lookups(base))
    before, cpu = cache_lookups(base), cpu_seconds(api_pid)
    lat, written = asyncio.run(drive_while_writing(base, paths, url, rate, auth))
    report(f"{name} while writing every {WRITE_MS} ms", lat, rate, cpu_seconds(api_pid) - cpu)
    print_cache(before, cache_lookups(base), f"; {written:,} events written")


async def held_agencies(url: str) -> AgencyCatalog:
    """The agency catalog of a Redis already holding the province."""
    redis = Redis.from_url(url)
    try:
        return (await CatalogCache(redis).current()).agencies
    finally:
        await redis.aclose()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="egov-apibench-"))
    held = os.environ.get("BENCH_REDIS_URL")
    redis_srv = RedisServer(work / "redis", free_port())
    if not held:
        redis_srv.start()
    url = held or redis_srv.url
    try:
        t = time.perf_counter()
        if held:
            agencies = asyncio.run(held_agencies(held))
            print(f"the province held at {held}: {len(agencies)} units", flush=True)
        else:
            agencies, span, n = asyncio.run(load_province(url, today_local()))
            print(
                f"loaded the province: {len(agencies)} units, {n:,} events "
                f"({span.first}..{span.last}) in {time.perf_counter() - t:.0f}s",
                flush=True,
            )
        api = start_service(
            "api",
            free_port(),
            {
                "EGOV_REDIS_URL": url,
                "EGOV_RATE_LIMIT_PER_S": "1000000",
                "EGOV_RATE_LIMIT_BURST": "1000000",
                "EGOV_LOG_LEVEL": "WARNING",
            },
            work / "logs",
        )
        try:
            codes = sorted(agencies.codes)
            month = latest_closed_month()
            year = month.start.year
            single = [f"/v1/indicators/full_online_rate?scope={c}&period={year}" for c in codes]
            ranking = [f"/v1/rankings/full_online_rate?scope=province&period={year}"]
            public = [f"/public/ket-qua?month={month.label}"]
            unit_766 = score_766_paths(api.url, codes, str(year))
            figures: list[tuple[str, str, list[str] | None]] = [
                ("single", "single indicator", single),
                ("ranking", f"{len(codes)}-unit ranking ({year})", ranking),
                ("public", f"public page of {month.label}", public),
                ("board", "board (GET /board)", ["/board"]),
                ("766", f"766 score of a unit ({year})", unit_766),
                ("766-200", f"766 score of a unit ({year}) at {RATE_766}/s", unit_766),
                (
                    "766-ranking",
                    f"766 ranking of the communes ({year})",
                    ranking_766_paths(api.url, str(year)),
                ),
            ]
            asyncio.run(drive(api.url, single[:5], seconds=2))  # warm up
            FAILED.clear()
            print(f"API latency (uvicorn, one process) with the province loaded, {SECONDS}s each:")
            for key, name, paths in figures:
                if ONLY and key not in ONLY:
                    continue
                if paths is None:
                    print(f"  {key}: not available", flush=True)
                    continue
                pid = api.process.pid
                assert pid is not None
                measure(
                    name,
                    api.url,
                    paths,
                    url,
                    pid,
                    rate=RATE_766 if key == "766-200" else RATE,
                    auth=board_session(api.url) if key == "board" else BEARER,
                )
        finally:
            api.process.stop()
    finally:
        if not held:
            redis_srv.stop()


if __name__ == "__main__":
    main()
