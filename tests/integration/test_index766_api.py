"""The Decision 766 index through the real path: events applied by the calculator's script
(``IndicatorStore.apply_many``), the catalog in Redis, and ``GET /v1/index766`` /
``/v1/index766/rankings`` — hand-computed scores for a unit, a group and the province, by
month, quarter and year; and the national portal's reference of issue 19 (one unit, the
counts scaled down keeping the ratios) reproduced to the cent."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from services.api.app import create_app
from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.domain.procedures import Procedure
from shared.platform.config import Settings
from shared.store.catalogs import CatalogStore
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 3, tzinfo=UTC)
READ = {"Authorization": "Bearer dev-read-token"}
A, B, C = "H01.05", "H01.06", "H01.101"  # two so_nganh units, one dia_phuong
_ids = itertools.count(1)


def proc(code: str, agency: str, level: str = "partial_online", **flags: bool) -> Procedure:
    return Procedure(
        procedure_code=code,
        agency_code=agency,
        name=f"Thủ tục {code}",
        service_level=level,
        eligible_full_online=flags.get("eligible", False),
        fee_required=flags.get("fee", False),
        citizen_data_connected=flags.get("citizen", False),
        certified_copy=flags.get("certified", False),
    )


def ev(event_type: str, at: str, agency: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"i766-{next(_ids)}",
        "event_type": event_type,
        "occurred_at": at,
        "agency_code": agency,
        **fields,
    }


def received(
    agency: str, dossier: str, at: str, procedure: str, due: str, online: bool = False, **kw: Any
) -> dict[str, Any]:
    extra: dict[str, Any] = (
        {"channel": "online", "submitted_by": "citizen"} if online else {"channel": "in_person"}
    )
    return ev(
        "received",
        at,
        agency,
        dossier_id=dossier,
        procedure_code=procedure,
        service_level=kw.pop("level", "full_online" if online else "partial_online"),
        due_at=due,
        **extra,
        **kw,
    )


def dossier(event_type: str, at: str, agency: str, ident: str, procedure: str, **kw: Any) -> dict:  # type: ignore[type-arg]
    return ev(event_type, at, agency, dossier_id=ident, procedure_code=procedure, **kw)


def petition(event_type: str, at: str, agency: str, ident: str, **kw: Any) -> dict:  # type: ignore[type-arg]
    return ev(event_type, at, agency, petition_id=ident, **kw)


def published(at: str, agency: str, procedure: str, flags: str) -> dict[str, Any]:
    d, p, po, c = (f == "1" for f in flags)
    return ev(
        "procedure_published",
        at,
        agency,
        procedure_code=procedure,
        decision_on_time=d,
        publicized=p,
        publicized_on_time=po,
        content_complete=c,
    )


def parse_all(raw: list[dict[str, Any]]) -> list[Event]:
    agencies = load_agencies().codes
    out = []
    for r in raw:
        parsed = validate_event(r, agencies=agencies, now=NOW)
        assert not isinstance(parsed, list), (r, parsed)
        out.append(parsed)
    return out


async def load(url: str, procedures: list[Procedure], raw: list[dict[str, Any]]) -> None:
    redis = Redis.from_url(url)
    await redis.flushdb()
    await CatalogStore(redis).replace_procedures(procedures)
    events = parse_all(raw)
    store = IndicatorStore(redis)
    for i in range(0, len(events), 2000):
        await store.apply_many(events[i : i + 2000])
    await redis.aclose()


# --- a hand-computed month: units A, B (so_nganh) and C (dia_phuong), October 2026 ------

OCT = "2026-10-{:02d}T09:00:00+07:00"
LATE_DUE = "2030-01-01T00:00:00+07:00"

HAND_CATALOG = [
    proc("pA1", A, "full_online", eligible=True, fee=True, citizen=True),
    proc("pA2", A, "partial_online", eligible=True, fee=True),
    proc("pA3", A, "partial_online", certified=True),
    proc("pA4", A, "in_person_only", fee=True),
    proc("pB1", B, "full_online", eligible=True, fee=True, citizen=True),
]


def hand_events() -> list[dict[str, Any]]:
    o = OCT.format
    out = [
        # a1: online under a full_online procedure, digitized, reused, citizen data; synced,
        # resolved on time, returned electronically, paid online
        received(
            A,
            "a1",
            o(1),
            "pA1",
            o(20),
            online=True,
            digitized=True,
            reused_digitized_data=True,
            citizen_data_used=True,
        ),
        dossier("portal_synced", o(1), A, "a1", "pA1"),
        dossier("resolved", o(5), A, "a1", "pA1", due_at=o(20), outcome="approved"),
        dossier("returned", o(6), A, "a1", "pA1", result_electronic=True),
        dossier("payment", o(2), A, "a1", "pA1", method="online", amount_vnd=50000),
        # a2: in person, resolved late, paid offline
        received(A, "a2", o(2), "pA1", o(10), level="full_online"),
        dossier("resolved", o(15), A, "a2", "pA1", due_at=o(10), outcome="approved"),
        dossier("payment", o(3), A, "a2", "pA1", method="offline", amount_vnd=50000),
        # a3: open, due 20 October: overdue at the month's end
        received(A, "a3", o(3), "pA2", o(20), online=True, level="partial_online"),
        # a4: a certified copy returned electronically, digitized and shared
        received(A, "a4", o(4), "pA3", o(25), digitized_shared=True),
        dossier("resolved", o(8), A, "a4", "pA3", due_at=o(25), outcome="approved"),
        dossier("returned", o(9), A, "a4", "pA3", result_electronic=True),
        # a5: a certified copy, open, due 15 November (on time at October's end, overdue
        # since), rated unsatisfied
        received(A, "a5", o(5), "pA3", "2026-11-15T17:00:00+07:00"),
        dossier("rated", o(6), A, "a5", "pA3", satisfaction="unsatisfied"),
        # a6: intake rejected: in no figure
        received(A, "a6", o(6), "pA1", o(20), online=True),
        dossier("intake_rejected", o(6), A, "a6", "pA1", reason="thiếu giấy tờ"),
        # petitions: k1 on time, k2 late, k3 open and overdue rated unsatisfied, k4 on time
        # rated unsatisfied
        petition("petition_received", o(1), A, "k1", classification="procedure", due_at=o(10)),
        petition("petition_resolved", o(5), A, "k1"),
        petition("petition_received", o(1), A, "k2", classification="staff", due_at=o(10)),
        petition("petition_resolved", o(12), A, "k2"),
        petition("petition_received", o(1), A, "k3", classification="other", due_at=o(25)),
        petition("petition_rated", o(2), A, "k3", satisfaction="unsatisfied"),
        petition("petition_received", o(1), A, "k4", classification="other", due_at=o(10)),
        petition("petition_resolved", o(3), A, "k4"),
        petition("petition_rated", o(4), A, "k4", satisfaction="unsatisfied"),
        # publications: pA1 twice (the latest counts), pA2; pA3 in September
        published(o(5), A, "pA1", "1111"),
        published(o(20), A, "pA1", "0101"),
        published(o(10), A, "pA2", "1000"),
        published("2026-09-10T09:00:00+07:00", A, "pA3", "1111"),
        # B: one dossier, online full process, synced, on time, paid online
        received(B, "b1", o(7), "pB1", o(20), online=True),
        dossier("portal_synced", o(7), B, "b1", "pB1"),
        dossier("resolved", o(8), B, "b1", "pB1", due_at=o(20), outcome="approved"),
        dossier("payment", o(8), B, "b1", "pB1", method="online", amount_vnd=10000),
        # C: one dossier in person, resolved late
        received(C, "c1", o(7), "pC1", o(10)),
        dossier("resolved", o(12), C, "c1", "pC1", due_at=o(10), outcome="approved"),
    ]
    return out


@pytest.fixture(scope="module")
def hand(redis_server: Any) -> Iterator[TestClient]:
    url = redis_db(redis_server, 14)
    asyncio.run(load(url, HAND_CATALOG, hand_events()))
    with TestClient(create_app(Settings(redis_url=url))) as client:
        yield client


def get(client: TestClient, scope: str, period: str) -> dict[str, Any]:
    resp = client.get("/v1/index766", params={"scope": scope, "period": period}, headers=READ)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def counts(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {m["metric"]: (m["numerator"], m["denominator"]) for m in body["metrics"]}


def points(body: dict[str, Any]) -> dict[str, float | None]:
    return {m["metric"]: m["points"] for m in body["metrics"]}


def groups(body: dict[str, Any]) -> dict[str, float]:
    return {g["group"]: g["points"] for g in body["groups"]}


A_OCTOBER = {
    "PUBLISH_ON_TIME": ((1, 2), 3.00),
    "PUBLIC_UPDATE_ON_TIME": ((0, 2), 0.00),
    "PUBLIC_CONTENT_FULL": ((1, 1), 2.00),
    "DOSSIER_SYNC": ((1, 5), 1.20),
    "ON_TIME": ((3, 5), 12.00),  # a2 late, a3 open past due
    "ONLINE_FULL_PROCESS": ((1, 3), 4.00),  # a1 / dossiers of pA1, pA2
    "PAYMENT_DOSSIER_ONLINE": ((1, 2), 3.00),
    "PAYMENT_PROCEDURE_TRANSACTED": ((1, 3), 0.83),  # threshold 80 %
    "PAYMENT_PROCEDURE_WITH_DOSSIERS": ((2, 3), 1.67),
    "ORIGINAL_RESULT_AVAILABLE": ((2, 5), 2.40),
    "SO_HOA_GIAY_TO_GIAI_QUYET": ((1, 5), 0.80),
    "REUSED_DIGITIZED_DATA": ((1, 5), 0.50),
    "SYNCED_WITH_DVCQG_PERSONAL_STORAGE": ((1, 5), 0.80),
    "CITIZEN_DATA_CONNECTED_DOSSIER": ((1, 5), 0.40),
    "CITIZEN_DATA_CONNECTED_FORMALITY": ((1, 4), 0.50),
    "ELECTRONIC_CERTIFIED_COPY": ((1, 2), 1.00),
    # 5 − unsatisfied or late (a2, a5) − open overdue (a3) + of those rated unsatisfied (0)
    "DOSSIER_RECEIVING_SATISFACTION": ((2, 5), 2.67),
    "PETITION_PROCESSING_ON_TIME": ((2, 4), 3.00),
    # 4 − unsatisfied or late (k2, k3, k4) − open overdue (k3) + of those unsatisfied (k3)
    "PETITION_HANDLING_SATISFACTION": ((1, 4), 1.50),
    "PETITION_CLASSIFICATION_TTHC": ((1, 4), None),
    "PETITION_CLASSIFICATION_STAFF": ((1, 4), None),
}


def test_a_unit_month_hand_computed(hand: TestClient) -> None:
    body = get(hand, A, "2026-10")
    assert counts(body) == {m: c for m, (c, _) in A_OCTOBER.items()}
    assert points(body) == {m: p for m, (_, p) in A_OCTOBER.items()}
    assert groups(body) == {
        "CKMB": 6.20,
        "TDGQ": 12.00,
        "CLGQ": 4.00,
        "TTTT": 5.50,
        "MDSH": 6.40,
        "MDHL": 7.17,
    }
    assert body["total"] == 41.27 and body["band"] == "Yếu"
    assert body["version"] == "portal-2026" and body["closed"] is True
    assert body["evaluated_at"].startswith("2026-11-01T00:00:00+07:00")
    on_time = next(m for m in body["metrics"] if m["metric"] == "ON_TIME")
    assert on_time["ratio"] == 60.0 and on_time["max"] == 20.0
    assert body["scope_name"] == "Sở Khoa học và Công nghệ" and body["agencies"] == 1


def test_the_evaluation_instant_judges_open_dossiers(hand: TestClient) -> None:
    """a5 (due 15 November) is on time at October's end, overdue in the quarter and the
    year (judged now); the year also counts pA3's September publication."""
    quarter = get(hand, A, "2026-Q4")
    assert counts(quarter)["ON_TIME"] == (2, 5)
    assert counts(quarter)["DOSSIER_RECEIVING_SATISFACTION"] == (2, 5)  # a5 in du: once
    assert quarter["closed"] is False
    assert quarter["total"] == pytest.approx(41.27 - 12.00 + 8.00)
    year = get(hand, A, "2026")
    c = counts(year)
    assert (c["PUBLISH_ON_TIME"], c["PUBLIC_UPDATE_ON_TIME"], c["PUBLIC_CONTENT_FULL"]) == (
        (2, 3),
        (1, 3),
        (2, 2),
    )
    assert groups(year)["CKMB"] == 8.53  # 4.00 + 1.33 + 2.00 + 1.20
    assert year["total"] == 39.60
    # November: nothing received nor published, every metric 0/0 (full points) but the
    # catalog's: fee procedures without payment nor dossier 0/3, connected procedures 1/4
    november = get(hand, A, "2026-11")
    assert {m: c for m, c in counts(november).items() if c != (0, 0)} == {
        "PAYMENT_PROCEDURE_TRANSACTED": (0, 3),
        "PAYMENT_PROCEDURE_WITH_DOSSIERS": (0, 3),
        "CITIZEN_DATA_CONNECTED_FORMALITY": (1, 4),
    }
    assert november["total"] == 94.50 and november["band"] == "Xuất sắc"


