"""The msgspec fast path (shared/contract/fastevents.py) against the pydantic path: the same event
for every valid record of every type, and for every invalid record no fast acceptance,
so the reasons and field names are pydantic's; the script arguments are unchanged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from services.ingest.body import decode_valid
from shared.contract.decoding import decode_record
from shared.contract.events import EVENT_MODELS
from shared.contract.fastevents import (
    FastEvent,
    FastValidator,
    build,
    decode_one,
    encode,
    with_source,
)
from shared.contract.partitioning import key_of
from shared.domain.catalog import parse_agencies_csv
from shared.domain.counting import entity_key, intake_items, marks_for, set_members
from shared.domain.lifecycle import Step, step_of
from shared.store.apply_plan import plan_calls
from shared.store.archived_years import archived_event
from shared.store.indicator_store import occurrence
from tests.factories import received
from tests.fixtures import REORGANISATION_EXAMPLE

REORG = parse_agencies_csv(REORGANISATION_EXAMPLE.read_text(encoding="utf-8"))
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
AT = "2024-05-02T09:00:00+07:00"


def petition(event_type: str, **extra: Any) -> dict[str, Any]:
    base = {
        "event_id": f"e-{event_type}",
        "event_type": event_type,
        "occurred_at": AT,
        "agency_code": "so-tttt",
        "petition_id": "pk-1",
    }
    return base | extra


def published(**flags: bool) -> dict[str, Any]:
    return {
        "event_id": "e-published",
        "event_type": "procedure_published",
        "occurred_at": AT,
        "agency_code": "so-tttt",
        "procedure_code": "p-1",
        "decision_on_time": True,
        "publicized": True,
        "publicized_on_time": True,
        "content_complete": False,
    } | flags


def dossier(event_type: str, **extra: Any) -> dict[str, Any]:
    base = {
        "event_id": f"e-{event_type}",
        "event_type": event_type,
        "occurred_at": AT,
        "agency_code": "so-tttt",
        "dossier_id": "d-1",
        "procedure_code": "p-1",
    }
    return base | extra


VALID: list[dict[str, Any]] = [
    received(at=AT),
    received(at=AT, source="igate", via_one_stop=False, digitized=True, extra_field=[1, 2]),
    received(at=AT, channel="postal", level="in_person_only"),
    received(at=AT, channel="in_person", level="partial_online", submitted_by="assisted"),
    received(at=AT, submitted_by="assisted", occurred_at="2024-05-02T02:00:00Z"),
    dossier("resolved", due_at="2024-05-03T17:00:00+07:00", outcome="approved"),
    dossier("resolved", due_at="2024-05-01T17:00:00+07:00", outcome="rejected"),
    dossier("returned", result_electronic=True),
    dossier("payment", method="online", amount_vnd=500_000),
    dossier("payment", method="offline", amount_vnd=0),
    dossier("rated", satisfaction="unsatisfied"),
    dossier("rated", satisfaction="very_satisfied", source=None),
    dossier("withdrawn"),
    dossier("due_changed", reason="suspended"),
    dossier("due_changed", reason="extended", due_at="2024-06-01T17:00:00+07:00"),
    dossier("intake_rejected", reason="Thành phần hồ sơ không đúng quy định"),
    # contract v1.2
    received(at=AT, reused_digitized_data=True, digitized_shared=True, citizen_data_used=True),
    dossier("due_changed", reason="supplement_requested"),
    dossier("due_changed", reason="apology_redated", due_at="2024-06-01T17:00:00+07:00"),
    dossier("transferred", to_agency_code="so-y-te"),
    dossier("transferred", to_agency_code="so-y-te", due_at="2024-05-20T17:00:00+07:00"),
    dossier("portal_synced"),
    petition("petition_received", classification="staff", due_at="2024-05-12T17:00:00+07:00"),
    petition("petition_resolved"),
    petition("petition_rated", satisfaction="satisfied"),
    published(),
    published(publicized=False, publicized_on_time=False, content_complete=True),
    {
        "event_id": "e-doc",
        "event_type": "document_issued",
        "occurred_at": AT,
        "agency_code": "ubnd-an-phu",
        "document_id": "vb-1",
        "electronic": True,
        "confidential": False,
    },
    {
        "event_id": "e-wf",
        "event_type": "work_file_completed",
        "occurred_at": AT,
        "agency_code": "so-tttt",
        "work_file_id": "wf-1",
        "processed_online": False,
        "confidential": True,
    },
    # the last local day of an abolished agency, written in UTC
    received(agency="so-tttt", at="2025-02-28T16:30:00Z"),
]

INVALID: list[Any] = [
    b"not json",
    b"[1, 2]",
    b'"text"',
    b"\xff\xfe",
    {"event_type": "received"},
    {"event_id": "x"},
    received(at=AT, event_type="opened"),
    received(at=AT, event_type=7),
    received(at=AT) | {"event_id": ""},
    received(at=AT, event_id="x" * 129),
    received(at=AT, agency_code="so-khong-co"),
    received(at=AT, occurred_at="2024-05-02T09:00:00"),  # no offset
    received(at=AT, occurred_at=1714615200),
    received(at=AT, occurred_at="2014-12-31T23:00:00+07:00"),
    received(at=AT, occurred_at="2026-11-24T08:06:00Z"),  # > 5 min ahead of NOW
    received(at=AT, due_at="2024-05-02T09:00:00+07:00"),  # not after occurred_at
    received(at=AT, channel="online", level="in_person_only"),
    received(at=AT, submitted_by=None),
    received(at=AT, channel="fax"),
    received(at=AT, via_one_stop="maybe"),
    received(at=AT, source=""),
    received(agency="so-tttt", at="2025-02-28T17:30:00Z"),  # after valid_to, local date
    received(agency="so-khcn-2025", at="2025-02-28T08:00:00+07:00"),  # before valid_from
    dossier("payment", method="online", amount_vnd=-1),
    dossier("payment", method="card", amount_vnd=1),
    dossier("due_changed", reason="extended"),
    dossier("intake_rejected", reason="x" * 257),
    dossier("rated"),
    {k: v for k, v in dossier("withdrawn").items() if k != "dossier_id"},
    # contract v1.2
    received(at=AT, citizen_data_used="maybe"),
    dossier("due_changed", reason="apology_redated"),  # re-dated: the new date is required
    dossier("due_changed", reason="sorry"),
    dossier("transferred"),
    dossier("transferred", to_agency_code="so-khong-co"),
    dossier("transferred", to_agency_code="so-tttt"),  # to itself
    dossier("transferred", to_agency_code="so-khcn-2025"),  # not valid yet in 2024
    dossier("transferred", to_agency_code="so-y-te", due_at="2024-05-20"),
    petition("petition_received", classification="staff"),
    petition("petition_received", classification="law", due_at="2024-05-12T17:00:00+07:00"),
    petition("petition_received", classification="other", due_at=AT),  # not after
    petition("petition_rated", satisfaction="ok"),
    {k: v for k, v in petition("petition_resolved").items() if k != "petition_id"},
    published(publicized=False),  # publicized on time but not publicized
    {k: v for k, v in published().items() if k != "decision_on_time"},
    published() | {"procedure_code": ""},
]


def as_bytes(raw: Any) -> bytes:
    return raw if isinstance(raw, bytes) else orjson.dumps(raw)


def view(step: Step) -> tuple[object, ...]:
    names = ("kind", "hid", "tie", "ts", "due", "bits", "procs", "flag", "proc", "marks")
    return tuple(getattr(step, name) for name in names)


@pytest.mark.parametrize("raw", VALID, ids=lambda r: f"{r['event_type']}")
def test_fast_path_builds_the_pydantic_event(raw: dict[str, Any]) -> None:
    value = as_bytes(raw)
    slow = decode_record(value, agencies=REORG, now=NOW)
    fast = FastValidator(REORG, NOW).decode(value)
    assert not isinstance(slow, tuple), slow
    assert fast is not None, "the fast path refused a valid event"
    assert type(fast) is type(slow)
    assert fast == slow
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_dump() == slow.model_dump()
    assert fast.occurred_at.utcoffset() == slow.occurred_at.utcoffset()
    assert view(step_of(fast)) == view(step_of(slow))
    assert occurrence(fast.occurred_at) == occurrence(slow.occurred_at)


@pytest.mark.parametrize("raw", VALID, ids=lambda r: f"{r['event_type']}")
def test_with_source_is_model_copy(raw: dict[str, Any]) -> None:
    """Ingest sets the token's default source without pydantic's copy: the same event."""
    event = FastValidator(REORG, NOW).decode(
        as_bytes({k: v for k, v in raw.items() if k != "source"})
    )
    assert event is not None
    copied = event.model_copy(update={"source": "igate"})
    cheap = with_source(event, "igate")
    assert type(cheap) is type(copied) and cheap == copied
    assert cheap.model_dump_json() == copied.model_dump_json()
    assert cheap.model_fields_set == copied.model_fields_set
    assert event.source is None  # the original is left as it was


@pytest.mark.parametrize("raw", VALID, ids=lambda r: f"{r['event_type']}")
@pytest.mark.parametrize("source", [None, "igate"])
def test_ingest_writes_a_struct_as_its_event(raw: dict[str, Any], source: str | None) -> None:
    """Ingest's fast path writes the struct itself: its record decodes (either path) to
    the event pydantic gives, with the default source where it names none; same key."""
    plain = {k: v for k, v in raw.items() if k != "source"}
    for record in ({**plain, "source": "cms"}, plain):
        struct = decode_one(as_bytes(record))
        assert struct is not None and FastValidator(REORG, NOW).ok(struct)
        event = build(struct)
        expected = with_source(event, source) if source and event.source is None else event
        value = encode(struct, source)
        assert decode_record(value, agencies=REORG, now=NOW) == expected
        assert FastValidator(REORG, NOW).decode(value) == expected
        assert orjson.loads(value) == orjson.loads(expected.model_dump_json())
        assert key_of(struct) == key_of(event)


@pytest.mark.parametrize("raw", VALID, ids=lambda r: f"{r['event_type']}")
def test_the_rules_read_a_struct_like_its_model(raw: dict[str, Any]) -> None:
    """The calculator hands the rules the decoded struct, never building the model: every
    rule reading an event gives the same for both (the marks are chosen by event type,
    not by class — a class test would give a struct no marks)."""
    struct = decode_one(as_bytes(raw))
    assert struct is not None
    event = build(struct)
    assert struct.event_type == event.event_type
    assert (struct.family, struct.topic_role) == (event.family, event.topic_role)
    assert struct.entity_id == event.entity_id
    assert entity_key(struct) == entity_key(event)
    assert marks_for(struct) == marks_for(event)
    assert set_members(struct) == set_members(event)
    if event.event_type == "received":
        assert intake_items(struct) == intake_items(event)  # type: ignore[arg-type]
    assert view(step_of(struct)) == view(step_of(event))
    assert archived_event(struct, {2024}) == archived_event(event, {2024})
    planned = [
        [(c.agency, [(n.key, n.ident, [view(x) for x in n.steps]) for n in c.entities]) for c in p]
        for p in (plan_calls([struct], ""), plan_calls([event], ""))
    ]
    assert planned[0] == planned[1]
    if event.event_type in ("received", "document_issued", "work_file_completed"):
        confidential = getattr(event, "confidential", False)
        assert bool(marks_for(struct)) is not confidential  # (a class test gave none)


@pytest.mark.parametrize(
    ("at", "accepted"),
    [
        ("2015-01-01T00:00:00+00:00", True),  # the earliest instant, in UTC and local time
        ("2015-01-01T07:00:00+07:00", True),
        ("2014-12-31T23:59:59.999999+00:00", False),
        ("2015-01-01T06:59:59.999999+07:00", False),
        ("2026-11-24T08:05:00+00:00", True),  # NOW + MAX_FUTURE, and just past it
        ("2026-11-24T15:05:00+07:00", True),
        ("2026-11-24T09:05:00+01:00", True),
        ("2026-11-24T08:05:00.000001+00:00", False),
        ("2026-11-24T15:05:00.000001+07:00", False),
    ],
)
def test_time_bounds_decided_like_pydantic_in_any_offset(at: str, accepted: bool) -> None:
    """The fast path compares stamps with bounds held in msgspec's +07:00 tzinfo (a fast
    comparison): in any offset it accepts exactly what pydantic accepts."""
    # (an agency valid over the whole range: only the time bounds decide)
    raw = received(agency="so-cong-thuong", at=at)
    raw["due_at"] = "2027-06-30T00:00:00+07:00"
    slow = decode_record(as_bytes(raw), agencies=REORG, now=NOW)
    fast = FastValidator(REORG, NOW).decode(as_bytes(raw))
    assert (fast is not None) is accepted
    assert (not isinstance(slow, tuple)) is accepted, slow
    if fast is not None:
        assert view(step_of(fast)) == view(step_of(slow))  # type: ignore[arg-type]


def test_every_event_type_is_covered() -> None:
    assert {r["event_type"] for r in VALID} == set(EVENT_MODELS)


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_records_keep_the_pydantic_reasons(raw: Any) -> None:
    value = as_bytes(raw)
    fast = FastValidator(REORG, NOW)
    assert fast.decode(value) is None, "the fast path accepted an invalid record"
    slow = decode_record(value, agencies=REORG, now=NOW)
    with_fast = decode_record(value, agencies=REORG, now=NOW, fast=fast)
    assert isinstance(slow, tuple) and slow[1], slow
    assert with_fast == slow
    assert [(e.field, e.reason, e.code) for e in with_fast[1]] == [
        (e.field, e.reason, e.code) for e in slow[1]
    ]


def test_records_decoded_as_structs_are_the_models_events() -> None:
    """``structs=True`` (the calculator's and the replay's path): what the fast path
    accepts stays a struct, equal to the model once built; what it refuses gets the same
    dead-letter reasons as pydantic's path."""
    fast = FastValidator(REORG, NOW)
    for raw in VALID:
        value = as_bytes(raw)
        got = decode_record(value, agencies=REORG, now=NOW, fast=fast, structs=True)
        assert isinstance(got, FastEvent), raw
        assert build(got) == decode_record(value, agencies=REORG, now=NOW)
    for raw in INVALID:
        value = as_bytes(raw)
        got = decode_record(value, agencies=REORG, now=NOW, fast=fast, structs=True)
        assert got == decode_record(value, agencies=REORG, now=NOW)
        assert isinstance(got, tuple) and got[1]
    empty = decode_record(None, agencies=REORG, now=NOW, fast=fast, structs=True)
    assert isinstance(empty, tuple) and empty[0] == "empty"


