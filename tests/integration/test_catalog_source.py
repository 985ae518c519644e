"""Where the agency catalog comes from (issue 20, item 1), one rule on a real Redis: Redis'
catalog when it has one; the packaged CSV only to seed a Redis that never held one;
with Redis not answering, the last copy read from it — before any copy
``CatalogUnavailable`` (or, for the calculator, a wait), never the packaged file."""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from shared.domain.catalog import AgencyCatalog, load_agencies
from shared.store.catalogs import AGENCIES_KEY, CatalogCache, CatalogStore
from shared.store.exceptions import CatalogUnavailable
from tests.faults.test_catalog_outage import NEW_AGENCY, reorganised

pytestmark = pytest.mark.integration


@pytest.fixture()
def server(tmp_path: Path):
    redis_server = RedisServer(tmp_path / "redis", free_port())
    redis_server.start()
    yield redis_server
    redis_server.stop()


def test_a_redis_that_never_held_a_catalog_is_seeded_with_the_packaged_one(server) -> None:
    async def run() -> None:
        redis = Redis.from_url(server.url)
        try:
            assert not await redis.exists(AGENCIES_KEY)
            catalogs = await CatalogCache(redis).current()
            packaged = load_agencies().codes
            assert set(catalogs.agencies.codes) == set(packaged)
            raw = await redis.get(AGENCIES_KEY)
            assert raw is not None
            stored = [d["agency_code"] for d in orjson.loads(raw)]
            assert set(stored) == set(packaged)  # written to Redis, the one source from now on
            # the packaged catalog is An Giang in time: the 2024 units end, the 117 start
            seeded = catalogs.agencies
            commune, district = seeded.get("H01.187"), seeded.get("ubnd-an-phu")
            assert commune is not None and commune.valid_from == date(2025, 7, 1)
            assert district is not None and district.valid_to == date(2025, 6, 30)
            assert len(seeded.valid_on(date(2026, 12, 3))) == 118  # 117 units + VP UBND tỉnh
        finally:
            await redis.aclose()

    asyncio.run(run())


def test_redis_catalog_then_its_last_copy_never_the_packaged_one(server) -> None:
    catalog = reorganised()

    async def run() -> None:
        redis = Redis.from_url(server.url, socket_connect_timeout=1)
        try:
            await CatalogStore(redis).replace_agencies(catalog.agencies.values())
            cache = CatalogCache(redis, refresh_s=0)
            assert NEW_AGENCY in (await cache.current()).agencies.codes
            await asyncio.to_thread(server.stop)
            # Redis gone: the copy this process read from it, with the new agency
            assert NEW_AGENCY in (await cache.current()).agencies.codes
            # a process with no copy yet: unavailable, never the packaged file
            with pytest.raises(CatalogUnavailable):
                await CatalogCache(redis).current()
            # the calculator's cache waits until Redis answers, then reads its catalog
            timer = threading.Timer(2.0, server.start)
            timer.start()
            waited = await CatalogCache(redis, wait=True).current()
            await asyncio.to_thread(timer.join)
            assert NEW_AGENCY in waited.agencies.codes
        finally:
            await redis.aclose()

    asyncio.run(run())