def test_aggregates_sum_counts(hand: TestClient) -> None:
    so_nganh = get(hand, "group:so_nganh", "2026-10")
    assert so_nganh["agencies"] > 2
    c = counts(so_nganh)
    assert c["ON_TIME"] == (4, 6) and c["ONLINE_FULL_PROCESS"] == (2, 4)
    assert c["PAYMENT_PROCEDURE_WITH_DOSSIERS"] == (3, 4)
    assert c["CITIZEN_DATA_CONNECTED_FORMALITY"] == (2, 5)
    assert groups(so_nganh) == {
        "CKMB": 7.00,
        "TDGQ": 13.33,
        "CLGQ": 6.00,
        "TTTT": 7.13,  # 4.00 + 1.25 + 1.88 (1.875 half up)
        "MDSH": 5.89,
        "MDHL": 7.83,
    }
    assert so_nganh["total"] == 47.18
    dia_phuong = get(hand, "group:dia_phuong", "2026-10")
    # C alone: 0/1 on time and satisfaction, every catalog and petition metric 0/0
    assert dia_phuong["total"] == 50.00 and dia_phuong["band"] == "Trung bình"
    province = get(hand, "province", "2026-10")
    assert counts(province)["ON_TIME"] == (4, 7)
    assert groups(province) == {
        "CKMB": 6.71,
        "TDGQ": 11.43,
        "CLGQ": 6.00,
        "TTTT": 7.13,
        "MDSH": 5.30,
        "MDHL": 7.36,
    }
    assert province["total"] == 43.93
    # the quarter: a5 overdue now in every aggregate holding A (ON_TIME 3/7: 8.57)
    q4 = get(hand, "province", "2026-Q4")
    assert counts(q4)["ON_TIME"] == (3, 7) and q4["total"] == 41.07  # 43.93 − 11.43 + 8.57
    # the year: pA3's September publication too (CKMB 4.00 + 1.33 + 2.00 + 2.00)
    year = get(hand, "group:so_nganh", "2026")
    assert counts(year)["ON_TIME"] == (3, 6)
    assert groups(year) == {
        "CKMB": 9.33,
        "TDGQ": 10.00,
        "CLGQ": 6.00,
        "TTTT": 7.13,
        "MDSH": 5.89,
        "MDHL": 7.83,
    }
    assert year["total"] == 46.18