def test_agency_validity_cached_per_day_still_decides_per_event() -> None:
    fast = FastValidator(REORG, NOW)
    last_day = received(agency="so-tttt", at="2025-02-28T23:59:00+07:00")
    next_day = received(agency="so-tttt", at="2025-03-01T00:00:00+07:00")
    assert fast.decode(orjson.dumps(last_day)) is not None
    assert fast.decode(orjson.dumps(next_day)) is None
    assert fast.decode(orjson.dumps(last_day)) is not None


@pytest.mark.parametrize(
    "raw",
    [
        received(at=AT, via_one_stop="yes"),
        dossier("payment", method="online", amount_vnd=5.0),
        dossier("returned", result_electronic=1),
    ],
)
def test_lax_values_pydantic_accepts_fall_back_to_it(raw: dict[str, Any]) -> None:
    value = as_bytes(raw)
    fast = FastValidator(REORG, NOW)
    assert fast.decode(value) is None  # msgspec is strict: pydantic decides
    slow = decode_record(value, agencies=REORG, now=NOW)
    assert not isinstance(slow, tuple)
    assert decode_record(value, agencies=REORG, now=NOW, fast=fast) == slow


def test_ingest_body_in_one_pass_or_none_for_pydantic() -> None:
    fast = FastValidator(REORG, NOW)
    array = orjson.dumps(VALID)
    ndjson = b"\n".join(orjson.dumps(r) for r in VALID) + b"\n"
    slow = [decode_record(orjson.dumps(r), agencies=REORG, now=NOW) for r in VALID]
    for body, ndjson_body in ((array, False), (ndjson, True)):
        structs = decode_valid(body, ndjson_body, fast, 100)
        assert structs is not None
        assert [build(s) for s in structs] == slow
    # one invalid event, too many events, an empty array, an object: pydantic's path decides
    bad = orjson.dumps([*VALID, dossier("rated")])
    assert decode_valid(bad, False, fast, 100) is None
    assert decode_valid(array, False, fast, len(VALID) - 1) is None
    assert decode_valid(ndjson, True, fast, len(VALID) - 1) is None
    assert decode_valid(b"[]", False, fast, 100) is None
    assert decode_valid(orjson.dumps(VALID[0]), False, fast, 100) is None
