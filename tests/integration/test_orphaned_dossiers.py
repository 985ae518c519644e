"""Open dossiers of ended units (domain README §4b, issue 18 item 2), against a real Redis:
events applied by the calculator's path (``IndicatorStore.apply_many``), a hand-made agency
catalog whose dates are relative to today, and the API, the board and the overdue alerts
reading them.

- ``cu-a`` ended 5 days ago with 3 open dossiers (one overdue) and one resolved; its
  successor ``moi-s`` started the day after. ``cu-z`` ended before it, naming ``cu-a``: its
  open dossier follows the chain to ``moi-s``.
- ``cu-b`` (a district) ended 5 days ago with 2 open dossiers and no successor; ``cu-d``
  ended too, its successor ``moi-t`` starts in 10 days: both are orphaned today.
- ``cu-c`` ends in 30 days (successor ``moi-s``): its overdue dossier is still its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from services.alerts.engine import AlertEngine
from services.alerts.messages import subject
from shared.contract.validation import validate_event
from shared.domain.alerts import Rule, alert_key
from shared.domain.calendar import LOCAL_TZ, now_utc, today_local
from shared.domain.catalog import Agency, AgencyCatalog, AgencyGroup, AgencyLevel
from shared.platform.config import Settings
from shared.store.catalogs import CatalogStore
from shared.store.indicator_store import IndicatorStore
from tests.api_client import api_on, get_json
from tests.conftest import redis_db
from tests.integration.test_index766_api import dossier, received

pytestmark = pytest.mark.integration

DB = 6
TODAY = today_local()


def day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


def at(offset: int, hour: int = 9) -> str:
    return datetime.combine(day(offset), time(hour), LOCAL_TZ).isoformat()


def unit(code: str, name: str, **kw: Any) -> Agency:
    group = kw.pop("group", AgencyGroup.so_nganh)
    level = kw.pop("level", AgencyLevel.tinh)
    return Agency(agency_code=code, name=name, group=group, level=level, **kw)


CATALOG = AgencyCatalog(
    [
        unit("cu-z", "Sở Z cũ", valid_to=day(-30), successor_code="cu-a"),
        unit("cu-a", "Sở A cũ", valid_to=day(-5), successor_code="moi-s"),
        unit("moi-s", "Sở S mới", valid_from=day(-4)),
        unit(
            "cu-b",
            "UBND huyện B",
            group=AgencyGroup.dia_phuong,
            level=AgencyLevel.huyen,
            valid_to=day(-5),
        ),
        unit("cu-c", "Sở C", valid_to=day(30), successor_code="moi-s"),
        unit("cu-d", "Sở D cũ", valid_to=day(-5), successor_code="moi-t"),
        unit("moi-t", "Sở T mới", valid_from=day(10)),
    ]
)


def events() -> list[dict[str, Any]]:
    return [
        received("cu-a", "a1", at(-20), "p1", at(-1, 17)),  # overdue
        received("cu-a", "a2", at(-20), "p1", at(3, 17)),
        received("cu-a", "a3", at(-20), "p1", at(10, 17)),
        received("cu-a", "a4", at(-20), "p1", at(10, 17)),
        dossier("resolved", at(-10), "cu-a", "a4", "p1", due_at=at(10, 17), outcome="approved"),
        received("cu-z", "z1", at(-40), "p1", at(15, 17)),
        received("moi-s", "s1", at(-3), "p1", at(20, 17)),
        received("cu-b", "b1", at(-20), "p1", at(-2, 17)),  # overdue
        received("cu-b", "b2", at(-20), "p1", at(5, 17)),
        received("cu-c", "c1", at(-20), "p1", at(-1, 17)),  # overdue
        received("cu-d", "d1", at(-20), "p1", at(5, 17)),
    ]


async def load(url: str) -> None:
    redis = Redis.from_url(url)
    await redis.flushdb()
    await CatalogStore(redis).replace_agencies(CATALOG.agencies.values())
    parsed = []
    for raw in events():
        event = validate_event(raw, agencies=CATALOG, now=now_utc())
        assert not isinstance(event, list), (raw, event)
        parsed.append(event)
    await IndicatorStore(redis).apply_many(parsed)
    await redis.aclose()


@pytest.fixture(scope="module")
def url(redis_server: Any) -> str:
    url = redis_db(redis_server, DB)
    asyncio.run(load(url))
    return url


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[TestClient]:
    with api_on(url) as c:
        yield c


get = get_json


def test_a_successor_lists_its_ended_predecessors_open_dossiers(client: TestClient) -> None:
    body = get(client, "/v1/dossiers/open", scope="province", limit=50)
    rows = {r["agency_code"]: r for r in body["agencies"]}
    assert set(rows) == {"moi-s", "cu-c"}  # the units valid today
    s = rows["moi-s"]
    # its own s1, cu-a's a1-a3 (a4 resolved), cu-z's z1 through cu-a
    assert (s["open"], s["overdue"], s["due_within_24h"]) == (5, 1, 0)
    assert s["overdue_ids"] == ["a1"]
    moved = {m["from_agency_code"]: m for m in s["moved_in"]}
    assert set(moved) == {"cu-a", "cu-z"}
    a = moved["cu-a"]
    assert a["marker"] == "chuyển từ Sở A cũ" and a["from_name"] == "Sở A cũ"
    assert (a["open"], a["overdue"]) == (3, 1)
    assert a["moved_on"] == day(-4).isoformat()  # the start of the successor's validity
    listed = [(d["dossier_id"], d["overdue"]) for d in a["dossiers"]]
    assert listed == [("a1", True), ("a2", False), ("a3", False)]  # earliest due first
    assert datetime.fromisoformat(a["dossiers"][0]["due_at"]) == datetime.fromisoformat(at(-1, 17))
    assert moved["cu-z"]["marker"] == "chuyển từ Sở Z cũ"
    assert [d["dossier_id"] for d in moved["cu-z"]["dossiers"]] == ["z1"]
    # before its valid_to, cu-c's overdue dossier is its own, not its successor's
    c = rows["cu-c"]
    assert (c["open"], c["overdue"], c["overdue_ids"], c["moved_in"]) == (1, 1, ["c1"], [])
    assert (body["open"], body["overdue"]) == (6, 2)
    one = get(client, "/v1/dossiers/open", scope="moi-s", limit=0)
    assert one["agencies"][0]["overdue"] == 1 and one["agencies"][0]["overdue_ids"] == []
    # the ended unit asked for by code: its dossiers as they stand, counted at moi-s
    (old,) = get(client, "/v1/dossiers/open", scope="cu-a")["agencies"]
    assert (old["open"], old["overdue"], old["overdue_ids"]) == (3, 1, ["a1"])
    assert old["held_by"] == "moi-s" and old["orphaned"] is False
    (orphan,) = get(client, "/v1/dossiers/open", scope="cu-b")["agencies"]
    assert (orphan["open"], orphan["held_by"], orphan["orphaned"]) == (2, None, True)


def test_the_old_units_figures_stay_where_they_happened(client: TestClient) -> None:
    path = "/v1/indicators/full_online_rate"
    old = get(client, path, scope="cu-a", period=str(day(-20).year))
    assert old["denominator"] == 4  # a1-a4 received at cu-a, counted there
    new = get(client, path, scope="moi-s", period=str(day(-3).year))
    assert new["denominator"] == 1  # s1 only: nothing moved into the successor's counts


def test_ended_units_without_a_successor_are_listed_as_orphaned(client: TestClient) -> None:
    body = get(client, "/v1/dossiers/orphaned")
    rows = body["agencies"]
    assert [r["agency_code"] for r in rows] == ["cu-b", "cu-d"]  # the most overdue first
    b, d = rows
    assert (b["open"], b["overdue"], b["successor_code"]) == (2, 1, None)
    assert b["valid_to"] == day(-5).isoformat() and b["name"] == "UBND huyện B"
    assert [(x["dossier_id"], x["overdue"]) for x in b["dossiers"]] == [
        ("b1", True),
        ("b2", False),
    ]
    # its successor has not started yet: orphaned until then
    assert (d["open"], d["overdue"], d["successor_code"]) == (1, 0, "moi-t")
    assert (body["open"], body["overdue"]) == (3, 1)
    assert client.get("/v1/dossiers/orphaned").status_code == 401  # read token


def test_the_board_shows_moved_and_orphaned_dossiers(client: TestClient) -> None:
    login = client.post("/board/login", data={"token": "dev-read-token"}, follow_redirects=False)
    assert login.status_code == 303
    html = client.get("/board").text
    assert "Hồ sơ mồ côi" in html
    assert 'data-orphaned="cu-b"' in html and 'data-orphaned="cu-d"' in html
    for ident in ("b1", "b2", "d1"):
        assert f'data-orphan-dossier="{ident}"' in html
    assert 'data-figure="orphaned-overdue" data-agency="cu-b" data-value="1"' in html
    assert 'data-moved-from="cu-a" data-agency="moi-s"' in html
    assert "gồm 3 hồ sơ chuyển từ Sở A cũ, 1 quá hạn" in html
    assert 'data-figure="overdue" data-agency="moi-s" data-value="1"' in html
    assert 'data-agency="cu-a"' not in html.split('id="mo-coi"')[0].split('id="qua-han"')[1]


def test_overdue_alerts_follow_the_dossiers(url: str) -> None:
    class Clock:
        at = now_utc()

        def __call__(self) -> datetime:
            return self.at

    async def scenario() -> dict[str, Any]:
        redis = Redis.from_url(url)
        clock = Clock()
        engine = AlertEngine(Settings(redis_url=url), redis, clock=clock)
        out: dict[str, Any] = {}
        try:
            await engine.check_overdue()
            out["now"] = {a.scope: a for a in await engine.store.firing()}
            clock.at += timedelta(days=31)  # cu-c's valid_to has passed
            await engine.check_overdue()
            out["later"] = {a.scope: a for a in await engine.store.firing()}
            out["cu-c"] = await engine.store.get(alert_key(Rule.overdue, "cu-c", None, "open"))
        finally:
            await redis.aclose()
        return out

    seen = asyncio.run(scenario())
    now = {s: a for s, a in seen["now"].items() if a.rule is Rule.overdue}
    assert set(now) == {"moi-s", "cu-b", "cu-c"}  # never under cu-a, whose dossiers moved
    assert now["moi-s"].details["count"] == 1 and now["moi-s"].details["moved_in"] == {"cu-a": 1}
    assert now["moi-s"].details["dossier_ids"] == ["a1"]
    assert "1 hồ sơ quá hạn (gồm 1 hồ sơ chuyển từ Sở A cũ)" in subject(now["moi-s"])
    assert now["cu-b"].details["orphaned"] is True and now["cu-b"].details["count"] == 1
    assert "hồ sơ mồ côi" in subject(now["cu-b"])
    later = {s: a for s, a in seen["later"].items() if a.rule is Rule.overdue}
    # 31 days on, every open dossier is past due: s1, a1-a3, z1 and cu-c's c1 at moi-s
    assert later["moi-s"].details["count"] == 6 and "cu-c" not in later
    # cu-d's successor has started: d1 is no longer orphaned
    assert later["moi-t"].details["moved_in"] == {"cu-d": 1} and "cu-d" not in later
    resolved = seen["cu-c"]
    assert resolved is not None
    assert resolved.state.value == "resolved" and resolved.details["moved_to"] == "moi-s"
    assert "chuyển sang Sở S mới" in subject(resolved)