def test_rankings_by_total_then_code(hand: TestClient) -> None:
    resp = hand.get(
        "/v1/index766/rankings", params={"group": "so_nganh", "period": "2026-10"}, headers=READ
    )
    assert resp.status_code == 200, resp.text
    units = resp.json()["units"]
    # units without any figure score 100 (0/0 everywhere), then B, then A
    totals = [(u["agency_code"], u["total"]) for u in units]
    assert [code for code, _ in totals[-1:]] == [A]
    assert totals == sorted(totals, key=lambda t: (-t[1], t[0]))
    assert [u["rank"] for u in units] == list(range(1, len(units) + 1))
    b = next(u for u in units if u["agency_code"] == B)
    # B: 1/1 or 0/0 everywhere but no electronic result, digitization nor citizen data
    assert (b["total"], b["band"]) == (82.00, "Tốt")
    assert all(u["agency_code"] != C for u in units)


def test_parameters_are_checked(hand: TestClient) -> None:
    bad = hand.get("/v1/index766", params={"scope": A, "period": "2026-10-05"}, headers=READ)
    assert bad.status_code == 400 and bad.json()["field"] == "period"
    bad = hand.get("/v1/index766", params={"scope": "nope", "period": "2026-10"}, headers=READ)
    assert bad.status_code == 400 and bad.json()["field"] == "scope"
    bad = hand.get("/v1/index766", params={"scope": A, "period": "2025-03"}, headers=READ)
    assert bad.status_code == 400 and bad.json()["field"] == "period"  # before the index
    bad = hand.get("/v1/index766/rankings", params={"group": "xa"}, headers=READ)
    assert bad.status_code == 400 and bad.json()["field"] == "group"
    assert hand.get("/v1/index766", params={"scope": A}).status_code == 401


