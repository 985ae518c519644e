"""Every indicator's formula against hand counts, through the real apply script and Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pytest
from redis.asyncio import Redis

from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.domain.indicators import load_indicators
from shared.domain.periods import parse_period
from shared.domain.procedures import Procedure
from shared.domain.scopes import parse_scope
from shared.domain.targets import load_targets
from shared.readmodel.figures import agency_figures
from shared.readmodel.indicator_query import scope_values
from shared.readmodel.scorecard import scorecard
from shared.store.catalogs import CatalogStore
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db
from tests.factories import received

A = "so-y-te"
B = "ubnd-an-phu"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def proc(
    code: str, level: str, eligible: bool = False, fee: bool = False, agency: str = A
) -> Procedure:
    return Procedure(
        procedure_code=code,
        agency_code=agency,
        name=f"Thủ tục {code}",
        service_level=level,
        eligible_full_online=eligible,
        fee_required=fee,
    )


CATALOG = [
    proc("p1", "full_online", eligible=True, fee=True),
    proc("p2", "full_online", eligible=True),
    proc("p3", "partial_online", eligible=True, fee=True),
    proc("p4", "partial_online"),
    proc("p5", "in_person_only", fee=True),
    proc("b1", "partial_online", agency=B),  # B has no full_online procedure
]


def events() -> list[dict]:  # type: ignore[type-arg]
    at = "2024-04-10T09:00:00+07:00"
    d = {"agency_code": A, "occurred_at": "2024-04-12T09:00:00+07:00"}
    out = [
        received(agency=A, dossier="1", at=at, procedure_code="p1"),  # full online, citizen
        received(
            agency=A,
            dossier="2",
            at=at,
            procedure_code="p3",
            level="partial_online",
            channel="online",
            submitted_by="assisted",
            digitized=True,
        ),
        received(
            agency=A,
            dossier="3",
            at=at,
            procedure_code="p3",
            level="partial_online",
            channel="in_person",
            via_one_stop=False,
        ),
        received(
            agency=A,
            dossier="4",
            at=at,
            procedure_code="p5",
            level="in_person_only",
            channel="in_person",
            digitized=True,
        ),
        received(
            agency=B,
            dossier="b",
            at=at,
            procedure_code="b1",
            level="partial_online",
            channel="online",
        ),
        {
            **d,
            "event_id": "r1",
            "event_type": "resolved",
            "dossier_id": "1",
            "procedure_code": "p1",
            "due_at": "2024-04-13T00:00:00+07:00",
            "outcome": "approved",
        },
        {
            **d,
            "event_id": "r2",
            "event_type": "resolved",
            "dossier_id": "2",
            "procedure_code": "p3",
            "due_at": "2024-04-11T00:00:00+07:00",
            "outcome": "approved",
        },
        {
            **d,
            "event_id": "t1",
            "event_type": "returned",
            "dossier_id": "1",
            "procedure_code": "p1",
            "result_electronic": True,
        },
        {
            **d,
            "event_id": "t2",
            "event_type": "returned",
            "dossier_id": "2",
            "procedure_code": "p3",
            "result_electronic": False,
        },
        {
            **d,
            "event_id": "y1",
            "event_type": "payment",
            "dossier_id": "1",
            "procedure_code": "p1",
            "method": "online",
            "amount_vnd": 100000,
        },
        {
            **d,
            "event_id": "y2",
            "event_type": "payment",
            "dossier_id": "4",
            "procedure_code": "p5",
            "method": "offline",
            "amount_vnd": 50000,
        },
        {
            **d,
            "event_id": "s1",
            "event_type": "rated",
            "dossier_id": "1",
            "procedure_code": "p1",
            "satisfaction": "very_satisfied",
        },
        {
            **d,
            "event_id": "s2",
            "event_type": "rated",
            "dossier_id": "2",
            "procedure_code": "p3",
            "satisfaction": "unsatisfied",
        },
        {
            **d,
            "event_id": "s3",
            "event_type": "rated",
            "dossier_id": "3",
            "procedure_code": "p3",
            "satisfaction": "satisfied",
        },
        {
            **d,
            "event_id": "v1",
            "event_type": "document_issued",
            "document_id": "1",
            "electronic": True,
            "confidential": False,
        },
        {
            **d,
            "event_id": "v2",
            "event_type": "document_issued",
            "document_id": "2",
            "electronic": False,
            "confidential": False,
        },
        {
            **d,
            "event_id": "v3",
            "event_type": "document_issued",
            "document_id": "3",
            "electronic": False,
            "confidential": True,
        },
        {
            **d,
            "event_id": "w1",
            "event_type": "work_file_completed",
            "work_file_id": "1",
            "processed_online": True,
            "confidential": False,
        },
    ]
    return out


EXPECTED = {  # indicator: (numerator, denominator) for agency A, April 2024, by hand
    "full_online_rate": (1, 4),
    # EMC basis: the same numerator over the dossiers resolved (on_time_rate's denominator)
    "emc_full_online_rate": (1, 2),
    "online_rate": (2, 4),
    "remote_online_rate": (1, 4),
    "one_stop_rate": (3, 4),
    "digitized_dossier_rate": (2, 4),
    "on_time_rate": (1, 2),
    "e_result_rate": (1, 2),
    "online_payment_rate": (1, 2),
    "satisfaction_rate": (2, 3),
    "e_document_rate": (1, 2),  # the confidential document is out of both
    "work_file_online_rate": (1, 1),
    "full_online_service_rate": (2, 3),  # p1, p2 / eligible p1, p2, p3
    "services_with_online_dossiers_rate": (2, 4),  # p1, p3 had online dossiers / p1..p4
    "fee_services_paid_online_rate": (1, 3),  # p1 paid online / p1, p3, p5
}


@pytest.fixture()
def loaded(redis_server):
    async def load() -> None:
        redis = Redis.from_url(redis_db(redis_server, 13))
        await redis.flushdb()
        await CatalogStore(redis).replace_procedures(CATALOG)
        agencies = load_agencies().codes
        parsed = [validate_event(e, agencies=agencies, now=NOW) for e in events()]
        assert all(not isinstance(p, list) for p in parsed)
        await IndicatorStore(redis).apply_many(parsed)  # type: ignore[arg-type]
        await redis.aclose()

    asyncio.run(load())
    return redis_db(redis_server, 13)


def test_every_indicator_formula(loaded) -> None:
    async def run() -> dict:  # type: ignore[type-arg]
        redis = Redis.from_url(loaded)
        catalogs = await CatalogStore(redis).load()
        figs, _ = await agency_figures(
            IndicatorStore(redis),
            catalogs,
            [A, B],
            list(load_indicators().values()),
            parse_period("2024-04"),
        )
        await redis.aclose()
        return figs

    figs = asyncio.run(run())
    got = {name: (f.numerator, f.denominator) for name, f in figs[A].items()}
    assert got == EXPECTED
    # B has no full_online procedure: full_online_rate is not evaluated for it
    assert figs[B]["full_online_rate"].evaluated is False
    assert figs[B]["emc_full_online_rate"].evaluated is False
    assert (figs[B]["full_online_rate"].numerator, figs[B]["full_online_rate"].denominator) == (
        0,
        1,
    )


def test_scope_values_sum_members_and_judge_targets(loaded) -> None:
    async def run() -> tuple:  # type: ignore[type-arg]
        redis = Redis.from_url(loaded)
        catalogs = await CatalogStore(redis).load()
        store = IndicatorStore(redis)
        inds = [load_indicators()["full_online_rate"], load_indicators()["online_rate"]]
        prov = await scope_values(
            store,
            catalogs,
            load_targets(),
            inds,
            parse_scope("province", catalogs.agencies),
            parse_period("2024"),
            "cv-112-eval-2024",
        )
        agency_b = await scope_values(
            store,
            catalogs,
            load_targets(),
            inds,
            parse_scope(B, catalogs.agencies),
            parse_period("2024"),
            None,
        )
        empty = await scope_values(
            store,
            catalogs,
            load_targets(),
            inds,
            parse_scope("level:xa", catalogs.agencies),
            parse_period("2024"),
            None,
        )
        card = await scorecard(
            store,
            catalogs,
            load_targets(),
            list(load_indicators().values()),
            parse_scope("province", catalogs.agencies),
            parse_period("2024"),
            "cv-112-eval-2024",
        )
        await redis.aclose()
        return prov, agency_b, empty, card

    prov, agency_b, empty, card = asyncio.run(run())
    # province sums numerators and denominators: (1 + 0) / (4 + 1)
    assert (prov[0].numerator, prov[0].denominator, prov[0].value) == (1, 5, 20.0)
    assert prov[0].target == 70 and prov[0].meets_target is False and prov[0].verdict == "Chưa đạt"
    assert (prov[1].numerator, prov[1].denominator) == (3, 5)
    assert agency_b[0].value is None and agency_b[0].verdict == "Không đánh giá"
    assert agency_b[0].meets_target is None
    assert empty[0].denominator == 0 and empty[0].value is None
    # only A is judged: B's full_online_rate is not evaluated, the only indicator of the set
    assert card.agencies_judged == 1 and card.agencies_meeting_all == 0
    scored = {s.agency_code: s for s in card.agencies}
    assert [m.indicator for m in scored[A].misses] == ["full_online_rate"]
    assert scored[B].meets_all is None


def test_rolling_and_range_periods_sum_days(loaded) -> None:
    async def run() -> list[tuple[int, int]]:
        redis = Redis.from_url(loaded)
        store = IndicatorStore(redis)
        out: list[tuple[int, int]] = []
        for start, end in [
            (date(2024, 4, 10), date(2024, 4, 10)),
            (date(2024, 4, 11), date(2024, 5, 1)),
            (date(2024, 3, 1), date(2024, 4, 30)),
        ]:
            sums = await store.sum_marks([A], start, end, ["received", "resolved"])
            out.append((sums[A]["received"], sums[A]["resolved"]))
        await redis.aclose()
        return out

    assert asyncio.run(run()) == [(4, 0), (0, 2), (4, 2)]


def test_ranking_and_series(loaded) -> None:
    from services.api.reports.rankings import points, ranking, series

    async def run() -> tuple:  # type: ignore[type-arg]
        redis = Redis.from_url(loaded)
        catalogs = await CatalogStore(redis).load()
        store = IndicatorStore(redis)
        ind = load_indicators()
        prov = parse_scope("province", catalogs.agencies)
        online = await ranking(
            store,
            catalogs,
            load_targets(),
            ind["online_rate"],
            prov,
            parse_period("2024-04"),
            "nq17-2025",
            top=5,
        )
        daily = await series(
            store,
            catalogs,
            ind["on_time_rate"],
            parse_scope(A, catalogs.agencies),
            points(date(2024, 4, 10), date(2024, 4, 12), "day"),
        )
        monthly = points(date(2024, 1, 15), date(2024, 3, 10), "month")
        await redis.aclose()
        return online, daily, monthly

    online, daily, monthly = asyncio.run(run())
    # online_rate: B 1/1 = 100 %, A 2/4 = 50 %, everyone else has no dossiers
    assert [(r.agency_code, r.value) for r in online.best] == [(B, 100.0), (A, 50.0)]
    assert online.agencies[0].rank == 1 and online.agencies[2].value is None
    assert [r.agency_code for r in online.worst] == [A, B]
    assert [(p.period, p.numerator, p.denominator) for p in daily] == [
        ("2024-04-10", 0, 0),
        ("2024-04-11", 0, 0),
        ("2024-04-12", 1, 2),
    ]
    assert [(p.label, p.start, p.end) for p in monthly] == [
        ("2024-01", date(2024, 1, 15), date(2024, 1, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2024-03", date(2024, 3, 1), date(2024, 3, 10)),
    ]


def test_reconciliation_puts_external_figures_beside_ours(loaded) -> None:
    from fastapi.testclient import TestClient

    from services.api.app import create_app
    from shared.platform.config import Settings

    admin = {"Authorization": "Bearer dev-admin-token"}
    read = {"Authorization": "Bearer dev-read-token"}
    figure = {
        "indicator": "full_online_rate",
        "scope": A,
        "period": "2024-04",
        "source": "EMC",
        "value": 20.0,
        "numerator": 1,
        "denominator": 5,
        "note": "Hệ thống EMC",
    }
    with TestClient(create_app(Settings(redis_url=loaded))) as client:
        assert client.post("/v1/reconciliations", json=figure, headers=read).status_code == 403
        bad = client.post(
            "/v1/reconciliations", json={**figure, "period": "2024-13"}, headers=admin
        )
        assert bad.status_code == 400 and bad.json()["field"] == "period"
        resp = client.post("/v1/reconciliations", json=figure, headers=admin)
        assert resp.status_code == 201, resp.text
        body = resp.json()
        assert (body["ours"]["numerator"], body["ours"]["denominator"]) == (1, 4)
        assert body["difference_points"] == 5.0 and body["denominator_difference"] == -1
        listed = client.get("/v1/reconciliations", params={"scope": A}, headers=read).json()
        assert [r["external"]["source"] for r in listed] == ["EMC"]
        assert listed[0]["external"]["recorded_by"] == "admin"


def test_leaders_summary(loaded) -> None:
    from fastapi.testclient import TestClient

    from services.api.app import create_app
    from shared.platform.config import Settings

    read = {"Authorization": "Bearer dev-read-token"}
    with TestClient(create_app(Settings(redis_url=loaded))) as client:
        resp = client.get(
            "/v1/reports/summary",
            headers=read,
            params={
                "month": "2024-04",
                "indicator": "remote_online_rate",
                "target_set": "qd88-2023",
            },
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        # target 50 % (QĐ 88, in force in 2024): B 1/1 = 100 % meets, A 1/4 = 25 % does not;
        # province 2/5 = 40 %; nothing in March to compare with
        assert (body["agencies_meeting"], body["agencies_below"]) == (1, 1)
        assert body["province_value"] == 40.0 and body["province_previous"] is None
        assert [r["agency_code"] for r in body["best"]] == [B, A]
        assert "Toàn tỉnh: 40,00%" in body["text"] and "Biểu dương: " in body["text"]
        bad = client.get("/v1/reports/summary", headers=read, params={"month": "2024-13"})
        assert bad.status_code == 400 and bad.json()["field"] == "month"


def test_catalog_tree_and_procedure_filters(loaded) -> None:
    from fastapi.testclient import TestClient

    from services.api.app import create_app
    from shared.platform.config import Settings

    read = {"Authorization": "Bearer dev-read-token"}
    with TestClient(create_app(Settings(redis_url=loaded))) as client:
        # the packaged catalog in time: the province of 2024, then the merged province
        tree = client.get("/v1/agencies/tree", headers=read, params={"on": "2024-06-30"}).json()
        groups = {g["group"]: g["levels"] for g in tree}
        assert len(groups["so_nganh"]["tinh"]) == 20 and len(groups["dia_phuong"]["huyen"]) == 11
        tree = client.get("/v1/agencies/tree", headers=read).json()  # today
        groups = {g["group"]: g["levels"] for g in tree}
        assert len(groups["so_nganh"]["tinh"]) == 16  # 15 units and the People's Committee's office
        assert len(groups["dia_phuong"]["xa"]) == 102 and "huyen" not in groups["dia_phuong"]
        fee = client.get(
            "/v1/procedures", headers=read, params={"agency": A, "fee_required": "true"}
        ).json()
        assert sorted(p["procedure_code"] for p in fee) == ["p1", "p3", "p5"]
        full = client.get(
            "/v1/procedures", headers=read, params={"service_level": "full_online"}
        ).json()
        assert sorted(p["procedure_code"] for p in full) == ["p1", "p2"]


def test_appendix_table_for_any_period(loaded) -> None:
    from fastapi.testclient import TestClient

    from services.api.app import create_app
    from shared.platform.config import Settings

    read = {"Authorization": "Bearer dev-read-token"}
    with TestClient(create_app(Settings(redis_url=loaded))) as client:
        params = {"year": 2024, "period": "2024-04", "target_set": "cv-112-eval-2024"}
        table = client.get("/v1/reports/annual", headers=read, params=params).json()
        rows = {r["agency_code"]: r for r in table["rows"]}
        assert table["period"] == "2024-04"
        assert (rows[A]["hstn_total"], rows[A]["full_online_hstn"], rows[A]["rate"]) == (4, 1, 25.0)
        assert rows[A]["verdict"] == "Chưa đạt" and rows[B]["verdict"] == "Không đánh giá"
        assert table["total"]["hstn_total"] == 5
        march = client.get(
            "/v1/reports/annual", headers=read, params={**params, "period": "2024-03"}
        ).json()
        assert march["total"]["hstn_total"] == 0
        csv_file = client.get("/v1/reports/annual.csv", headers=read, params=params)
        assert csv_file.status_code == 200 and "Sở Y tế" in csv_file.content.decode("utf-8-sig")
