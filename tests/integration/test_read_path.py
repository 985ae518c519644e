"""The read path against the real Redis: keys read in proportion to what is shown (a year is
one key per agency, a quarter three, a page's trend one per month — never its days), the
same figures as summing every day bucket, and cold computations that leave the event loop
to other requests."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

import services.api.public.results
import services.api.reports.rankings
import services.api.routes.public
import shared.store.bucket_reads
import shared.store.indicator_store
from services.api.app import create_app
from services.api.public.results import month_period, read_page
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.domain.periods import parse_period
from shared.platform.config import Settings
from shared.platform.off_loop import SWITCH_INTERVAL_S
from shared.store import keys as redis_keys
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db
from tests.factories import received

DB = 14
AGENCIES = ("so-y-te", "so-tttt", "ubnd-an-phu")
MARKS = ["received", "received_full_online_online", "received_online"]
READ = {"Authorization": "Bearer dev-read-token"}


def events() -> list[dict[str, Any]]:
    """Dossiers on every third day of 2024, alternately online and in person."""
    out = []
    day = date(2024, 1, 1)
    n = 0
    while day.year == 2024:
        for agency in AGENCIES:
            online = n % 2 == 0
            out.append(
                received(
                    agency=agency,
                    dossier=f"{agency}-{n}",
                    at=f"{day.isoformat()}T09:00:00+07:00",
                    level="full_online" if online else "partial_online",
                    channel="online" if online else "in_person",
                )
            )
            n += 1
        day += timedelta(days=3)
    return out


@pytest.fixture(scope="module")
def url(redis_server: Any) -> Iterator[str]:
    u = redis_db(redis_server, DB)

    async def load() -> None:
        redis = Redis.from_url(u)
        await redis.flushdb()
        agencies = load_agencies()
        batch = []
        for raw in events():
            event = validate_event(raw, agencies=agencies)
            assert not isinstance(event, list), event
            batch.append(event)
        await IndicatorStore(redis).apply_many(batch)
        await redis.aclose()

    asyncio.run(load())
    yield u


class KeysRead:
    """Records the key groups the store hands to the bucket-read script."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.groups: list[list[str]] = []
        real = shared.store.bucket_reads.read_groups

        async def recording(redis: Any, groups: Sequence[Sequence[str]], *a: Any) -> Any:
            self.groups += [list(g) for g in groups]
            return await real(redis, groups, *a)

        monkeypatch.setattr(shared.store.indicator_store, "read_groups", recording)

    def per_agency(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for group in self.groups:
            for key in group:
                agency = key.split("{", 1)[1].split("}", 1)[0]
                out[agency] = out.get(agency, 0) + 1
        return out


async def day_sums(redis: Redis, agency: str, start: date, end: date) -> dict[str, int]:
    """The previous computation, spelled out: every day bucket of the period summed."""
    totals = dict.fromkeys(MARKS, 0)
    day = start
    while day <= end:
        values = await redis.hmget(f"cnt:{{{agency}}}:D{day:%Y%m%d}", MARKS)
        for mark, value in zip(MARKS, values, strict=True):
            totals[mark] += int(value or 0)
        day += timedelta(days=1)
    return totals


@pytest.mark.parametrize(
    ("period", "keys_per_agency"),
    [("2024", 1), ("2024-Q2", 3), ("2024-05", 1), ("2024-01-15..2024-12-31", 11 + 17)],
)
def test_reads_touch_year_and_month_keys_and_equal_the_day_sums(
    url: str, monkeypatch: pytest.MonkeyPatch, period: str, keys_per_agency: int
) -> None:
    async def go() -> None:
        redis = Redis.from_url(url)
        store = IndicatorStore(redis)
        parsed = parse_period(period)
        await store.sum_marks(AGENCIES[:1], parsed.start, parsed.end, MARKS)  # script loaded
        before = await redis.info("commandstats")
        keys = KeysRead(monkeypatch)
        sums = await store.sum_marks(AGENCIES, parsed.start, parsed.end, MARKS)
        after = await redis.info("commandstats")
        assert keys.per_agency() == dict.fromkeys(AGENCIES, keys_per_agency)
        # one script call on one server; the HMGETs it runs, one per key
        assert after["cmdstat_evalsha"]["calls"] - before["cmdstat_evalsha"]["calls"] == 1
        hmgets = after["cmdstat_hmget"]["calls"] - before["cmdstat_hmget"]["calls"]
        assert hmgets == keys_per_agency * len(AGENCIES)
        for agency in AGENCIES:
            expected = await day_sums(redis, agency, parsed.start, parsed.end)
            assert sums[agency] == expected
            assert expected["received"] > 0
        await redis.aclose()

    asyncio.run(go())


def test_a_public_page_reads_one_key_per_agency_and_month(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(redis_url=url, catalog_log_enabled=False)
    app = create_app(settings)
    ctx = app.state.ctx

    async def go() -> None:
        catalogs = await ctx.catalogs.current()
        keys = KeysRead(monkeypatch)
        indicator = ctx.indicator("full_online_rate")
        page = await read_page(ctx, catalogs, month_period(2024, 12), indicator)
        members = {a.agency_code for a in page.members}
        # 12 trend months; this month and the last also read the two per-period sets
        per_agency = keys.per_agency()
        assert set(per_agency) == members
        assert set(per_agency.values()) == {12 + 2 * 2}
        dec = page.figures["2024-12"][1]
        for agency in AGENCIES:
            sums = await day_sums(ctx.redis, agency, date(2024, 12, 1), date(2024, 12, 31))
            fig = dec[agency]["full_online_rate"]
            assert (fig.numerator, fig.denominator) == (
                sums["received_full_online_online"],
                sums["received"],
            )
        await ctx.redis.aclose()

    asyncio.run(go())


SPIN_S = 1.5
spinning = threading.Event()


def spin(seconds: float = SPIN_S) -> None:
    """CPU work that holds the GIL (a cold computation's Python part, made long)."""
    spinning.set()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.fixture(autouse=True)
def switch_interval() -> Iterator[None]:
    """What the API sets at start (its lifespan; ASGITransport runs none)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    yield
    sys.setswitchinterval(before)


async def race(app: Any, slow: str, quick: str) -> tuple[float, float, int]:
    """``slow``, then — once its computation spins — ``quick`` on the same event loop;
    when each finished (seconds after the spin started) and the quick one's status. A
    spin on the loop would hold ``quick`` until the slow response is done."""
    spinning.clear()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        done: dict[str, float] = {}

        async def get(name: str, path: str) -> int:
            response = await client.get(path, headers=READ)
            done[name] = time.perf_counter()
            return response.status_code

        slow_task = asyncio.create_task(get("slow", slow))
        while not spinning.is_set():
            await asyncio.sleep(0.005)
        started = time.perf_counter()
        status = await get("quick", quick)
        assert await slow_task == 200
    return done["slow"] - started, done["quick"] - started, status


def test_a_cold_ranking_leaves_the_loop_to_other_requests(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(redis_url=url, catalog_log_enabled=False))
    real = services.api.reports.rankings.rank

    def slow_rank(*args: Any) -> Any:
        spin()
        return real(*args)

    monkeypatch.setattr(services.api.reports.rankings, "rank", slow_rank)
    slow, quick, status = asyncio.run(
        race(
            app,
            "/v1/rankings/full_online_rate?scope=province&period=2024",
            "/v1/indicators/full_online_rate?scope=so-y-te&period=2024-03",
        )
    )
    assert status == 200
    # the single indicator was answered while the ranking was still being computed
    assert quick < slow and quick < SPIN_S - 0.3


def test_a_cold_public_page_leaves_the_loop_to_other_requests(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(redis_url=url, catalog_log_enabled=False))
    real = services.api.public.results.build_results

    def slow_build(*args: Any) -> Any:
        spin()
        return real(*args)

    monkeypatch.setattr(services.api.routes.public, "build_results", slow_build)
    slow, quick, status = asyncio.run(
        race(
            app,
            "/public/ket-qua?month=2024-12",
            "/v1/rankings/full_online_rate?scope=province&period=2024-Q3",
        )
    )
    assert status == 200
    assert quick < slow and quick < SPIN_S - 0.3


def test_data_versions_are_one_command(url: str) -> None:
    async def go() -> None:
        redis = Redis.from_url(url)
        store = IndicatorStore(redis)
        codes = sorted(load_agencies().codes)
        before = await redis.info("commandstats")
        versions = await store.data_versions(codes)
        after = await redis.info("commandstats")

        def calls(stats: dict[str, Any], command: str) -> int:
            return int(stats.get(f"cmdstat_{command}", {"calls": 0})["calls"])

        assert calls(after, "mget") - calls(before, "mget") == 1
        assert calls(after, "get") == calls(before, "get")
        written = {c: v for c, v in zip(codes, versions, strict=True) if v}
        assert set(written) == set(AGENCIES)
        for code in AGENCIES:
            assert written[code] == int(await redis.get(redis_keys.data_version(code)) or 0)
        await redis.aclose()

    asyncio.run(go())
