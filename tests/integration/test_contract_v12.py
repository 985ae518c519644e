"""Contract v1.2 end to end on a real broker and Redis: ingest takes each new event type
over HTTP (202), the records land on the dossier topic under their entity keys, the
calculator's decode path reads them back to the same events (no dead letter) and the apply
script notes them — ids recorded, figures untouched, the state byte for byte what the
rules in Python write. And the procedure catalog's history through the API: the 766
columns, a replacement dropping procedures counted in figures refused (409 naming them),
ending them with ``valid_to`` accepted, ``GET /v1/catalog/history`` from the catalog
topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from redis.asyncio import Redis

from services.api.app import create_app as create_api
from services.ingest.app import create_app as create_ingest
from shared.contract.decoding import decode_record
from shared.contract.events import Event
from shared.contract.fastevents import FastValidator
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.domain.lifecycle import Changes, apply_entity, step_of
from shared.domain.procedures import Procedure
from shared.platform.config import Settings
from shared.store import keys as redis_keys
from shared.store.catalogs import CatalogStore
from shared.store.exceptions import DroppedProceduresError
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db
from tests.factories import received
from tests.fixtures import AGENCIES_2024

pytestmark = pytest.mark.integration

INGEST = {"Authorization": "Bearer dev-ingest-token", "content-type": "application/json"}
ADMIN = {"Authorization": "Bearer dev-admin-token", "content-type": "text/csv"}
READ = {"Authorization": "Bearer dev-read-token"}
AGENCY = "so-tttt"
AT = "2024-05-02T09:00:00+07:00"


def head(event_type: str, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"v12-{event_type}-{n}",
        "event_type": event_type,
        "occurred_at": fields.pop("occurred_at", AT),
        "agency_code": AGENCY,
        **fields,
    }


def v12_events() -> list[dict[str, Any]]:
    """A receipt with the new flags, then one event of each new type (and the new
    due_changed reasons) for its dossier, a petition and a procedure."""
    d = {"dossier_id": "HS-12", "procedure_code": "1.001"}
    return [
        received(
            agency=AGENCY,
            dossier="HS-12",
            at="2024-05-01T08:00:00+07:00",
            event_id="v12-received-0",
            procedure_code="1.001",
            due_at="2024-05-10T17:00:00+07:00",
            reused_digitized_data=True,
            digitized_shared=True,
            citizen_data_used=True,
        ),
        head("portal_synced", 1, **d),
        head("transferred", 2, to_agency_code="so-y-te", **d),
        head(
            "due_changed",
            3,
            reason="apology_redated",
            due_at="2024-05-20T17:00:00+07:00",
            occurred_at="2024-05-11T09:00:00+07:00",
            **d,
        ),
        head(
            "due_changed",
            4,
            reason="supplement_requested",
            occurred_at="2024-05-12T09:00:00+07:00",
            **d,
        ),
        head(
            "petition_received",
            5,
            petition_id="PAKN-12",
            classification="staff",
            due_at="2024-05-12T17:00:00+07:00",
        ),
        head("petition_resolved", 6, petition_id="PAKN-12"),
        head("petition_rated", 7, petition_id="PAKN-12", satisfaction="very_satisfied"),
        head(
            "procedure_published",
            8,
            procedure_code="1.001",
            decision_on_time=False,
            publicized=True,
            publicized_on_time=True,
            content_complete=True,
        ),
    ]


def consume(bootstrap: str, topic: str, partitions: int = 6) -> list[Any]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    records = list(consumer)
    consumer.close()
    return records


def test_each_new_event_type_is_accepted_reaches_kafka_and_is_applied(isolated) -> None:
    topics = isolated["topics"]
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"], redis_url=isolated["redis_url"], topics=topics
    )
    raws = v12_events()
    with TestClient(create_ingest(settings)) as ingest:
        resp = ingest.post("/v1/events", content=orjson.dumps(raws), headers=INGEST)
        assert resp.status_code == 202, resp.text
        body = resp.json()
        # petitions and publications travel on the dossier topic, like the dossiers
        assert body["accepted"] == len(raws) and body["by_topic"] == {topics.dossier: len(raws)}
        bad = head("transferred", 9, dossier_id="HS-12", procedure_code="1.001")
        refused = ingest.post("/v1/events", content=orjson.dumps([bad]), headers=INGEST)
        assert refused.status_code == 422 and refused.json()["field"] == "to_agency_code"

    records = consume(isolated["bootstrap"], topics.dossier)
    assert not consume(isolated["bootstrap"], topics.document)
    assert len(records) == len(raws)  # the refused one never reached Kafka
    by_id = {orjson.loads(r.value)["event_id"]: r for r in records}
    assert by_id["v12-petition_rated-7"].key == b"so-tttt/pk:PAKN-12"
    assert by_id["v12-procedure_published-8"].key == b"so-tttt/proc:1.001"
    assert by_id["v12-transferred-2"].key == b"so-tttt/d:HS-12"

    # the calculator's decode path: every record an event (never a dead letter), equal to
    # what was posted (with the source ingest stamps from the token)
    agencies = load_agencies()
    now = datetime.now(UTC)
    fast = FastValidator(agencies, now)
    decoded: dict[str, Event] = {}
    for event_id, record in by_id.items():
        event = decode_record(record.value, agencies=agencies, now=now, fast=fast)
        assert not isinstance(event, tuple), (event_id, event)
        decoded[event_id] = event
    (source,) = {e.source for e in decoded.values()}
    assert source
    for raw in raws:
        sent = validate_event(raw, agencies=agencies, now=now)
        assert not isinstance(sent, list)
        assert decoded[raw["event_id"]] == sent.model_copy(update={"source": source})
    events = [decoded[raw["event_id"]] for raw in raws]  # in the posted order

    async def apply() -> None:
        redis = Redis.from_url(isolated["redis_url"])
        store = IndicatorStore(redis)
        try:
            assert await store.apply_many(events[:1]) == [True]
            year = date(2024, 1, 1), date(2024, 12, 31)
            marks = ["received", "received_online", "received_full_online_online"]
            before = await store.sum_marks([AGENCY], *year, marks)
            at = datetime(2024, 5, 13, tzinfo=UTC)
            assert await store.open_counts([AGENCY], at) == {AGENCY: (1, 1, 0)}  # overdue
            # the apply path takes every new event (no error, each applied once)
            assert await store.apply_many(events[1:]) == [True] * (len(events) - 1)
            assert await store.apply_many(events) == [False] * len(events)
            assert await store.applied_events([AGENCY]) == {AGENCY: len(events)}
            assert await store.sum_marks([AGENCY], *year, marks) == before
            assert before[AGENCY]["received"] == 1
            # the transfer moved it to so-y-te, where the latest deadline change, a
            # supplement request without due_at (sent under so-tttt), stopped the clock
            # (like suspended): open, not overdue
            assert await store.open_counts([AGENCY], at) == {AGENCY: (0, 0, 0)}
            assert await store.open_counts(["so-y-te"], at) == {"so-y-te": (1, 0, 0)}
            score = await redis.zscore(redis_keys.open_dossiers("so-y-te"), "HS-12")
            assert score == float("inf")
            assert await store.applied_events(["so-y-te"]) == {"so-y-te": 0}
            # the script's states are what the rules in Python write, byte for byte
            for ident, family, mine in (
                ("HS-12", "d", events[:5]),
                ("PAKN-12", "pk", events[5:8]),
                ("1.001", "proc", events[8:]),
            ):
                stored = await redis.hget(redis_keys.entity(AGENCY, f"{family}:{ident}"), ident)
                python, _ = apply_entity(
                    None,
                    [step_of(e) for e in mine],
                    ident,
                    AGENCY,
                    Changes(),
                    document=family == "proc",
                    petition=family == "pk",
                )
                assert stored == python, family
        finally:
            await redis.aclose()

    asyncio.run(apply())


# -- the procedure catalog in time, through the API -----------------------------------------

HEADER = (
    "procedure_code,agency_code,name,service_level,eligible_full_online,fee_required,"
    "citizen_data_connected,certified_copy,valid_from,valid_to"
)
P1 = "p1,so-y-te,Chứng thực bản sao từ bản chính,full_online,true,true,false,true"
P2 = "p2,so-y-te,Thủ tục 2,partial_online,true,false,true,false"
P3 = "p3,ubnd-an-phu,Thủ tục 3,partial_online,false,false,,"
P4 = "p4,so-y-te,Thủ tục 4,full_online,true,false,,"  # valid from 2030: in no year's figures
P5 = "p5,so-y-te,Thủ tục 5,full_online,true,false,true,"


def csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def wait_for(fn: Callable[[], Any], check: Callable[[Any], bool], timeout: float = 10) -> Any:
    """The value of ``fn`` once ``check`` holds (the API's catalog copy refreshes every
    2 s)."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not check(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = fn()
    return value


