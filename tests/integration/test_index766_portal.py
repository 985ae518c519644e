"""Reconciliation with the national portal through HTTP and a real Redis (issue 19, item 6):
the portal's reference of issue 19 (65.49, scaled down) loaded for one unit of the merged
province, the portal's export of the month imported (CSV and XLSX, and by ``egov
portal-import``); the matching unit differs by 0, a unit 2 points off is flagged, unknown
codes and units missing from the export are listed, bad files refused naming the column
or the line and column; the analysts' page behind the board's sign-in."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from services.api.app import create_app
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings
from tests.conftest import redis_db
from tests.integration.test_index766_api import (
    READ,
    REF_CATALOG,
    REFERENCE_GROUPS,
    R,
    get,
    load,
    reference_events,
)

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer dev-admin-token"}
U = "H01.11"  # Sở Giáo dục và Đào tạo of the merged province (so-gddt's successor)
OFF = "H01.05"  # no events: 0/0 everywhere, every group at its maximum (100 points)
PERIOD = "2026-08"
HEADER = "MA_COQUAN,TEN,TDGQ,MDHL,MDSH,TTTT,CLGQ,CKMB,TONG_SCORE"
ORDER = ("TDGQ", "MDHL", "MDSH", "TTTT", "CLGQ", "CKMB")


def line(code: str, name: str, groups: dict[str, float], total: float) -> str:
    return ",".join([code, name, *(f"{groups[g]:.2f}" for g in ORDER), f"{total:.2f}"])


FULL = {"TDGQ": 20.0, "MDHL": 18.0, "MDSH": 22.0, "TTTT": 10.0, "CLGQ": 12.0, "CKMB": 18.0}
EXPORT = "\n".join(
    [
        HEADER,
        line(U, "Sở Giáo dục và Đào tạo", REFERENCE_GROUPS, 65.49),
        line(OFF, "Sở Khoa học và Công nghệ", {**FULL, "TDGQ": 18.0}, 98.0),  # 2 points off
        line("H01.999", "Sở Công Thương", FULL, 100.0),  # unknown: never matched by name
        line(R, "Sở Giáo dục và Đào tạo", FULL, 100.0),  # ended on 2025-06-30
    ]
).encode("utf-8")


@pytest.fixture(scope="module")
def url(redis_server: Any) -> str:
    return redis_db(redis_server, 9)


@pytest.fixture(scope="module")
def api(url: str) -> Iterator[TestClient]:
    catalog = [p.model_copy(update={"agency_code": U}) for p in REF_CATALOG]
    events = [{**e, "agency_code": U} for e in reference_events()]
    asyncio.run(load(url, catalog, events))
    with TestClient(create_app(Settings(redis_url=url))) as client:
        yield client


def put(client: TestClient, body: bytes, period: str = PERIOD) -> Any:
    return client.put(f"/v1/index766/portal/{period}", content=body, headers=ADMIN)


def reconciliation(client: TestClient, **params: Any) -> dict[str, Any]:
    resp = client.get(f"/v1/index766/portal/{PERIOD}", params=params, headers=READ)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def units_in_force() -> set[str]:
    from datetime import date

    return {
        a.agency_code for a in load_agencies().valid_between(date(2026, 8, 1), date(2026, 8, 31))
    }


def test_import_then_reconcile(api: TestClient) -> None:
    assert get(api, U, PERIOD)["total"] == 65.49  # the reference, under the new code
    resp = put(api, EXPORT)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert (out["period"], out["format"], out["rows"], out["matched"]) == (PERIOD, "csv", 4, 2)
    assert out["digest"].startswith("sha256:") and out["imported_by"] == "admin"
    assert [(u["line"], u["code"]) for u in out["unknown_codes"]] == [(4, "H01.999"), (5, R)]
    assert out["missing"] == len(units_in_force()) - 2

    body = reconciliation(api)
    assert body["threshold"] == 1.0 and body["closed"] is True and body["flagged"] == 1
    assert [(g["group"], g["max"]) for g in body["groups"]] == [
        ("TDGQ", 20.0),
        ("MDHL", 18.0),
        ("MDSH", 22.0),
        ("TTTT", 10.0),
        ("CLGQ", 12.0),
        ("CKMB", 18.0),
    ]
    first, second = body["units"]
    # the largest difference first: OFF's TDGQ, 20 (ours) − 18 (portal)
    assert first["agency_code"] == OFF and first["flagged"] is True
    assert first["largest_difference"] == 2.0 and first["total_difference"] == 2.0
    assert [
        (g["group"], g["difference"], g["flagged"]) for g in first["groups"] if g["flagged"]
    ] == [("TDGQ", 2.0, True)]
    # the matching unit: every group and the total 0 apart
    assert second["agency_code"] == U and second["flagged"] is False
    assert second["total_ours"] == second["total_portal"] == 65.49
    assert {g["group"]: g["difference"] for g in second["groups"]} == dict.fromkeys(ORDER, 0.0)
    assert {g["group"]: g["ours"] for g in second["groups"]} == REFERENCE_GROUPS
    assert [u["code"] for u in body["unknown_codes"]] == ["H01.999", R]
    missing = {m["agency_code"] for m in body["missing_from_export"]}
    assert missing == units_in_force() - {U, OFF}
    # a wider threshold flags nobody
    assert reconciliation(api, threshold=2.5)["flagged"] == 0
    listed = api.get("/v1/index766/portal", headers=READ).json()
    assert [(i["period"], i["digest"]) for i in listed] == [(PERIOD, out["digest"])]


def test_bad_files_are_refused_naming_what_is_wrong(api: TestClient) -> None:
    before = put(api, EXPORT).json()["digest"]
    missing = put(api, b"MA_COQUAN,TEN,TDGQ,MDHL,MDSH,CLGQ,CKMB\nH01.11,x,1,1,1,1,1\n")
    assert missing.status_code == 400
    err = missing.json()
    assert err["error"] == "missing_columns" and err["field"] == "TTTT, TONG_SCORE"
    assert "TTTT, TONG_SCORE" in err["message_vi"]
    bad = put(api, f"{HEADER}\nH01.11,x,17.72,11.18,abc,6.69,8.97,11.85,65.49\n".encode())
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_portal_export"
    assert "line 2, column MDSH: 'abc' is not a number" in bad.json()["message"]
    high = put(api, f"{HEADER}\nH01.11,x,20.01,11.18,9.08,6.69,8.97,11.85,65.49\n".encode())
    assert "line 2, column TDGQ: 20.01 is outside 0..20" in high.json()["message"]
    assert put(api, EXPORT, period="2026-08-05").json()["field"] == "period"
    assert put(api, EXPORT, period="2025-03").json()["field"] == "period"  # before the index
    refused = api.put(f"/v1/index766/portal/{PERIOD}", content=EXPORT, headers=READ)
    assert refused.status_code == 403
    # nothing replaced by a refused file
    assert reconciliation(api)["imported"]["digest"] == before
    none = api.get("/v1/index766/portal/2026-07", headers=READ)
    assert none.status_code == 404 and none.json()["error"] == "not_imported"


def test_an_xlsx_reimport_replaces_the_period(api: TestClient) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.split(","))
    # the portal now says U's TDGQ is 15.72: U 2 points off; OFF matches
    sheet.append([U, "Sở Giáo dục và Đào tạo", 15.72, 11.18, 9.08, 6.69, 8.97, 11.85, 63.49])
    sheet.append([OFF, "Sở Khoa học và Công nghệ", 20, 18, 22, 10, 12, 18, 100])
    data = io.BytesIO()
    book.save(data)
    resp = put(api, data.getvalue())
    assert resp.status_code == 200, resp.text
    assert resp.json()["format"] == "xlsx" and resp.json()["unknown_codes"] == []
    body = reconciliation(api)
    assert body["imported"]["format"] == "xlsx" and body["unknown_codes"] == []
    assert [(u["agency_code"], u["flagged"]) for u in body["units"]] == [
        (U, True),
        (OFF, False),
    ]
    assert body["units"][0]["total_difference"] == 2.0


def test_the_egov_command_imports_a_file(
    api: TestClient, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from services.ops.cli import app as egov

    monkeypatch.setenv("EGOV_REDIS_URL", url)
    path = tmp_path / "chi-so-766-2026-08.csv"
    path.write_bytes(EXPORT)
    result = CliRunner().invoke(egov, ["portal-import", str(path), "--period", PERIOD])
    assert result.exit_code == 0, result.output
    assert "portal 2026-08: 4 rows" in result.output and "2 units matched" in result.output
    assert "unknown code line 4: H01.999" in result.output
    body = reconciliation(api)
    assert body["imported"]["filename"] == path.name
    assert body["imported"]["imported_by"].startswith("egov:")
    assert [u["agency_code"] for u in body["units"] if u["flagged"]] == [OFF]
    bad = tmp_path / "bad.csv"
    bad.write_text("MA_COQUAN,TEN\nH01.11,x\n", encoding="utf-8")
    result = CliRunner().invoke(egov, ["portal-import", str(bad), "--period", PERIOD])
    assert result.exit_code == 1 and "missing column(s) TDGQ" in result.output


def test_the_analysts_page(api: TestClient) -> None:
    put(api, EXPORT)
    anonymous = api.get("/board/doi-chieu-766", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/board/login"
    login = api.post("/board/login", data={"token": "dev-read-token"}, follow_redirects=False)
    assert login.status_code == 303
    page = api.get("/board/doi-chieu-766", params={"period": PERIOD})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Đối chiếu chỉ số QĐ 766 với Cổng DVCQG" in html and "<script" not in html
    api_body = reconciliation(api)
    for unit in api_body["units"]:
        for g in unit["groups"]:
            cell = (
                f'data-agency="{unit["agency_code"]}" data-group="{g["group"]}" '
                f'data-ours="{g["ours"]!r}" data-portal="{g["portal"]!r}" '
                f'data-difference="{g["difference"]!r}"'
            )
            assert cell in html, cell
    assert f'data-figure="flag" data-agency="{OFF}" data-flagged="true"' in html
    assert f'data-figure="flag" data-agency="{U}" data-flagged="false"' in html
    assert html.index(f'data-agency="{OFF}"') < html.index(f'data-agency="{U}"')
    assert 'data-unknown="H01.999"' in html and "Lệch 2,00 điểm" in html
    assert 'data-missing="H01.06"' in html and f'data-missing="{U}"' not in html
    # the latest period imported without a parameter; an unknown one says so
    assert 'data-figure="flagged" data-value="1"' in api.get("/board/doi-chieu-766").text
    empty = api.get("/board/doi-chieu-766", params={"period": "2026-07"})
    assert empty.status_code == 200 and "Chưa nhập tệp xuất" in empty.text