def test_upgrade_load_agencies_without_a_file_replaces_the_2024_catalog(
    isolated, monkeypatch
) -> None:
    """The upgrade step of a deployment that was seeded with the 2024 catalog (31 units, no
    dates) and has figures under those codes: ``egov catalog load-agencies`` with no file
    loads the packaged catalog in time; no code is dropped, the districts end."""
    from typer.testing import CliRunner

    from services.ops.cli import app as egov
    from shared.contract.validation import validate_event
    from shared.domain.catalog import parse_agencies_csv
    from shared.store.indicator_store import IndicatorStore
    from tests.factories import received
    from tests.fixtures import AGENCIES_2024

    old = parse_agencies_csv(AGENCIES_2024.read_text(encoding="utf-8"))

    async def seed_2024() -> None:
        redis = Redis.from_url(isolated["redis_url"])
        try:
            await CatalogStore(redis).replace_agencies(old.agencies.values())
            event = validate_event(received(agency="ubnd-an-phu"), agencies=old)
            assert not isinstance(event, list)
            await IndicatorStore(redis).apply_many([event])  # figures under a 2024 code
        finally:
            await redis.aclose()

    asyncio.run(seed_2024())
    for name, value in isolated["env"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("EGOV_KAFKA_BOOTSTRAP", isolated["bootstrap"])
    result = CliRunner().invoke(egov, ["catalog", "load-agencies"])
    assert result.exit_code == 0, result.output
    assert "agencies: 154 rows loaded from agencies-an-giang.csv" in result.output
    # the 2024 catalog had no successor_code: the units continuing others are relinked
    assert "relink: 0 dossier records of 19 units looked at (H01.01," in result.output
    assert "ubnd-an-phu" not in result.output.split("relink:")[1]  # no unit continues it
    again = CliRunner().invoke(egov, ["relink", "--unit", "H01.03", "--unit", "so-nnmt-2025"])
    assert again.exit_code == 0, again.output
    assert "of 2 units looked at (H01.03, so-nnmt-2025); 0 records joined" in again.output
    assert "moved dossiers: " in again.output and "0 records brought" in again.output
    unknown = CliRunner().invoke(egov, ["relink", "--unit", "so-khong-co"])
    assert unknown.exit_code == 2 and "so-khong-co" in unknown.output

    async def loaded() -> None:
        redis = Redis.from_url(isolated["redis_url"])
        try:
            agencies = (await CatalogCache(redis).current()).agencies
            assert agencies.codes == load_agencies().codes and agencies.codes >= old.codes
            district = agencies.get("ubnd-an-phu")
            assert district is not None and district.valid_to == date(2025, 6, 30)
        finally:
            await redis.aclose()

    asyncio.run(loaded())


def test_the_local_stack_upgrades_a_redis_seeded_with_the_2024_catalog(isolated) -> None:
    """`make up` / `make run` on a run directory from an earlier release: its Redis holds the
    2024 units only, so the demo's events of the merged province would be refused; the
    stack loads the packaged catalog (devstack/catalog.py), once, and keeps a catalog of
    one's own whose codes have figures."""
    from devstack.catalog import ensure_packaged_catalog
    from shared.contract.validation import validate_event
    from shared.domain.catalog import parse_agencies_csv
    from shared.platform.config import Settings
    from shared.store.indicator_store import IndicatorStore
    from tests.factories import received
    from tests.fixtures import AGENCIES_2024

    url = isolated["redis_url"]
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"], redis_url=url, topics=isolated["topics"]
    )
    old = parse_agencies_csv(AGENCIES_2024.read_text(encoding="utf-8"))

    async def replace(catalog: AgencyCatalog, with_figures: str | None = None) -> None:
        redis = Redis.from_url(url)
        try:
            await CatalogStore(redis).replace_agencies(catalog.agencies.values(), allow_drop=True)
            if with_figures is not None:
                raw = received(agency=with_figures, at="2025-08-04T08:00:00+07:00")
                event = validate_event(raw, agencies=catalog)
                assert not isinstance(event, list)
                await IndicatorStore(redis).apply_many([event])
        finally:
            await redis.aclose()

    async def codes() -> frozenset[str]:
        redis = Redis.from_url(url)
        try:
            return (await CatalogCache(redis).current()).agencies.codes
        finally:
            await redis.aclose()

    asyncio.run(replace(old))
    note = ensure_packaged_catalog(url, settings)
    assert note == "agencies-an-giang.csv loaded (154 rows; 123 units were missing)"
    assert asyncio.run(codes()) == load_agencies().codes
    again = ensure_packaged_catalog(url, settings)
    assert again == "154 agencies, every unit of agencies-an-giang.csv among them"
    # a catalog of one's own, with figures under a code the packaged one lacks: kept
    own = reorganised()
    asyncio.run(replace(own, with_figures=NEW_AGENCY))
    kept = ensure_packaged_catalog(url, settings)
    assert kept.startswith("kept the catalog in Redis (42 agencies;") and NEW_AGENCY in kept
    assert asyncio.run(codes()) == own.codes
