"""The per-procedure view and the EMC-basis full-online rate (issue 18, item 5) through HTTP:
events applied by the calculator's path (``IndicatorStore.apply_many``) into a real Redis,
a hand-made procedure catalog, and ``GET /v1/procedures/{code}/indicators``,
``GET /v1/scopes/{scope}/procedures``, ``GET /v1/indicators/emc_full_online_rate`` and the
scorecard's two definitions — every figure counted by hand below."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from shared.domain.indicators import FULL_ONLINE_DEFINITIONS_VI
from shared.platform.config import Settings
from shared.store.indicator_store import IndicatorStore
from tests.api_client import READ, api_on, get_json
from tests.conftest import redis_db
from tests.integration.test_index766_api import dossier, load, parse_all, proc, received

pytestmark = pytest.mark.integration

A, C = "H01.05", "H01.101"  # a department, a commune
OCT = "2026-10-{:02d}T09:00:00+07:00"
DUE = "2026-10-25T17:00:00+07:00"

CATALOG = [
    proc("pX1", A, "full_online", eligible=True),
    proc("pX2", A, "partial_online", eligible=True),
    proc("pX3", A, "in_person_only"),  # no dossier at all
    proc("pC1", C, "full_online", eligible=True),
]


def events() -> list[dict[str, Any]]:
    o = OCT.format
    return [
        # pX1 (full_online): x1 online, resolved; x2 online, intake rejected (in no figure);
        # x3 in person, resolved; x4 online, open
        received(A, "x1", o(1), "pX1", DUE, online=True),
        dossier("resolved", o(5), A, "x1", "pX1", due_at=DUE, outcome="approved"),
        received(A, "x2", o(2), "pX1", DUE, online=True),
        dossier("intake_rejected", o(2), A, "x2", "pX1", reason="thiếu giấy tờ"),
        received(A, "x3", o(3), "pX1", DUE, level="full_online"),
        dossier("resolved", o(8), A, "x3", "pX1", due_at=DUE, outcome="approved"),
        received(A, "x4", o(4), "pX1", DUE, online=True),
        # pX2 (partial_online): x5 online, resolved, returned electronically; x6-x8 in person
        received(A, "x5", o(5), "pX2", DUE, online=True, level="partial_online"),
        dossier("resolved", o(9), A, "x5", "pX2", due_at=DUE, outcome="approved"),
        dossier("returned", o(10), A, "x5", "pX2", result_electronic=True),
        received(A, "x6", o(6), "pX2", DUE),
        received(A, "x7", o(7), "pX2", DUE),
        received(A, "x8", o(8), "pX2", DUE),
        # y1: received full-online in September, resolved in October (EMC's denominator)
        received(A, "y1", "2026-09-28T09:00:00+07:00", "pX1", DUE, online=True),
        dossier("resolved", o(2), A, "y1", "pX1", due_at=DUE, outcome="approved"),
        # the commune: one full-online dossier
        received(C, "c1", o(7), "pC1", DUE, online=True),
    ]


@pytest.fixture(scope="module")
def url(redis_server: Any) -> str:
    url = redis_db(redis_server, 15)
    asyncio.run(load(url, CATALOG, events()))
    return url


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[TestClient]:
    with api_on(url) as c:
        yield c


get = get_json


FIGURES = (
    "received",
    "online",
    "full_online",
    "returned_electronic",
    "online_rate",
    "full_online_rate",
    "returned_electronic_rate",
)


def figures(body: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(body[k] for k in FIGURES)


def test_one_procedure_hand_counted(client: TestClient) -> None:
    body = get(client, "/v1/procedures/pX1/indicators", scope=A, period="2026-10")
    # x1, x3, x4 received (x2 rejected, y1 in September); x1, x4 online and full-online
    assert figures(body) == (3, 2, 2, 0, pytest.approx(200 / 3), pytest.approx(200 / 3), 0.0)
    assert body["name"] == "Thủ tục pX1" and body["agency_code"] == A
    assert body["service_level"] == "full_online"
    assert (body["period_start"], body["period_end"]) == ("2026-10-01", "2026-10-31")
    assert body["labels_vi"]["full_online_rate"] == "Tỷ lệ hồ sơ trực tuyến toàn trình (%)"
    partial = get(client, "/v1/procedures/pX2/indicators", scope=A, period="2026-10")
    assert figures(partial) == (4, 1, 0, 1, 25.0, 0.0, 25.0)
    # the year adds y1 (September); the province sums every agency (only A has pX1)
    year = get(client, "/v1/procedures/pX1/indicators", scope="province", period="2026")
    assert figures(year)[:4] == (4, 3, 3, 0)
    assert year["full_online_rate"] == 75.0
    q3 = get(client, "/v1/procedures/pX1/indicators", scope=A, period="2026-Q3")
    assert figures(q3)[:4] == (1, 1, 1, 0)


def test_a_procedure_without_dossiers_is_not_evaluated(client: TestClient) -> None:
    body = get(client, "/v1/procedures/pX3/indicators", scope=A, period="2026-10")
    assert figures(body) == (0, 0, 0, 0, None, None, None)


def test_unknown_procedure_scope_and_period_name_the_field(client: TestClient) -> None:
    resp = client.get("/v1/procedures/nope/indicators", params={"period": "2026"}, headers=READ)
    assert resp.status_code == 404 and resp.json()["field"] == "code"
    assert "nope" in resp.json()["message_vi"]
    resp = client.get(
        "/v1/procedures/pX1/indicators", params={"period": "2026", "scope": "x"}, headers=READ
    )
    assert resp.status_code == 400 and resp.json()["field"] == "scope"
    resp = client.get("/v1/scopes/x/procedures", params={"period": "2026"}, headers=READ)
    assert resp.status_code == 400 and resp.json()["field"] == "scope"
    for period in ("2026-10-05", "rolling:30d"):  # not whole months
        resp = client.get("/v1/scopes/province/procedures", params={"period": period}, headers=READ)
        assert resp.status_code == 400 and resp.json()["field"] == "period", period
    assert client.get("/v1/procedures/pX1/indicators", params={"period": "2026"}).status_code == 401


def test_procedures_ranked_by_volume(client: TestClient) -> None:
    body = get(client, "/v1/scopes/H01.05/procedures", period="2026-10")
    assert (body["received"], body["procedures"]) == (7, 3)
    rows = [
        (r["rank"], r["procedure_code"], r["received"], r["full_online"]) for r in body["items"]
    ]
    assert rows == [(1, "pX2", 4, 0), (2, "pX1", 3, 2), (3, "pX3", 0, 0)]
    shares = [r["share_of_scope"] for r in body["items"]]
    assert shares == [pytest.approx(400 / 7), pytest.approx(300 / 7), 0.0]
    assert body["items"][1]["full_online_rate"] == pytest.approx(200 / 3)
    assert body["items"][2]["full_online_rate"] is None
    province = get(client, "/v1/scopes/province/procedures", period="2026-10", limit=2)
    assert (province["received"], province["procedures"]) == (8, 4)
    assert [r["procedure_code"] for r in province["items"]] == ["pX2", "pX1"]
    commune = get(client, "/v1/scopes/H01.101/procedures", period="2026-10")
    assert [(r["procedure_code"], r["full_online_rate"]) for r in commune["items"]] == [
        ("pC1", 100.0)
    ]


def test_emc_basis_beside_the_province_definition(client: TestClient) -> None:
    emc = get(client, "/v1/indicators/emc_full_online_rate", scope=A, period="2026-10")
    # full-online received in October: x1, x4; resolved in October: x1, x3, x5, y1
    assert (emc["numerator"], emc["denominator"], emc["value"]) == (2, 4, 50.0)
    assert emc["name_vi"] == "Tỷ lệ hồ sơ trực tuyến toàn trình (cách tính EMC)"
    own = get(client, "/v1/indicators/full_online_rate", scope=A, period="2026-10")
    assert (own["numerator"], own["denominator"]) == (2, 7)
    card = get(client, "/v1/scorecard", scope=A, period="2026-10")
    both = card["full_online"]
    assert (both["province"]["numerator"], both["province"]["denominator"]) == (2, 7)
    assert both["province"]["value"] == pytest.approx(200 / 7)
    assert (both["emc"]["numerator"], both["emc"]["denominator"], both["emc"]["value"]) == (
        2,
        4,
        50.0,
    )
    assert both["note_vi"] == FULL_ONLINE_DEFINITIONS_VI
    assert "÷ hồ sơ tiếp nhận" in both["note_vi"] and "÷ hồ sơ đã giải quyết" in both["note_vi"]


def test_a_new_dossier_reaches_the_cached_view(client: TestClient, url: str) -> None:
    before = get(client, "/v1/procedures/pX3/indicators", scope=A, period="2026-11")
    assert before["received"] == 0
    assert get(client, "/v1/procedures/pX3/indicators", scope=A, period="2026-11") == before

    async def apply() -> None:
        redis = Redis.from_url(url)
        event = received(A, "z1", "2026-11-02T09:00:00+07:00", "pX3", "2026-11-20T17:00:00+07:00")
        await IndicatorStore(redis).apply_many(parse_all([event]))
        await redis.aclose()

    asyncio.run(apply())
    # a cached response may answer for api_stale_ms after its figures changed (its new
    # computation runs behind it); past that bound the first read holds the new dossier
    time.sleep(Settings().api_stale_ms / 1000)
    after = get(client, "/v1/procedures/pX3/indicators", scope=A, period="2026-11")
    assert figures(after)[:4] == (1, 0, 0, 0)
    ranking = get(client, "/v1/scopes/H01.05/procedures", period="2026-11")
    first = ranking["items"][0]
    assert (first["procedure_code"], first["received"], ranking["received"]) == ("pX3", 1, 1)
