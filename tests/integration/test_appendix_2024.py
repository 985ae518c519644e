"""Acceptance: the simulated year 2024 through the real pipeline (Kafka → Faust calculator →
Redis → API) reproduces every cell of the province's published table (Công văn 112/UBND-TH)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import openpyxl
import orjson
import pytest
from kafka import KafkaProducer

from shared.appendix import load_appendix_2024
from shared.config import Settings
from simulator.appendix2024 import YearStream
from simulator.replay import topic_for

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


@pytest.fixture(scope="module")
def annual(kafka_broker, redis_server, service_factory, isolated_module) -> dict[str, Any]:
    # Received dossiers only (what the table counts) plus documents: lifecycle events add
    # nothing to this table and would triple the volume.
    stream = YearStream(lifecycle_fraction=0.0, documents_per_agency=30)
    env = isolated_module["env"]
    topics = isolated_module["topics"]
    producer = KafkaProducer(
        bootstrap_servers=kafka_broker.bootstrap,
        acks="all",
        linger_ms=50,
        batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    settings = Settings(topics=topics)
    for event in stream.events():
        topic = topic_for(event, settings)
        producer.send(topic, key=event["agency_code"].encode(), value=orjson.dumps(event))
    producer.flush(300)
    producer.close()
    api = service_factory("api", env)
    # the procedure catalog changes while the services run: no restart needed
    resp = httpx.put(
        f"{api.url}/v1/catalog/procedures",
        content=stream.catalog().to_csv_text(),
        headers={**ADMIN, "content-type": "text/csv"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["rows"] == 8011
    service_factory("calculator", env)
    deadline = time.monotonic() + 600
    table: dict[str, Any] = {}
    while time.monotonic() < deadline:
        table = httpx.get(
            f"{api.url}/v1/reports/annual",
            params={"year": 2024, "target_set": "cv-112-eval-2024"},
            headers=READ,
            timeout=60,
        ).json()
        if (
            table["total"]["hstn_total"] == 663_690
            and table["total"]["full_online_hstn"] == 282_049
        ):
            break
        time.sleep(2)
    table["_api_url"] = api.url
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