# --- the national portal's reference of issue 19, scaled down -------------------------

R = "so-gddt"
AUG = "2026-08-{:02d}T{:02d}:00:00+07:00"
REFERENCE = {  # metric → points published by the portal (year to date on 2026-10-10)
    "PUBLISH_ON_TIME": 0.00,
    "PUBLIC_UPDATE_ON_TIME": 3.85,
    "PUBLIC_CONTENT_FULL": 2.00,
    "DOSSIER_SYNC": 6.00,
    "ON_TIME": 17.72,
    "ONLINE_FULL_PROCESS": 8.97,
    "PAYMENT_DOSSIER_ONLINE": 5.26,
    "PAYMENT_PROCEDURE_TRANSACTED": 1.06,
    "PAYMENT_PROCEDURE_WITH_DOSSIERS": 0.37,
    "ORIGINAL_RESULT_AVAILABLE": 3.86,
    "SO_HOA_GIAY_TO_GIAI_QUYET": 0.84,
    "REUSED_DIGITIZED_DATA": 0.47,
    "SYNCED_WITH_DVCQG_PERSONAL_STORAGE": 0.09,
    "CITIZEN_DATA_CONNECTED_DOSSIER": 1.26,
    "CITIZEN_DATA_CONNECTED_FORMALITY": 0.56,
    "ELECTRONIC_CERTIFIED_COPY": 2.00,
    "DOSSIER_RECEIVING_SATISFACTION": 5.90,
    "PETITION_PROCESSING_ON_TIME": 2.98,
    "PETITION_HANDLING_SATISFACTION": 2.30,
    "PETITION_CLASSIFICATION_TTHC": None,
    "PETITION_CLASSIFICATION_STAFF": None,
}
REFERENCE_GROUPS = {
    "CKMB": 11.85,
    "TDGQ": 17.72,
    "CLGQ": 8.97,
    "TTTT": 6.69,
    "MDSH": 9.08,
    "MDHL": 11.18,
}

