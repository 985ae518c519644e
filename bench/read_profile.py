"""Where a cold read goes, on the merged province (``bench/province.py``): the API's own
computations, called in process without the response cache — the 117-unit ranking of the
year, the public page of the latest closed month (figures and HTML), the board's data,
one unit's indicator, one unit's Decision 766 score and the 766 ranking of the communes
(the year). For each: wall time (median of ``BENCH_PROFILE_RUNS``, default 5),
CPU time of this process (all threads) and of redis-server per run (what a shared machine's
other load does not inflate), Redis round trips (packed sends on a connection), Redis
commands by name (those scripts run included), and the top functions by own time (cProfile,
one more run: the event loop's thread only).

``python -m bench.read_profile`` loads a fresh Redis; with ``BENCH_REDIS_URL`` it reads a
Redis already holding the province (``BENCH_HOLD=1`` loads one and keeps it until Enter).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from redis.asyncio.connection import Connection

from bench.province import load_province
from devstack.ports import free_port
from devstack.redis import RedisServer
from services.api.board.view import board_data
from services.api.context import ApiContext
from services.api.public.results import latest_closed_month, page_fingerprint, public_results
from services.api.reports.index766 import scope_scores, unit_totals
from services.api.reports.rankings import ranking
from services.api.routes.index766 import index_period
from services.api.routes.public import _html
from shared.domain.calendar import today_local
from shared.domain.scopes import agency_scope
from shared.platform.config import Settings
from shared.readmodel.indicator_query import scope_values

RUNS = int(os.environ.get("BENCH_PROFILE_RUNS", "5"))
TOP = int(os.environ.get("BENCH_PROFILE_TOP", "12"))


class Sends:
    """Counts the packed sends of every connection (one per command or pipeline)."""

    def __init__(self) -> None:
        self.count = 0
        self._orig = Connection.send_packed_command

    def __enter__(self) -> Sends:
        orig = self._orig
        counter = self

        async def counted(conn: Connection, command: Any, check_health: bool = True) -> None:
            counter.count += 1
            await orig(conn, command, check_health)

        Connection.send_packed_command = counted  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        Connection.send_packed_command = self._orig  # type: ignore[method-assign]


async def commandstats(ctx: ApiContext) -> Counter[str]:
    raw = await ctx.redis.info("commandstats")
    return Counter({k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in raw.items()})


async def redis_cpu_s(ctx: ApiContext) -> float:
    """redis-server's CPU time so far (its own process: unaffected by other load)."""
    info = await ctx.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def profile(name: str, ctx: ApiContext, run: Callable[[], Awaitable[object]]) -> None:
    await run()  # warm: catalogs, targets, imports
    times = []
    python_cpu = redis_cpu = 0.0
    for _ in range(RUNS):
        r = await redis_cpu_s(ctx)
        c = time.process_time()
        t = time.perf_counter()
        await run()
        times.append(time.perf_counter() - t)
        python_cpu += time.process_time() - c
        redis_cpu += await redis_cpu_s(ctx) - r
    before = await commandstats(ctx)
    with Sends() as sends:
        await run()
    after = await commandstats(ctx)
    after["info"] -= 1
    commands = {k: n for k, n in (after - before).items() if n}
    prof = cProfile.Profile()
    prof.enable()
    await run()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(TOP)
    top = [
        line
        for line in out.getvalue().splitlines()
        if line.strip() and line.strip()[0].isdigit() and "/" in line
    ]
    print(
        f"{name}: {1000 * statistics.median(times):.1f} ms median of {RUNS} cold runs "
        f"(min {1000 * min(times):.1f}); CPU per run: Python {1000 * python_cpu / RUNS:.1f} ms "
        f"(all threads), Redis {1000 * redis_cpu / RUNS:.1f} ms; {sends.count} Redis round "
        f"trips; commands run {dict(sorted(commands.items()))} (inside scripts included)"
    )
    print("  top own time (cProfile: ncalls tottime percall cumtime percall function):")
    for line in top:
        print("   ", line.strip())


async def profile_all(url: str) -> None:
    os.environ["EGOV_REDIS_URL"] = url
    ctx = ApiContext.create(Settings())
    catalogs = await ctx.catalogs.current()
    month = latest_closed_month()
    year = ctx.period(str(month.start.year))
    indicator = ctx.indicator("full_online_rate")
    province = ctx.scope("province", catalogs, year)
    unit = ctx.scope(sorted(catalogs.agencies.codes)[0], catalogs, year)

    async def cold_ranking() -> object:
        return await ranking(ctx.store, catalogs, ctx.targets, indicator, province, year, None, 5)

    async def cold_page() -> object:
        return _html(await public_results(ctx, catalogs, month, indicator), embed=False)

    async def page_fingerprint_only() -> object:
        return await page_fingerprint(ctx, catalogs, month, indicator)

    async def cold_board() -> object:
        return await board_data(ctx)

    async def cold_single() -> object:
        return await scope_values(ctx.store, catalogs, ctx.targets, [indicator], unit, year, None)

    ev, table = index_period(ctx, str(year.start.year))
    communes = [agency_scope(a) for a in ctx.scope("group:dia_phuong", catalogs, ev.period).members]

    async def cold_766_unit() -> object:
        return await scope_scores(ctx.store, catalogs, table, ev, [unit])

    async def cold_766_communes() -> object:
        return await unit_totals(ctx.store, catalogs, table, ev, communes)

    print(f"{len(catalogs.agencies)} units; year {year.label}; closed month {month.label}")
    await profile(f"{len(province.members)}-unit ranking of {year.label}", ctx, cold_ranking)
    await profile(f"public page of {month.label}", ctx, cold_page)
    await profile(
        f"public page of {month.label} after a write that left it unchanged (its fingerprint)",
        ctx,
        page_fingerprint_only,
    )
    await profile("board data", ctx, cold_board)
    await profile(f"one indicator of {unit.id}", ctx, cold_single)
    await profile(f"766 score of {unit.id} ({ev.period.label})", ctx, cold_766_unit)
    await profile(
        f"766 ranking of the {len(communes)} communes ({ev.period.label})", ctx, cold_766_communes
    )
    await ctx.redis.aclose()


def main() -> None:
    url = os.environ.get("BENCH_REDIS_URL")
    if url:
        asyncio.run(profile_all(url))
        return
    server = RedisServer(Path(tempfile.mkdtemp(prefix="egov-readprof-")) / "redis", free_port())
    server.start()
    try:
        t = time.perf_counter()
        agencies, span, n = asyncio.run(load_province(server.url, today_local()))
        print(
            f"loaded {len(agencies)} units, {n:,} events ({span.first}..{span.last}) "
            f"in {time.perf_counter() - t:.0f}s: {server.url}",
            flush=True,
        )
        if os.environ.get("BENCH_HOLD"):
            input("holding; Enter stops Redis\n")
        else:
            asyncio.run(profile_all(server.url))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