def test_procedure_catalog_history_through_the_api(isolated) -> None:
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        redis_url=isolated["redis_url"],
        topics=isolated["topics"],
    )
    with TestClient(create_api(settings)) as api:
        assert api.get("/v1/catalog/history", headers=READ).json()["replacements"] == []
        agencies = AGENCIES_2024.read_bytes()  # the 2024 units, undated
        assert api.put("/v1/catalog/agencies", content=agencies, headers=ADMIN).status_code == 200
        first = csv(f"{P1},,", f"{P2},,", f"{P3},,", f"{P4},2030-01-01,")
        resp = api.put("/v1/catalog/procedures", content=first, headers=ADMIN)
        assert resp.status_code == 200, resp.text

        # so-y-te has a dossier counted in 2024; ubnd-an-phu none
        async def count_one() -> None:
            redis = Redis.from_url(isolated["redis_url"])
            raw = received(agency="so-y-te", dossier="HS-1", at="2024-03-05T09:00:00+07:00")
            event = validate_event(raw, agencies=load_agencies())
            assert not isinstance(event, list)
            await IndicatorStore(redis).apply_many([event])
            await redis.aclose()

        asyncio.run(count_one())

        dropped = api.put("/v1/catalog/procedures", content=csv(f"{P3},,"), headers=ADMIN)
        assert dropped.status_code == 409, dropped.text
        body = dropped.json()
        assert body["error"] == "procedures_dropped" and body["field"] == "procedure_code"
        assert "p1 (so-y-te: 2024), p2 (so-y-te: 2024)" in body["message"]
        assert "valid_to" in body["message"] and "p1, p2" in body["message_vi"]
        # moving a counted procedure to another agency drops it from its agency's past
        moved = csv(f"{P1},,", f"{P2.replace('so-y-te', 'ubnd-an-phu')},,", f"{P3},,")
        resp = api.put("/v1/catalog/procedures", content=moved, headers=ADMIN)
        assert resp.status_code == 409 and "p2 (so-y-te: 2024)" in resp.json()["message"]
        assert "p1" not in resp.json()["message"].split("are counted")[0]

        # ended with valid_to instead; p3 (no figures) and p4 (no year with figures) dropped
        ended = csv(f"{P1},,2025-02-28", f"{P2},,", f"{P5},2025-03-01,")
        resp = api.put("/v1/catalog/procedures", content=ended, headers=ADMIN)
        assert resp.status_code == 200, resp.text
        assert resp.json()["rows"] == 3

        def codes(**params: str) -> list[str]:
            got = api.get("/v1/procedures", params=params, headers=READ)
            assert got.status_code == 200, got.text
            return sorted(p["procedure_code"] for p in got.json())

        assert wait_for(codes, lambda c: c == ["p1", "p2", "p5"]) == ["p1", "p2", "p5"]
        assert codes(certified_copy="true") == ["p1"]
        assert codes(citizen_data_connected="true") == ["p2", "p5"]
        assert codes(citizen_data_connected="false", certified_copy="false") == []
        assert codes(valid_on="2025-06-01") == ["p2", "p5"]
        (p1,) = [
            p for p in api.get("/v1/procedures", headers=READ).json() if p["procedure_code"] == "p1"
        ]
        assert (p1["certified_copy"], p1["citizen_data_connected"]) == (True, False)
        assert p1["valid_to"] == "2025-02-28"

        twice = csv(f"{P1},,", f"{P1},,")
        resp = api.put("/v1/catalog/procedures", content=twice, headers=ADMIN)
        assert resp.status_code == 400 and resp.json()["error"] == "invalid_catalog"
        assert "line 3: procedure_code 'p1' repeats line 2" in resp.json()["message"]

        assert api.get("/v1/catalog/history").status_code == 401
        history = api.get("/v1/catalog/history", headers=READ)
        assert history.status_code == 200, history.text
        assert history.json()["topic"] == isolated["topics"].catalog
        got = [
            (r["kind"], r["rows"], r["added"], r["ended"], r["removed"])
            for r in history.json()["replacements"]
        ]
        # refused replacements never reached the log
        assert got == [
            ("agencies", 31, 31, 0, 0),
            ("procedures", 4, 4, 0, 0),
            ("procedures", 3, 1, 1, 2),  # p5 added, p1 ended, p3 and p4 removed
        ]
        only = api.get("/v1/catalog/history", params={"kind": "procedures"}, headers=READ)
        assert [r["offset"] for r in only.json()["replacements"]] == [1, 2]
        times = [r["published_at"] for r in history.json()["replacements"]]
        assert times == sorted(times)
        bad = api.get("/v1/catalog/history", params={"kind": "targets"}, headers=READ)
        assert bad.status_code == 400 and bad.json()["field"] == "kind"


