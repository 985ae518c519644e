"""Acceptance: the simulated year 2024 through the real pipeline (Kafka → Faust calculator →
Redis → API) reproduces every cell of the province's published table (Công văn 112/UBND-TH)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaProducer

from shared.appendix import load_appendix_2024
from simulator.appendix2024 import YearStream

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
    for event in stream.events():
        topic = (
            topics.document
            if event["event_type"].startswith(("document", "work"))
            else (topics.dossier)
        )
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