# 500 procedures: F0..F375 fee-required (376, as the portal's), F0..F3 eligible for the
# full online process, N0..N123 neither; 140 connected to the population database
# (0.28: 380/1,346 gives the same 0.56 points)
REF_CATALOG = [
    proc(
        f"F{i}",
        R,
        "full_online" if i < 4 else "partial_online",
        fee=True,
        eligible=i < 4,
        citizen=i < 140,
    )
    for i in range(376)
] + [proc(f"N{i}", R, "in_person_only") for i in range(124)]


def reference_events() -> list[dict[str, Any]]:
    """August 2026, 1,000 cohort dossiers (the portal's 443,565 scaled down)."""
    out: list[dict[str, Any]] = []
    due = AUG.format(31, 17)
    for i in range(1000):
        # 400 dossiers of the eligible F0..F3, 299 of them online (299/400 = 74.75 %);
        # F4..F55 one each (56 fee procedures with dossiers); the rest N0..N123
        if i < 400:
            code, online = f"F{i % 4}", i < 299
        elif i < 452:
            code, online = f"F{i - 396}", False
        else:
            code, online = f"N{i % 124}", False
        ident = f"r{i}"
        at = AUG.format(1 + i % 20, 8)
        out.append(
            received(
                R,
                ident,
                at,
                code,
                due if i < 986 else AUG.format(25, 17),
                online=online,
                level="full_online"
                if i < 400
                else ("partial_online" if i < 452 else "in_person_only"),
                digitized=i < 210,
                reused_digitized_data=i < 188,
                digitized_shared=i < 22,
                citizen_data_used=i < 630,
            )
        )
        out.append(dossier("portal_synced", at, R, ident, code))
        if i < 886:  # on time
            out.append(
                dossier(
                    "resolved", AUG.format(22, 9), R, ident, code, due_at=due, outcome="approved"
                )
            )
        elif i < 986:  # late
            out.append(
                dossier(
                    "resolved",
                    "2026-09-02T09:00:00+07:00",
                    R,
                    ident,
                    code,
                    due_at=due,
                    outcome="approved",
                )
            )
        # i ≥ 986: 14 still open, due 25 August: overdue at the month's end
        if i < 643:
            out.append(
                dossier("returned", AUG.format(23, 9), R, ident, code, result_electronic=True)
            )
        if i == 0:  # one on-time dossier rated unsatisfied: 1,000 − 115 satisfied
            out.append(
                dossier("rated", AUG.format(24, 9), R, ident, code, satisfaction="unsatisfied")
            )
    # payments in August of dossiers received in July: 179 paid online over F200..F359
    # (160 procedures), 25 paid offline only (179/204)
    for i in range(204):
        code = f"F{200 + i % 160}" if i < 179 else "N0"
        ident = f"pay{i}"
        out.append(
            received(R, ident, "2026-07-10T09:00:00+07:00", code, "2026-07-30T09:00:00+07:00")
        )
        method = "online" if i < 179 else "offline"
        out.append(
            dossier("payment", AUG.format(5, 9), R, ident, code, method=method, amount_vnd=1000)
        )
    # 485 petitions: 241 resolved on time (55 of them rated unsatisfied), 244 late
    for i in range(485):
        ident = f"pk{i}"
        out.append(
            petition(
                "petition_received",
                AUG.format(1 + i % 10, 8),
                R,
                ident,
                classification=("procedure", "staff", "other")[i % 3],
                due_at=AUG.format(20, 17),
            )
        )
        when = AUG.format(15, 9) if i < 241 else AUG.format(28, 9)
        out.append(petition("petition_resolved", when, R, ident))
        if i < 55:
            out.append(
                petition("petition_rated", AUG.format(29, 9), R, ident, satisfaction="unsatisfied")
            )
    # 82 procedures published: none decided on time, 79 publicized on time and complete
    for i in range(82):
        flags = "0111" if i < 79 else "0000"
        out.append(published(AUG.format(3, 9), R, f"F{i}", flags))
    return out


