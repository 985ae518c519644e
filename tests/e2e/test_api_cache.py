"""The API's response cache over HTTP: a repeated query is served from the cache, and any
write to the figures behind it — a new event, a rebuild that deletes them — shows in the
very next response that asks for fresh figures (``Cache-Control: no-cache``), and in every
response once ``api_stale_ms`` has passed (no time-to-live to wait out)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from services.ops.rebuild import rebuild
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings
from shared.store.indicator_store import IndicatorStore
from tests.factories import received

READ = {"Authorization": "Bearer dev-read-token"}


def apply(redis_url: str, events: list[dict[str, Any]]) -> None:
    async def go() -> None:
        redis = Redis.from_url(redis_url)
        codes = load_agencies().codes
        parsed = [validate_event(e, agencies=codes) for e in events]
        valid = [e for e in parsed if not isinstance(e, list)]
        assert len(valid) == len(events), parsed
        await IndicatorStore(redis).apply_many(valid)
        await redis.aclose()

    asyncio.run(go())


def cache_lookups(api_url: str) -> dict[str, float]:
    text = httpx.get(f"{api_url}/metrics", timeout=10).text
    out = {"hit": 0.0, "young": 0.0, "miss": 0.0}
    for line in text.splitlines():
        if line.startswith("egov_api_cache_lookups_total{"):
            result = line.split('result="', 1)[1].split('"', 1)[0]
            out[result] = float(line.rsplit(" ", 1)[1])
    return out


FRESH = {**READ, "Cache-Control": "no-cache"}
STALE_S = Settings().api_stale_ms / 1000


def get(api_url: str, path: str, **params: str) -> Any:
    return _get(api_url, path, READ, params)


def get_fresh(api_url: str, path: str, **params: str) -> Any:
    """Asking for the figures of this moment (``Cache-Control: no-cache``)."""
    return _get(api_url, path, FRESH, params)


def _get(api_url: str, path: str, headers: dict[str, str], params: dict[str, str]) -> Any:
    resp = httpx.get(f"{api_url}{path}", params=params, headers=headers, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def ranked(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {a["agency_code"]: (a["numerator"], a["denominator"]) for a in body["agencies"]}


@pytest.fixture()
def api(isolated, service_factory) -> str:
    url: str = service_factory("api", isolated["env"]).url
    return url


def test_cached_ranking_follows_every_write(api: str, isolated) -> None:
    url = isolated["redis_url"]
    apply(
        url,
        [
            received(agency="so-tttt", dossier="c1", channel="online"),
            received(agency="so-tttt", dossier="c2", channel="in_person"),
            received(agency="so-y-te", dossier="c3", channel="online"),
        ],
    )
    params = {"scope": "province", "period": "2024-03"}
    first = get(api, "/v1/rankings/online_rate", **params)
    assert ranked(first)["so-tttt"] == (1, 2) and ranked(first)["so-y-te"] == (1, 1)
    before = cache_lookups(api)
    assert get(api, "/v1/rankings/online_rate", **params) == first
    after = cache_lookups(api)  # from memory (young) or versions checked (hit): not computed
    assert after["hit"] + after["young"] == before["hit"] + before["young"] + 1
    assert after["miss"] == before["miss"]

    # one more event for one member agency: the very next response asking fresh has it
    c4 = received(agency="so-y-te", dossier="c4", channel="in_person")
    apply(url, [c4])
    second = get_fresh(api, "/v1/rankings/online_rate", **params)
    assert ranked(second)["so-y-te"] == (1, 2)
    assert ranked(second)["so-tttt"] == (1, 2)
    assert get(api, "/v1/rankings/online_rate", **params) == second  # and it is cached
    # another: once api_stale_ms has passed, every response has it
    apply(url, [received(agency="so-tttt", dossier="c5", channel="online")])
    time.sleep(STALE_S)
    third = get(api, "/v1/rankings/online_rate", **params)
    assert ranked(third)["so-tttt"] == (2, 3)
    # a redelivered event changes no figure and no version: served from the cache again
    single = get(api, "/v1/indicators/online_rate", scope="so-y-te", period="2024-03")
    assert (single["numerator"], single["denominator"]) == (1, 2)
    apply(url, [c4])
    time.sleep(STALE_S)  # past the young answers: the versions are read, and unchanged
    hits = cache_lookups(api)["hit"]
    assert get(api, "/v1/indicators/online_rate", scope="so-y-te", period="2024-03") == single
    assert cache_lookups(api)["hit"] == hits + 1

    # other routes and parameters are other entries
    assert get(api, "/v1/rankings/online_rate", top="2", **params)["best"][:2] == third["best"][:2]
    points = get(api, "/v1/series/online_rate", scope="so-y-te", period="2024-03-01..2024-03-02")
    assert [(p["numerator"], p["denominator"]) for p in points] == [(1, 2), (0, 0)]
    every = get(api, "/v1/scopes/so-y-te/indicators", period="2024-03")
    assert {v["indicator"]: (v["numerator"], v["denominator"]) for v in every}["online_rate"] == (
        1,
        2,
    )


def test_rebuild_invalidates_cached_figures(api: str, isolated) -> None:
    apply(isolated["redis_url"], [received(agency="so-tttt", dossier="r1", channel="online")])
    params = {"scope": "so-tttt", "period": "2024-03"}
    assert get(api, "/v1/indicators/online_rate", **params)["numerator"] == 1
    # a rebuild from the (empty) topics deletes the figures: the cache must not keep them
    settings = Settings(
        redis_url=isolated["redis_url"],
        kafka_bootstrap=isolated["bootstrap"],
        topics=isolated["topics"],
    )
    asyncio.run(rebuild(settings, show_progress=False))
    after = get_fresh(api, "/v1/indicators/online_rate", **params)
    assert (after["numerator"], after["denominator"]) == (0, 0)