def test_history_without_the_catalog_log_is_503(redis_server) -> None:
    settings = Settings(redis_url=redis_db(redis_server, 12), catalog_log_enabled=False)
    with TestClient(create_api(settings)) as api:
        resp = api.get("/v1/catalog/history", headers=READ)
    assert resp.status_code == 503
    assert resp.json()["error"] == "catalog_log_unavailable" and resp.json()["message_vi"]


def proc(code: str, agency: str, valid_to: date | None = None) -> Procedure:
    return Procedure(
        procedure_code=code,
        agency_code=agency,
        name=code,
        service_level="partial_online",
        eligible_full_online=False,
        fee_required=False,
        valid_to=valid_to,
    )


def test_the_guard_reads_the_current_keyspace_and_the_years(redis_server) -> None:
    """Figures of a rebuilt keyspace are the ones that count, and only the years in which
    the dropped procedure was valid."""

    async def run() -> None:
        redis = Redis.from_url(redis_db(redis_server, 12))
        await redis.flushdb()
        try:
            store = CatalogStore(redis)
            old = [proc("a1", "so-y-te", date(2023, 12, 31)), proc("a2", "so-y-te")]
            await store.replace_procedures(old)
            await redis.set(redis_keys.data_version("so-y-te"), 1)
            # figures of 2024 in the original keyspace, but readers use ks7: (a rebuild)
            await redis.hset(redis_keys.counters_prefix("so-y-te") + "Y2024", "received", 5)
            await redis.set(redis_keys.KEYSPACE_CURRENT, "ks7:")
            assert await store.procedures_dropped_with_figures([]) == []
            await redis.hset(redis_keys.counters_prefix("so-y-te", "ks7:") + "Y2024", "received", 2)
            # a1 ended in 2023, a year without dossiers: only a2 is counted (in 2024)
            assert await store.procedures_dropped_with_figures([]) == [("a2", "so-y-te", [2024])]
            with pytest.raises(DroppedProceduresError) as caught:
                await store.replace_procedures([])
            assert caught.value.codes == ["a2"]
            assert len((await store.load()).procedures) == 2  # unchanged
            await store.replace_procedures([proc("a2", "so-y-te", date(2024, 3, 31))])
            assert len((await store.load()).procedures) == 1
            # a restore replaces whatever is there
            await store.replace_procedures([], allow_drop=True)
            assert len((await store.load()).procedures) == 0
        finally:
            await redis.aclose()

    asyncio.run(run())