@pytest.fixture(scope="module")
def reference(redis_server: Any) -> Iterator[TestClient]:
    url = redis_db(redis_server, 13)
    asyncio.run(load(url, REF_CATALOG, reference_events()))
    with TestClient(create_app(Settings(redis_url=url))) as client:
        yield client


def test_the_portal_reference_reproduced_through_the_api(reference: TestClient) -> None:
    body = get(reference, R, "2026-08")
    assert points(body) == REFERENCE, counts(body)
    assert groups(body) == REFERENCE_GROUPS
    assert body["total"] == 65.49 and body["band"] == "Trung bình"
    c = counts(body)
    assert c["ONLINE_FULL_PROCESS"] == (299, 400)  # 74.75 %
    assert c["PAYMENT_PROCEDURE_TRANSACTED"] == (160, 376)
    assert c["PAYMENT_PROCEDURE_WITH_DOSSIERS"] == (56, 376)
    assert c["PUBLIC_UPDATE_ON_TIME"] == (79, 82) and c["PETITION_HANDLING_SATISFACTION"] == (
        186,
        485,
    )


# --- the monthly publication page -------------------------------------------------------


def figures(html: str, kind: str) -> dict[str, str]:
    """``data-scope`` → the ``data-<kind>`` value of every element of that figure."""
    import re

    pattern = rf'data-figure="{kind}" data-scope="([^"]+)"[^>]*?data-{kind}="([^"]*)"'
    return dict(re.findall(pattern, html))


def test_the_publication_page_shows_the_api_figures(hand: TestClient) -> None:
    resp = hand.get("/public/chi-so-766", params={"month": "2026-10", "scope": A})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert "<script" not in html and 'name="viewport"' in html and "data-label=" in html
    totals = figures(html, "total")
    for scope in ("province", "group:so_nganh", "group:dia_phuong", A, B, C):
        assert float(totals[scope]) == get(hand, scope, "2026-10")["total"], scope
    # the drill-down: A's metrics with the API's counts and points
    api = get(hand, A, "2026-10")
    for m in api["metrics"]:
        cell = (
            f'data-scope="{A}" data-metric="{m["metric"]}" data-numerator="{m["numerator"]}" '
            f'data-denominator="{m["denominator"]}"'
        )
        assert cell in html, m["metric"]
    assert "Sở Khoa học và Công nghệ" in html and "41,27" in html and "Yếu" in html
    # A is last of its group; the change since September (94.50: nothing received, pA3
    # published on time) is −53.23 points
    ranks = figures(html, "rank")
    # the units of October 2026 (the catalog in time)
    catalog = [a for a in load_agencies().agencies.values() if a.valid_on(date(2026, 10, 31))]
    # every other unit: 0/0 everywhere, 100 points; A and C last of their groups
    assert ranks[A] == str(sum(a.group == "so_nganh" for a in catalog))
    assert ranks[C] == str(sum(a.group == "dia_phuong" for a in catalog))
    assert float(figures(html, "change")[A]) == pytest.approx(-53.23)
    assert 'href="/public/ket-qua?month=2026-10"' in html
    # the 12-month trend of A's monthly totals, November 2025 to October 2026: September
    # 94.50 (pA3 published), October 41.27
    import json
    import re

    trend = json.loads(
        re.search(rf'data-figure="trend" data-scope="{A}" data-trend="([^"]*)"', html)[1]  # type: ignore[index]
        .replace("&#34;", '"')
        .replace("&quot;", '"')
    )
    assert [t[0] for t in trend] == [f"2025-{m}" for m in ("11", "12")] + [
        f"2026-{m:02d}" for m in range(1, 11)
    ]
    assert trend[-2:] == [["2026-09", 94.5], ["2026-10", 41.27]]
    assert '<svg class="spark"' in html


