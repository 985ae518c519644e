"""Acceptance: the simulated year 2024 through the real pipeline (Kafka → Faust calculator →
Redis → API) reproduces every cell of the province's published table (Công văn 112/UBND-TH),
with dossier lifecycles of contract v1.1 on: supplement requests, extensions, suspensions,
re-submissions, withdrawals, intake rejections of extra dossiers, payments in several
transactions and corrections leave the table as published under the rules of §4a; and for
a few agencies every dossier figure and the open/overdue counts equal what
``simulator.expected`` computes from the same stream in pure Python."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from shared.contract.events import ServiceLevel
from shared.domain.appendix import load_appendix_2024
from shared.domain.calendar import LOCAL_TZ
from shared.domain.indicators import load_indicators
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.platform.config import Settings
from simulator.appendix2024 import YearStream
from simulator.expected import Figures
from simulator.replay import produce_in_batches

ADMIN = {"Authorization": "Bearer dev-admin-token"}
READ = {"Authorization": "Bearer dev-read-token"}
COLUMNS = [
    "hstn_total",
    "tthc_total",
    "in_person_only_hstn",
    "in_person_only_tthc",
    "partial_in_person_hstn",
    "partial_online_hstn",
    "partial_tthc",
    "full_in_person_hstn",
    "full_online_hstn",
    "full_tthc",
]
# A share of the dossiers with a lifecycle that keeps the run time reasonable: the full
# lifecycle (1.0) quadruples the volume, 0.15 adds 45 % (~300,000 events, every kind of
# lifecycle event in the hundreds or thousands).
LIFECYCLE_FRACTION = 0.15
STREAM = YearStream(lifecycle_fraction=LIFECYCLE_FRACTION, documents_per_agency=30)
# boundary dossiers (so-cong-thuong), a level without procedures (so-gtvt), in person only
# (thanh-tra-tinh), overlap dossiers received under two categories (ubnd-chau-doc)
CROSS_CHECKED = ("so-cong-thuong", "so-gtvt", "thanh-tra-tinh", "ubnd-chau-doc")
DOSSIER_INDICATORS = (
    "full_online_rate",
    "online_rate",
    "remote_online_rate",
    "one_stop_rate",
    "digitized_dossier_rate",
    "on_time_rate",
    "e_result_rate",
    "online_payment_rate",
    "satisfaction_rate",
)
ACTIVITY_INDICATORS = {
    "services_with_online_dossiers_rate": "proc_online",
    "fee_services_paid_online_rate": "proc_paid_online",
}
HANDLED = (
    "egov_calculator_events_applied_total{",
    "egov_calculator_duplicates_total{",
    "egov_calculator_deadlettered_total{",
)


def _cpu_seconds(pid: int | None) -> float:
    """CPU time of a process so far (for the run-time line; NaN when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _handled(metrics_url: str) -> float:
    """Events the calculator is done with (applied, duplicate or dead-lettered)."""
    text = httpx.get(metrics_url, timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(HANDLED)
    )


@pytest.fixture(scope="module")
def annual(kafka_broker, redis_server, service_factory, isolated_module) -> dict[str, Any]:
    env = isolated_module["env"]
    topics = isolated_module["topics"]
    api = service_factory("api", env)
    # the procedure catalog changes while the services run: no restart needed
    resp = httpx.put(
        f"{api.url}/v1/catalog/procedures",
        content=STREAM.catalog().to_csv_text(),
        headers={**ADMIN, "content-type": "text/csv"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == 8011
    # the calculator applies the year while it is being produced
    calculator = service_factory("calculator", env)
    started = time.monotonic()
    kinds = asyncio.run(
        produce_in_batches(STREAM.events(), kafka_broker.bootstrap, Settings(topics=topics))
    )
    produced_s = time.monotonic() - started
    produced = sum(kinds.values())
    deadline = time.monotonic() + 900
    while _handled(calculator.metrics_url) < produced and time.monotonic() < deadline:
        time.sleep(2)
    applied_s = time.monotonic() - started
    table: dict[str, Any] = httpx.get(
        f"{api.url}/v1/reports/annual",
        params={"year": 2024, "target_set": "cv-112-eval-2024"},
        headers=READ,
        timeout=60,
    ).json()
    print(
        f"appendix 2024: {produced:,} events produced in {produced_s:.0f}s, all applied "
        f"after {applied_s:.0f}s (calculator CPU {_cpu_seconds(calculator.process.pid):.0f}s)",
        file=sys.stderr,
    )
    table["_api_url"] = api.url
    table["_kinds"] = kinds
    return table


def test_every_cell_of_the_published_table(annual: dict[str, Any]) -> None:
    published = {r.agency_code: r for r in load_appendix_2024()}
    rows = {r["agency_code"]: r for r in annual["rows"]}
    assert len(rows) == 30
    for code, row in rows.items():
        pub = published[code]
        for col in COLUMNS:
            assert row[col] == getattr(pub, col), f"{code} {col}"
        if pub.published_full_online_rate is None:
            assert row["rate"] is None
        else:
            assert round(row["rate"], 2) == pub.published_full_online_rate, code
        assert row["verdict"] == pub.published_verdict, code


def test_totals_verdicts_and_data_quality(annual: dict[str, Any]) -> None:
    total = annual["total"]
    pub = next(r for r in load_appendix_2024() if r.agency_code == "province")
    for col in COLUMNS:
        assert total[col] == getattr(pub, col), col
    assert total["rate_text"] == "42.50%"
    assert annual["agencies_meeting"] == 9
    rows = {r["agency_code"]: r for r in annual["rows"]}
    assert rows["thanh-tra-tinh"]["verdict"] == "Không đánh giá"
    assert rows["ubnd-long-xuyen"]["category_sum_minus_total"] == 20
    assert rows["ubnd-cho-moi"]["category_sum_minus_total"] == 56
    assert total["category_sum_minus_total"] == 303
    assert rows["so-cong-thuong"]["rate_text"] == "99.05%"


def _published_rows() -> list[Any]:
    return [r for r in load_appendix_2024() if r.agency_code != "province"]


def test_csv_reads_back_as_the_published_table(annual: dict[str, Any]) -> None:
    resp = httpx.get(
        f"{annual['_api_url']}/v1/reports/annual.csv",
        params={"year": 2024, "target_set": "cv-112-eval-2024"},
        headers=READ,
        timeout=60,
    )
    assert resp.status_code == 200
    assert resp.content.startswith("\ufeff".encode())  # BOM: Excel reads UTF-8 Vietnamese
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    header, body = rows[1], rows[2:]
    assert header[1] == "Cơ quan, đơn vị"
    assert len(body) == 31  # 30 agencies and the totals row
    for line, pub in zip(body, _published_rows(), strict=False):
        assert line[1] == pub.agency_name
        assert int(line[2]) == pub.hstn_total and int(line[10]) == pub.full_online_hstn
        assert line[12] == (
            ""
            if pub.published_full_online_rate is None
            else f"{pub.published_full_online_rate:.2f}%"
        )
        assert line[13] == pub.published_verdict
    assert body[-1][12] == "42.50%" and int(body[-1][2]) == 663_690


def test_xlsx_has_the_published_layout_and_figures(annual: dict[str, Any]) -> None:
    resp = httpx.get(
        f"{annual['_api_url']}/v1/reports/annual.xlsx",
        params={"year": 2024, "target_set": "cv-112-eval-2024"},
        headers=READ,
        timeout=60,
    )
    assert resp.status_code == 200
    ws: Any = openpyxl.load_workbook(io.BytesIO(resp.content)).active
    assert ws["B2"].value == "Cơ quan, đơn vị" and ws["E2"].value == "Một phần (Trực tiếp)"
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"E2:F2", "G2:I2", "J2:L2", "A2:A3", "B2:B3"} <= merged
    for offset, pub in enumerate(_published_rows()):
        r = 4 + offset
        assert ws.cell(r, 2).value == pub.agency_name
        assert ws.cell(r, 3).value == pub.hstn_total
        assert ws.cell(r, 11).value == pub.full_online_hstn
        rate = ws.cell(r, 13)
        if pub.published_full_online_rate is None:
            assert rate.value is None
        else:
            assert round(rate.value * 100, 2) == pub.published_full_online_rate
            assert rate.number_format == "0.00%"
        assert ws.cell(r, 14).value == pub.published_verdict
    total = 4 + len(_published_rows())
    assert ws.cell(total, 2).value == "Tổng cộng (toàn tỉnh)"
    assert ws.cell(total, 3).value == 663_690 and ws.cell(total, 3).font.bold
    assert round(ws.cell(total, 13).value * 100, 2) == 42.50
    assert ws.cell(total, 15).value == 303


def test_the_stream_has_every_lifecycle_event(annual: dict[str, Any]) -> None:
    kinds: Counter[str] = annual["_kinds"]
    reasons = {"received", "resolved", "returned", "payment", "rated", "withdrawn"}
    assert reasons | {"due_changed", "intake_rejected"} <= set(kinds)
    with_lifecycle = LIFECYCLE_FRACTION * 663_690
    assert kinds["resolved"] > 0.95 * with_lifecycle
    assert kinds["due_changed"] > 0.08 * with_lifecycle
    # the rejected intakes are extra dossiers: the table still counts 663,690
    assert kinds["intake_rejected"] > 0.002 * with_lifecycle
    assert kinds["received"] > 663_993 + kinds["intake_rejected"]


def _indicator(api_url: str, indicator: str, scope: str, period: str) -> tuple[int, int]:
    body = httpx.get(
        f"{api_url}/v1/indicators/{indicator}",
        params={"scope": scope, "period": period},
        headers=READ,
        timeout=60,
    ).json()
    return body["numerator"], body["denominator"]


def test_lifecycle_figures_follow_the_rules(annual: dict[str, Any]) -> None:
    """Every dossier figure of a few agencies, per year and in months where lifecycles
    cross a boundary, equals the pure-Python application of §4a to the same events."""
    api_url = annual["_api_url"]
    catalog = STREAM.catalog()
    definitions = load_indicators()
    now = datetime.now(LOCAL_TZ)
    for code in CROSS_CHECKED:
        expected = Figures().add_all(STREAM.agency_events(code))
        procs = catalog.of_agency(code)
        universe = {
            "proc_online": {p.procedure_code for p in procs if p.service_level != "in_person_only"},
            "proc_paid_online": {p.procedure_code for p in procs if p.fee_required},
        }
        for period in ("2024", "2024-01", "2024-12", "2025", "2025-01"):
            marks = expected.marks(code, period)
            for indicator in DOSSIER_INDICATORS:
                d = definitions[indicator]
                assert _indicator(api_url, indicator, code, period) == (
                    marks[d.numerator],
                    marks[d.denominator],
                ), (code, period, indicator)
            for indicator, name in ACTIVITY_INDICATORS.items():
                members = expected.distinct(code, period, name) & universe[name]
                got, _ = _indicator(api_url, indicator, code, period)
                assert got == len(members), (code, period, indicator)
        body = httpx.get(
            f"{api_url}/v1/dossiers/open", params={"scope": code}, headers=READ, timeout=60
        ).json()
        assert (body["open"], body["overdue"], body["due_within_24h"]) == expected.open_at(
            code, now
        ), code


def test_the_published_table_is_the_same_after_the_2026_procedure_catalog(
    annual: dict[str, Any],
) -> None:
    """Issue 18: the province loads the procedure catalog of 2026 — every 2024 procedure
    ended with `valid_to` (the district level's end, 2025-06-30), the merged province's own
    from 2025-07-01 — and the published 2024 table is reproduced cell for cell (the catalog
    figures of a period use the procedures valid in it). Runs last: it changes the catalog."""
    api = annual["_api_url"]
    ended = [
        p.model_copy(update={"valid_to": date(2025, 6, 30)})
        for p in STREAM.catalog().procedures.values()
    ]
    new = [
        Procedure(
            procedure_code=f"H01.03-2026-{n}",
            agency_code="H01.03",
            name=f"Thủ tục của Sở Nông nghiệp và Môi trường {n}",
            service_level=ServiceLevel.full_online,
            eligible_full_online=True,
            fee_required=n == 0,
            valid_from=date(2025, 7, 1),
        )
        for n in range(3)
    ]
    resp = httpx.put(
        f"{api}/v1/catalog/procedures",
        content=ProcedureCatalog([*ended, *new]).to_csv_text(),
        headers={**ADMIN, "content-type": "text/csv"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    time.sleep(2.5)  # the API re-reads the catalogs every 2 s
    again = httpx.get(
        f"{api}/v1/reports/annual",
        params={"year": 2024, "target_set": "cv-112-eval-2024"},
        headers=READ,
        timeout=60,
    ).json()
    assert len(again["rows"]) == 30
    assert again["rows"] == annual["rows"]
    published = {r.agency_code: r for r in load_appendix_2024()}
    for row in again["rows"]:
        assert row["verdict"] == published[row["agency_code"]].published_verdict
