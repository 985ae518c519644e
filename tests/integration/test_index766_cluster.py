"""The Decision 766 index on a real Redis Cluster (3 primaries + 3 replicas): the read
script runs once per agency on that agency's slot (every key it names carries the agency's
hash tag), and ``GET /v1/index766`` answers the hand-computed figures of
``test_index766_api`` for a unit and the province, as on one server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from devstack.redis import RedisClusterServers
from services.api.app import create_app
from shared.platform.config import Settings
from shared.store.catalogs import CatalogStore
from shared.store.client import is_cluster, redis_from_url
from shared.store.indicator_store import IndicatorStore
from tests.integration.test_index766_api import (
    A_OCTOBER,
    HAND_CATALOG,
    A,
    counts,
    get,
    groups,
    hand_events,
    parse_all,
    points,
)

pytestmark = pytest.mark.integration


async def load_cluster(url: str) -> None:
    redis = redis_from_url(url)
    await CatalogStore(redis).replace_procedures(HAND_CATALOG)
    await IndicatorStore(redis).apply_many(parse_all(hand_events()))
    await redis.aclose()


def test_the_index_from_the_cluster(redis_cluster: RedisClusterServers) -> None:
    assert is_cluster(redis_cluster.url)
    asyncio.run(load_cluster(redis_cluster.url))
    with TestClient(create_app(Settings(redis_url=redis_cluster.url))) as client:
        body: dict[str, Any] = get(client, A, "2026-10")
        assert counts(body) == {m: c for m, (c, _) in A_OCTOBER.items()}
        assert points(body) == {m: p for m, (_, p) in A_OCTOBER.items()}
        assert body["total"] == 41.27
        province = get(client, "province", "2026-10")
        assert counts(province)["ON_TIME"] == (4, 7)
        assert province["total"] == 43.93 and groups(province)["MDSH"] == 5.30
        ranking = client.get(
            "/v1/index766/rankings",
            params={"group": "so_nganh", "period": "2026-10"},
            headers={"Authorization": "Bearer dev-read-token"},
        )
        assert ranking.status_code == 200 and ranking.json()["units"][-1]["agency_code"] == A
        page = client.get("/public/chi-so-766", params={"month": "2026-10"})
        assert page.status_code == 200 and 'data-total="43.93"' in page.text