def test_the_publication_page_year_to_date_and_csv(hand: TestClient) -> None:
    html = hand.get("/public/chi-so-766", params={"month": "2026-10", "view": "nam"}).text
    # January to October judged at October's end: a5 on time, pA3's September publication
    assert float(figures(html, "total")[A]) == pytest.approx(39.60 - 8.00 + 12.00)
    csv_resp = hand.get("/public/chi-so-766.csv", params={"month": "2026-10"})
    assert csv_resp.status_code == 200 and csv_resp.content.startswith("\ufeff".encode())
    rows = csv_resp.content.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("Kỳ,Mã đơn vị,Đơn vị,Hạng trong khối,Tổng điểm,Xếp loại")
    a_row = next(r for r in rows if f",{A}," in r).split(",")
    assert a_row[4:6] == ["41.27", "Yếu"]
    assert "ON_TIME tử số" in rows[0]


def test_the_publication_page_embeds(hand: TestClient) -> None:
    resp = hand.get("/public/chi-so-766/embed", params={"month": "2026-10"})
    assert resp.status_code == 200
    assert "frame-ancestors 'self'" in resp.headers["content-security-policy"]
    assert '<header class="site">' not in resp.text
    assert float(figures(resp.text, "total")["province"]) == 43.93
    assert 'action="/public/chi-so-766/embed"' in resp.text
    full = hand.get("/public/chi-so-766", params={"month": "2026-10"})
    assert "frame-ancestors 'none'" in full.headers["content-security-policy"]
    assert "/public/chi-so-766/embed?month=2026-10" in full.text


def test_the_publication_page_refuses_what_is_not_published(hand: TestClient) -> None:
    for params in (
        {"month": "2026-12"},  # the running month
        {"month": "2026-10", "view": "tuan"},
        {"month": "2026-10", "scope": "nope"},
        {"month": "2025-03"},  # before the index
    ):
        resp = hand.get("/public/chi-so-766", params=params)
        assert resp.status_code == 404, params
        assert "Chưa công bố" in resp.text


# --- the board: this month so far, and what open overdue dossiers cost ------------------


def test_the_board_shows_the_month_so_far_and_the_cost_of_overdue_dossiers(
    redis_server: Any,
) -> None:
    from datetime import timedelta

    from services.api.board.view import board_data
    from services.api.context import ApiContext
    from services.api.routes.board import fragments
    from shared.domain.calendar import LOCAL_TZ, now_utc

    url = redis_db(redis_server, 12)
    now = now_utc()
    at, due = (now - timedelta(seconds=90)).astimezone(LOCAL_TZ), now - timedelta(seconds=30)
    raw = [
        # A: one dossier this month, open and past due; B: one open, due later
        received(A, "m1", at.isoformat(), "pA1", due.astimezone(LOCAL_TZ).isoformat()),
        received(B, "m2", at.isoformat(), "pB1", LATE_DUE),
    ]

    async def run() -> Any:
        redis = Redis.from_url(url)
        await redis.flushdb()
        await CatalogStore(redis).replace_procedures(HAND_CATALOG)
        agencies = load_agencies().codes
        events = [validate_event(r, agencies=agencies) for r in raw]
        await IndicatorStore(redis).apply_many(events)  # type: ignore[arg-type]
        await redis.aclose()
        ctx = ApiContext.create(Settings(redis_url=url))
        try:
            return await board_data(ctx)
        finally:
            await ctx.redis.aclose()

    data = asyncio.run(run())
    if data.month is None or data.month.start > at.date():  # the first minute of a month
        pytest.skip("the dossier fell in the previous month")
    units = {u.agency_code: u for u in data.index766}
    # A: ON_TIME 0/1 instead of 1/1 (20 points), satisfaction 0/1 instead of 1/1 (6 points)
    assert (units[A].overdue, units[A].cost) == (1, 26.0)
    assert units[B].cost == 0.0 and units[B].overdue == 0
    assert data.index766[0].agency_code == A  # the costliest first
    # 12 (no publication, not synced) + 0 + 0 (in person) + 6.83 (no payment; 1 of 3 fee
    # procedures with a dossier) + 2.50 (1 of 4 procedures connected, no certified copy) + 12
    assert (units[A].total, units[A].band) == (33.33, "Yếu")
    html = fragments(data)["index766"]
    assert f'data-figure="index766-cost" data-agency="{A}" data-value="26.0"' in html
    assert "Điểm mất do quá hạn" in html


