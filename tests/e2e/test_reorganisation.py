"""A reorganisation loaded as data (domain §4a.6), end to end through the real ingest,
broker, calculator, Redis and API: a sample 2025 catalog (tests/fixtures: departments merged
on 1 March, districts ended on 30 June, sample communes) replaces the packaged one while
the services run."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from tests.factories import received
from tests.fixtures import AGENCIES_2024, REORGANISATION_EXAMPLE

INGEST = {"Authorization": "Bearer dev-ingest-token"}
READ = {"Authorization": "Bearer dev-read-token"}
ADMIN = {"Authorization": "Bearer dev-admin-token"}
CSV = {"content-type": "text/csv"}
EXAMPLE = REORGANISATION_EXAMPLE
PROCEDURES = (
    "procedure_code,agency_code,name,service_level,eligible_full_online,fee_required,"
    "valid_from,valid_to\n"
    # open-ended by mistake: the 2026 table must still leave so-tttt out (it ended)
    "p-tttt,so-tttt,Thủ tục TTTT,full_online,true,false,,\n"
    "p-khcn,so-khcn,Thủ tục KHCN,partial_online,true,false,,2025-02-28\n"
    "p-khcn-2025,so-khcn-2025,Thủ tục KHCN mới,full_online,true,false,2025-03-01,\n"
    "p-an-phu,ubnd-an-phu,Thủ tục An Phú,full_online,true,false,,2025-06-30\n"
)


def wait_for(fn: Callable[[], Any], expected: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    value = fn()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        value = fn()
    return value


def get(api: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{api}{path}", params=params, headers=READ, timeout=30)


def ok(api: str, path: str, **params: str) -> Any:
    resp = get(api, path, **params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def figure(api: str, scope: str, period: str, **params: str) -> tuple[int, int]:
    body = ok(api, "/v1/indicators/full_online_rate", scope=scope, period=period, **params)
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
    env = isolated_module["env"]
    api = service_factory("api", env).url
    put = httpx.put(
        f"{api}/v1/catalog/agencies",
        content=EXAMPLE.read_bytes(),
        headers={**ADMIN, **CSV},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    assert put.json()["rows"] == 42
    put = httpx.put(
        f"{api}/v1/catalog/procedures",
        content=PROCEDURES.encode(),
        headers={**ADMIN, **CSV},
        timeout=30,
    )
    assert put.status_code == 200, put.text
    calculator = service_factory("calculator", env)
    ingest = service_factory("ingest", env).url
    accepted = post(
        ingest,
        [
            # late event of a department merged away on 2025-03-01: still its own
            received(agency="so-tttt", dossier="t1", at="2025-02-20T09:00:00+07:00"),
            received(agency="so-khcn", dossier="k1", at="2025-01-15T09:00:00+07:00"),
            received(
                agency="so-khcn-2025",
                dossier="n1",
                at="2025-04-10T09:00:00+07:00",
                level="partial_online",
                channel="in_person",
            ),
            received(agency="so-khcn-2025", dossier="n2", at="2026-01-10T09:00:00+07:00"),
            # a district's last day, late
            received(agency="ubnd-an-phu", dossier="a1", at="2025-06-30T23:59:00+07:00"),
        ],
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["accepted"] == 5
    return {"api": api, "ingest": ingest, "calculator": calculator, **isolated_module}


def test_late_event_of_an_abolished_agency_is_counted_in_its_period(stack) -> None:
    api = stack["api"]
    assert wait_for(lambda: figure(api, "so-tttt", "2025-02"), (1, 1)) == (1, 1)
    assert wait_for(lambda: figure(api, "ubnd-an-phu", "2025-06"), (1, 1)) == (1, 1)
    # the 2025 province holds the merged-away and the new departments and the districts
    assert wait_for(lambda: figure(api, "province", "2025"), (3, 4)) == (3, 4)
    assert wait_for(lambda: figure(api, "province", "2026"), (1, 1)) == (1, 1)
    scope_2026 = ok(api, "/v1/indicators/full_online_rate", scope="province", period="2026")
    assert scope_2026["agencies"] == 18  # the agencies valid in 2026


def test_event_after_the_end_is_rejected_naming_agency_code(stack) -> None:
    resp = post(
        stack["ingest"],
        [
            received(agency="so-y-te", dossier="y1", at="2025-03-05T09:00:00+07:00"),
            received(agency="so-tttt", dossier="t2", at="2025-03-05T09:00:00+07:00"),
        ],
    )
    assert resp.status_code == 422, resp.text
    (error,) = resp.json()["errors"]
    assert error["index"] == 1 and error["field"] == "agency_code"
    assert error["reason"].startswith(
        "agency 'so-tttt' ended on 2025-02-28 (successor: so-khcn-2025)"
    )
    # 00:30 local on 1 July, written in UTC: the district has ended
    late = received(agency="ubnd-an-phu", dossier="a2", at="2025-06-30T17:30:00Z")
    resp = post(stack["ingest"], [late])
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "agency_code"
    early = received(agency="so-khcn-2025", dossier="n0", at="2025-02-01T09:00:00+07:00")
    resp = post(stack["ingest"], [early])
    assert resp.status_code == 422 and "starts on 2025-03-01" in resp.json()["errors"][0]["reason"]


def test_calculator_dead_letters_an_event_after_the_end(stack) -> None:
    api, topics = stack["api"], stack["topics"]
    producer = KafkaProducer(bootstrap_servers=stack["bootstrap"], acks="all")
    after = received(agency="so-tnmt", dossier=f"m-{uuid.uuid4().hex[:6]}")
    after["occurred_at"] = "2025-05-05T09:00:00+07:00"
    marker = received(agency="so-nnmt", dossier="m1", at="2025-05-06T09:00:00+07:00")
    # one key: one partition, so the marker is applied after the dead-lettered event
    producer.send(topics.dossier, key=b"so-nnmt", value=orjson.dumps(after)).get(10)
    producer.send(topics.dossier, key=b"so-nnmt", value=orjson.dumps(marker)).get(10)
    producer.close()
    assert wait_for(lambda: figure(api, "so-nnmt", "2025-05"), (1, 1)) == (1, 1)
    assert figure(api, "so-tnmt", "2025") == (0, 0)

    def dead_letters() -> list[dict[str, Any]]:
        consumer = KafkaConsumer(
            bootstrap_servers=stack["bootstrap"],
            auto_offset_reset="earliest",
            consumer_timeout_ms=3000,
        )
        consumer.assign([TopicPartition(topics.deadletter, 0)])  # created with 1 partition
        consumer.seek_to_beginning()
        letters = [orjson.loads(m.value) for m in consumer]
        consumer.close()
        return [d for d in letters if base64.b64decode(d["value_b64"]) == orjson.dumps(after)]

    ours = dead_letters()
    deadline = time.monotonic() + 30
    while not ours and time.monotonic() < deadline:
        ours = dead_letters()
    assert len(ours) == 1
    assert ours[0]["reason"] == "invalid_event"
    assert ours[0]["errors"][0]["field"] == "agency_code"
    assert "ended on 2025-02-28 (successor: so-nnmt)" in ours[0]["errors"][0]["reason"]


def test_include_predecessors_sums_the_merged_departments(stack) -> None:
    api = stack["api"]
    assert wait_for(lambda: figure(api, "so-khcn-2025", "2025"), (0, 1)) == (0, 1)
    folded = ok(
        api,
        "/v1/indicators/full_online_rate",
        scope="so-khcn-2025",
        period="2025",
        include_predecessors="true",
    )
    assert (folded["numerator"], folded["denominator"]) == (2, 3)
    assert folded["folded_agencies"] == ["so-khcn", "so-tttt"]
    assert folded["agencies"] == 3 and folded["value"] == pytest.approx(200 / 3)
    plain = ok(api, "/v1/indicators/full_online_rate", scope="so-khcn-2025", period="2025")
    assert "folded_agencies" not in plain or plain["folded_agencies"] is None
    points = ok(
        api,
        "/v1/series/full_online_rate",
        scope="so-khcn-2025",
        period="2025-01-01..2025-04-30",
        step="month",
        include_predecessors="true",
    )
    assert [(p["period"], p["numerator"], p["denominator"]) for p in points] == [
        ("2025-01", 1, 1),
        ("2025-02", 1, 1),
        ("2025-03", 0, 0),
        ("2025-04", 0, 1),
    ]
    assert points[0]["folded_agencies"] == ["so-khcn", "so-tttt"]
    unfolded = ok(
        api,
        "/v1/series/full_online_rate",
        scope="so-khcn-2025",
        period="2025-01-01..2025-04-30",
        step="month",
    )
    assert [p["denominator"] for p in unfolded] == [0, 0, 0, 1]
    for path in ("/v1/indicators/full_online_rate", "/v1/series/full_online_rate"):
        refused = get(api, path, scope="province", period="2025", include_predecessors="true")
        assert refused.status_code == 400 and refused.json()["field"] == "include_predecessors"


def test_annual_tables_list_the_agencies_valid_in_their_year(stack) -> None:
    api = stack["api"]
    assert wait_for(lambda: figure(api, "so-khcn-2025", "2026"), (1, 1)) == (1, 1)

    def rows(year: int) -> dict[str, dict[str, Any]]:
        table = ok(api, "/v1/reports/annual", year=str(year))
        return {r["agency_code"]: r for r in table["rows"]}

    y2025, y2026 = rows(2025), rows(2026)
    assert {"so-tttt", "so-khcn", "so-khcn-2025", "ubnd-an-phu"} <= set(y2025)
    assert y2025["so-tttt"]["agency_name"] == "Sở Thông tin và Truyền thông (đến 28/02/2025)"
    assert y2025["so-khcn-2025"]["agency_name"] == "Sở Khoa học và Công nghệ (từ 01/03/2025)"
    assert y2025["so-tttt"]["hstn_total"] == 1 and y2025["so-khcn-2025"]["tthc_total"] == 1
    assert set(y2026) == {"so-khcn-2025"}  # so-tttt's open-ended procedure does not bring it back
    assert y2026["so-khcn-2025"]["agency_name"] == "Sở Khoa học và Công nghệ"
    # procedures valid in the period: so-khcn's procedure ended with it
    assert y2025["so-khcn"]["tthc_total"] == 1


def test_catalog_views_of_a_day(stack) -> None:
    api = stack["api"]
    assert len(ok(api, "/v1/agencies", valid_on="2026-01-01")) == 18
    assert len(ok(api, "/v1/agencies")) == 42
    procedures = ok(api, "/v1/procedures", valid_on="2025-03-01")
    assert {p["procedure_code"] for p in procedures} == {"p-tttt", "p-khcn-2025", "p-an-phu"}

    def communes(day: str) -> dict[str, list[str]]:
        tree = ok(api, "/v1/agencies/tree", on=day)
        out: dict[str, list[str]] = {}
        for group in tree:
            for nodes in group["levels"].values():
                for node in nodes:
                    out[node["agency"]["agency_code"]] = [
                        c["agency"]["agency_code"] for c in node["children"]
                    ]
        return out

    june, july = communes("2025-06-30"), communes("2025-07-01")
    assert june["ubnd-long-xuyen"] == ["xa-mau-03", "xa-mau-04"]
    assert "ubnd-long-xuyen" not in july and "xa-mau-04" in july  # under the province


def test_catalog_loads_are_checked_and_never_drop_codes_with_figures(stack) -> None:
    api = stack["api"]
    assert wait_for(lambda: figure(api, "so-khcn-2025", "2025")[1] >= 1, True) is True
    bad = "agency_code,name,group,level,parent_code\nx,X,so_nganh,tinh,nope\n"
    resp = httpx.put(
        f"{api}/v1/catalog/agencies", content=bad.encode(), headers={**ADMIN, **CSV}, timeout=30
    )
    assert resp.status_code == 400
    assert "line 2: parent_code 'nope' is not in the file" in resp.json()["message"]
    # back to the 2024 catalog: so-khcn-2025 has figures and would be dropped
    old = AGENCIES_2024.read_bytes()
    resp = httpx.put(
        f"{api}/v1/catalog/agencies", content=old, headers={**ADMIN, **CSV}, timeout=30
    )
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["field"] == "agency_code" and "so-khcn-2025" in body["message"]
    assert "so-xay-dung-2025" not in body["message"]  # no figures: not what blocks the load
    assert len(ok(api, "/v1/agencies")) == 42  # unchanged
