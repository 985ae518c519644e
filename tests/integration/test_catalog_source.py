"""Where the agency catalog comes from (issue 20, item 1), one rule on a real Redis: Redis'
catalog when it has one; the packaged CSV only to seed a Redis that never held one;
with Redis not answering, the last copy read from it — before any copy
``CatalogUnavailable`` (or, for the calculator, a wait), never the packaged file."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from shared.domain.catalog import load_agencies
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