def test_due_exactly_at_the_instant_is_not_overdue(redis_server: Any) -> None:
    """Open dossiers judged at October's end (local midnight of 1 November): due at that
    very instant, still on time; due one second before it, overdue; a petition likewise."""
    url = redis_db(redis_server, 12)
    o = OCT.format
    raw = [
        received(A, "e1", o(30), "pA1", "2026-11-01T00:00:00+07:00"),
        received(A, "e2", o(30), "pA1", "2026-10-31T23:59:59+07:00"),
        petition(
            "petition_received",
            o(30),
            A,
            "q1",
            classification="other",
            due_at=("2026-11-01T00:00:00+07:00"),
        ),
        petition(
            "petition_received",
            o(30),
            A,
            "q2",
            classification="other",
            due_at=("2026-10-31T23:59:59+07:00"),
        ),
    ]
    asyncio.run(load(url, HAND_CATALOG, raw))
    with TestClient(create_app(Settings(redis_url=url))) as client:
        c = counts(get(client, A, "2026-10"))
        assert c["ON_TIME"] == (1, 2) and c["DOSSIER_RECEIVING_SATISFACTION"] == (1, 2)
        assert c["PETITION_HANDLING_SATISFACTION"] == (1, 2)
        # judged now (the quarter runs on): both past due
        assert counts(get(client, A, "2026-Q4"))["ON_TIME"] == (0, 2)


def test_a_closed_month_page_is_not_rendered_again_for_a_later_write(redis_server: Any) -> None:
    """A write of December raises A's data version; October's page is then served from its
    rendering (the digest of October's and September's inputs, computed in Redis, is
    unchanged); a late event of October renders it again with the new figure."""
    from services.api.response_cache import RENDERS

    url = redis_db(redis_server, 12)
    o = OCT.format
    asyncio.run(load(url, HAND_CATALOG, [received(A, "f1", o(3), "pA1", o(10))]))
    unchanged = RENDERS.labels("unchanged")
    with TestClient(create_app(Settings(redis_url=url))) as client:
        params = {"month": "2026-10", "scope": A}
        first = client.get("/public/chi-so-766", params=params)
        assert counts_in(first.text, A)["ON_TIME"] == (0, 1)

        async def write(raw: list[dict[str, Any]]) -> None:
            redis = Redis.from_url(url)
            await IndicatorStore(redis).apply_many(parse_all(raw))
            await redis.aclose()

        asyncio.run(write([received(A, "f2", "2026-12-01T09:00:00+07:00", "pA1", LATE_DUE)]))
        before = unchanged._value.get()
        again = client.get("/public/chi-so-766", params=params)
        assert again.headers["etag"] != first.headers["etag"]  # the data version moved
        assert again.content == first.content and unchanged._value.get() == before + 1
        asyncio.run(write([received(A, "f3", o(4), "pA1", LATE_DUE)]))
        late = client.get("/public/chi-so-766", params=params)
        assert counts_in(late.text, A)["ON_TIME"] == (1, 2)


def counts_in(html: str, scope: str) -> dict[str, tuple[int, int]]:
    import re

    found = re.findall(
        rf'data-scope="{re.escape(scope)}" data-metric="([A-Z_]+)" '
        r'data-numerator="(\d+)" data-denominator="(\d+)"',
        html,
    )
    return {m: (int(n), int(d)) for m, n, d in found}
