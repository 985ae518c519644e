"""The packaged catalog in time, end to end (domain README §4a.6, §9): services started on a
Redis that never held a catalog seed it with An Giang in time; an event of UBND xã Đông
Thái (``H01.187``) in 2026 is accepted by ingest and counted by the calculator; an event of
a 2024 district in 2026 is refused by ingest naming ``agency_code`` and the district's end,
and dead-lettered by the calculator when produced to Kafka directly; ``level:huyen`` of
2026 has no members, no target and no verdict."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.factories import received

INGEST = {"Authorization": "Bearer dev-ingest-token"}
READ = {"Authorization": "Bearer dev-read-token"}


def wait_for(fn: Callable[[], Any], expected: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    value = fn()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        value = fn()
    return value


def indicator(api: str, name: str, scope: str, period: str) -> dict[str, Any]:
    resp = httpx.get(
        f"{api}/v1/indicators/{name}",
        params={"scope": scope, "period": period},
        headers=READ,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def figure(api: str, scope: str, period: str) -> tuple[int, int]:
    body = indicator(api, "full_online_rate", scope, period)
    return body["numerator"], body["denominator"]


def post(ingest: str, events: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        f"{ingest}/v1/events",
        content=orjson.dumps(events),
        headers={**INGEST, "content-type": "application/json"},
        timeout=30,
    )


@pytest.fixture(scope="module")
def stack(isolated_module, service_factory) -> dict[str, Any]:
    env = isolated_module["env"]  # a fresh Redis database: seeded with the packaged catalog
    calculator = service_factory("calculator", env)
    ingest = service_factory("ingest", env).url
    api = service_factory("api", env).url
    return {"api": api, "ingest": ingest, "calculator": calculator, **isolated_module}


def test_the_services_serve_the_packaged_catalog_in_time(stack) -> None:
    resp = httpx.get(f"{stack['api']}/v1/agencies", headers=READ, timeout=30)
    assert resp.status_code == 200, resp.text
    agencies = {a["agency_code"]: a for a in resp.json()}
    assert len(agencies) == 154  # 31 units of 2024, 6 of March–June 2025, 117 since
    assert agencies["H01.187"]["name"] == "UBND xã Đông Thái"
    assert agencies["H01.187"]["valid_from"] == "2025-07-01"
    assert agencies["ubnd-an-phu"]["valid_to"] == "2025-06-30"


def test_an_event_of_xa_dong_thai_in_2026_is_accepted_and_counted(stack) -> None:
    api, ingest = stack["api"], stack["ingest"]
    dossier = f"dt-{uuid.uuid4().hex[:6]}"
    event = received(agency="H01.187", dossier=dossier, at="2026-03-04T08:15:00+07:00")
    resp = post(ingest, [event])
    assert resp.status_code == 202, resp.text
    assert resp.json()["accepted"] == 1
    assert wait_for(lambda: figure(api, "H01.187", "2026-03"), (1, 1)) == (1, 1)
    # counted in the commune level and the local group of 2026
    assert figure(api, "level:xa", "2026-03") == (1, 1)
    assert figure(api, "group:dia_phuong", "2026-03") == (1, 1)


def test_an_event_of_a_2024_district_in_2026_is_refused_naming_its_end(stack) -> None:
    district = received(agency="ubnd-an-phu", dossier="ap-2026", at="2026-03-04T08:15:00+07:00")
    resp = post(stack["ingest"], [district])
    assert resp.status_code == 422, resp.text
    (error,) = resp.json()["errors"]
    assert error["index"] == 0 and error["field"] == "agency_code"
    assert error["code"] == "agency_not_valid"
    assert error["reason"] == (
        "agency 'ubnd-an-phu' ended on 2025-06-30: not valid on 2026-03-04, "
        "the local date of occurred_at"
    )


def test_the_calculator_dead_letters_a_district_event_of_2026(stack) -> None:
    api, topics = stack["api"], stack["topics"]
    producer = KafkaProducer(bootstrap_servers=stack["bootstrap"], acks="all")
    after = received(agency="ubnd-cho-moi", dossier=f"cm-{uuid.uuid4().hex[:6]}")
    after["occurred_at"] = "2026-04-06T09:00:00+07:00"
    marker = received(agency="H01.187", dossier="marker", at="2026-04-07T09:00:00+07:00")
    # one key: one partition, so the marker is applied after the dead-lettered event
    producer.send(topics.dossier, key=b"x", value=orjson.dumps(after)).get(10)
    producer.send(topics.dossier, key=b"x", value=orjson.dumps(marker)).get(10)
    producer.close()
    assert wait_for(lambda: figure(api, "H01.187", "2026-04"), (1, 1)) == (1, 1)
    assert figure(api, "ubnd-cho-moi", "2026") == (0, 0)
    consumer = KafkaConsumer(bootstrap_servers=stack["bootstrap"], consumer_timeout_ms=5000)
    try:
        parts = [
            TopicPartition(topics.deadletter, p)
            for p in consumer.partitions_for_topic(topics.deadletter) or []
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        letters = [orjson.loads(m.value) for m in consumer]
    finally:
        consumer.close()
    reasons = [e["reason"] for d in letters for e in d["errors"] if e["field"] == "agency_code"]
    assert any(r.startswith("agency 'ubnd-cho-moi' ended on 2025-06-30") for r in reasons)


def test_level_huyen_of_2026_has_no_members_no_target_no_verdict(stack) -> None:
    body = indicator(stack["api"], "work_file_online_rate", "level:huyen", "2026")
    assert body["agencies"] == 0
    assert body["target"] is None and body["meets_target"] is None and body["verdict"] is None
    assert body["value"] is None
    # 2025 still had its districts: judged against its own row
    body_2025 = indicator(stack["api"], "work_file_online_rate", "level:huyen", "2025")
    assert body_2025["agencies"] == 11 and body_2025["target"] == 80.0
