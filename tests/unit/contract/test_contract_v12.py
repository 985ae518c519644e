"""Contract v1.2 (domain README §4b): the new events and fields validate, every rejection
names its field, ``to_agency_code`` is checked against the catalog on the event's local
date, the new entities have their Kafka keys and topic, and until their counting rules are
written the calculator's decode and apply path takes every new event without error:
decoded (msgspec and pydantic alike), applied as *noted* — its id recorded, no figure
changed — never dead-lettered."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.ingest.app import _record
from shared.contract.decoding import decode_record
from shared.contract.events import (
    CONTRACT_VERSION,
    EVENT_MODELS,
    DossierDueChanged,
    DossierReceived,
    DossierTransferred,
    Event,
    PetitionClassification,
    PetitionReceived,
    ProcedurePublished,
)
from shared.contract.fastevents import FastValidator
from shared.contract.partitioning import key_of, raw_key
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies, parse_agencies_csv
from shared.domain.counting import entity_key, marks_for
from shared.domain.lifecycle import (
    PUBLISHED,
    RATED,
    RECEIVED,
    RESOLVED,
    SYNCED,
    TRANSFERRED,
    Changes,
    apply_entity,
    intake_bits,
    step_of,
)
from shared.platform.config import Settings
from tests.factories import received
from tests.fixtures import REORGANISATION_EXAMPLE
from tests.unit.contract.test_fast_decoding import NOW, dossier, petition, published

EXAMPLE = REORGANISATION_EXAMPLE
REORG = parse_agencies_csv(EXAMPLE.read_text(encoding="utf-8"))
AT = "2024-05-02T09:00:00+07:00"

NEW_EVENTS: dict[str, dict[str, Any]] = {
    "transferred": dossier("transferred", to_agency_code="so-y-te"),
    "portal_synced": dossier("portal_synced"),
    "petition_received": petition(
        "petition_received", classification="procedure", due_at="2024-05-12T17:00:00+07:00"
    ),
    "petition_resolved": petition("petition_resolved"),
    "petition_rated": petition("petition_rated", satisfaction="unsatisfied"),
    "procedure_published": published(),
}


def parse(raw: dict[str, Any]) -> Event:
    event = validate_event(raw, agencies=REORG, now=NOW)
    assert not isinstance(event, list), event
    return event


def reasons(raw: dict[str, Any]) -> list[tuple[str, str]]:
    result = validate_event(raw, agencies=REORG, now=NOW, index=0)
    assert isinstance(result, list), f"accepted: {result!r}"
    return [(e.field, e.reason) for e in result]


def test_the_contract_is_v12_and_declares_every_new_event() -> None:
    assert CONTRACT_VERSION == "1.2"
    assert set(NEW_EVENTS) <= set(EVENT_MODELS)
    assert len(EVENT_MODELS) == 16


def test_received_flags_default_false_and_are_kept() -> None:
    plain = parse(received(at=AT))
    assert isinstance(plain, DossierReceived)
    assert (plain.reused_digitized_data, plain.digitized_shared, plain.citizen_data_used) == (
        False,
        False,
        False,
    )
    flagged = parse(received(at=AT, digitized_shared=True, citizen_data_used=True))
    assert isinstance(flagged, DossierReceived)
    assert (flagged.reused_digitized_data, flagged.digitized_shared) == (False, True)
    assert flagged.model_dump()["citizen_data_used"] is True


def test_due_changed_reasons_of_v12() -> None:
    stop = parse(dossier("due_changed", reason="supplement_requested"))
    assert isinstance(stop, DossierDueChanged) and stop.due_at is None
    redated = parse(
        dossier("due_changed", reason="apology_redated", due_at="2024-06-01T17:00:00+07:00")
    )
    assert isinstance(redated, DossierDueChanged) and redated.reason == "apology_redated"
    # a supplement request may still carry its new due time (v1.1 events stay valid)
    assert parse(
        dossier("due_changed", reason="supplement_requested", due_at="2024-06-01T17:00:00+07:00")
    )


def test_new_events_parse_to_their_models() -> None:
    events = {kind: parse(raw) for kind, raw in NEW_EVENTS.items()}
    assert {kind: type(e) for kind, e in events.items()} == {
        kind: EVENT_MODELS[kind] for kind in NEW_EVENTS
    }
    transfer = events["transferred"]
    assert isinstance(transfer, DossierTransferred) and transfer.due_at is None
    pk = events["petition_received"]
    assert isinstance(pk, PetitionReceived)
    assert pk.classification is PetitionClassification.procedure and pk.entity_id == "pk-1"
    pub = events["procedure_published"]
    assert isinstance(pub, ProcedurePublished) and pub.entity_id == "p-1"


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (dossier("due_changed", reason="apology_redated"), "due_at", "required"),
        (dossier("due_changed", reason="sorry"), "reason", "apology_redated"),
        (dossier("transferred"), "to_agency_code", "Field required"),
        (dossier("transferred", to_agency_code="so-khong-co"), "to_agency_code", "unknown"),
        (dossier("transferred", to_agency_code="so-tttt"), "to_agency_code", "differ"),
        (
            dossier("transferred", to_agency_code="so-y-te", due_at="2024-05-20"),
            "due_at",
            "timezone",
        ),
        (
            petition("petition_received", classification="law", due_at="2024-05-12T17:00:00Z"),
            "classification",
            "procedure",
        ),
        (petition("petition_received", classification="staff"), "due_at", "Field required"),
        (
            petition("petition_received", classification="staff", due_at=AT),
            "due_at",
            "after occurred_at",
        ),
        (petition("petition_rated", satisfaction="ok"), "satisfaction", "satisfied"),
        (
            {k: v for k, v in petition("petition_resolved").items() if k != "petition_id"},
            "petition_id",
            "Field required",
        ),
        (published(publicized=False), "publicized_on_time", "publicized is false"),
        (published() | {"content_complete": "maybe"}, "content_complete", "boolean"),
        (
            {k: v for k, v in published().items() if k != "decision_on_time"},
            "decision_on_time",
            "Field required",
        ),
        (received(at=AT, citizen_data_used="maybe"), "citizen_data_used", "boolean"),
        (dossier("portal_synced", agency_code="so-khong-co"), "agency_code", "unknown agency"),
    ],
)
def test_each_rejection_names_its_field(raw: dict[str, Any], field: str, words: str) -> None:
    found = reasons(raw)
    assert any(f == field and words.lower() in r.lower() for f, r in found), found


def test_to_agency_code_must_be_valid_on_the_local_date_of_occurred_at() -> None:
    # so-khcn-2025 starts on 2025-03-01, so-tttt ends on 2025-02-28 (the example catalog)
    def transfer(at: str, source: str, target: str) -> dict[str, Any]:
        return dossier("transferred", occurred_at=at, agency_code=source, to_agency_code=target)

    early = reasons(transfer("2025-02-28T23:59:00+07:00", "so-tttt", "so-khcn-2025"))
    assert early == [
        (
            "to_agency_code",
            "agency 'so-khcn-2025' starts on 2025-03-01: not valid on 2025-02-28, the local "
            "date of occurred_at",
        )
    ]
    # the same instant written in UTC: still 2025-02-28 in the province
    assert reasons(transfer("2025-02-28T16:59:00Z", "so-tttt", "so-khcn-2025"))
    assert parse(transfer("2025-02-28T17:00:00Z", "so-y-te", "so-khcn-2025"))
    late = reasons(transfer("2025-03-02T09:00:00+07:00", "so-y-te", "so-tttt"))
    assert late[0][0] == "to_agency_code" and "ended on 2025-02-28" in late[0][1]
    # the fast path accepts exactly what pydantic accepts
    fast = FastValidator(REORG, NOW)
    refused = transfer("2025-02-28T16:59:00Z", "so-tttt", "so-khcn-2025")
    assert fast.decode(orjson.dumps(refused)) is None
    accepted = transfer("2025-02-28T17:00:00Z", "so-y-te", "so-khcn-2025")
    assert fast.decode(orjson.dumps(accepted)) == parse(accepted)


def test_a_refused_target_is_a_dead_letter_naming_the_field() -> None:
    early = dossier(
        "transferred", occurred_at="2025-02-28T16:59:00Z", to_agency_code="so-khcn-2025"
    )
    fast = FastValidator(REORG, NOW)
    result = decode_record(orjson.dumps(early), agencies=REORG, now=NOW, fast=fast)
    assert isinstance(result, tuple)
    reason, errors = result
    assert reason == "invalid_event" and [e.field for e in errors] == ["to_agency_code"]


def test_entity_keys_and_kafka_keys_of_the_new_entities() -> None:
    events = {kind: parse(raw) for kind, raw in NEW_EVENTS.items()}
    expected = {
        "transferred": b"so-tttt/d:d-1",  # under the agency that sends it
        "portal_synced": b"so-tttt/d:d-1",
        "petition_received": b"so-tttt/pk:pk-1",
        "petition_resolved": b"so-tttt/pk:pk-1",
        "petition_rated": b"so-tttt/pk:pk-1",
        "procedure_published": b"so-tttt/proc:p-1",
    }
    for kind, event in events.items():
        assert key_of(event) == expected[kind] == raw_key(NEW_EVENTS[kind]), kind
        assert f"so-tttt/{entity_key(event)}".encode() == expected[kind]
    no_id = {k: v for k, v in NEW_EVENTS["petition_rated"].items() if k != "petition_id"}
    assert raw_key(no_id) == b"so-tttt"


def test_petitions_and_publications_travel_on_the_dossier_topic() -> None:
    settings = Settings()
    topics = {kind: _record(parse(raw), settings, []).topic for kind, raw in NEW_EVENTS.items()}
    assert set(topics.values()) == {settings.topics.dossier}
    document = {
        "event_id": "d",
        "event_type": "document_issued",
        "occurred_at": AT,
        "agency_code": "so-tttt",
        "document_id": "vb-1",
        "electronic": True,
        "confidential": False,
    }
    assert _record(parse(document), settings, []).topic == settings.topics.document
    roles = {kind: model.topic_role for kind, model in EVENT_MODELS.items()}
    assert {k for k, r in roles.items() if r == "document"} == {
        "document_issued",
        "work_file_completed",
    }


# the rules' kind of each new event (shared.domain.lifecycle)
KINDS = {
    "transferred": TRANSFERRED,
    "portal_synced": SYNCED,
    "petition_received": RECEIVED,
    "petition_resolved": RESOLVED,
    "petition_rated": RATED,
    "procedure_published": PUBLISHED,
}


@pytest.mark.parametrize("kind", sorted(NEW_EVENTS))
def test_the_calculator_decodes_and_applies_each_new_event(kind: str) -> None:
    """The calculator's decode path (msgspec first, pydantic behind it) gives the event,
    the rules apply it once (the id recorded in its entity's state), the same id again is a
    duplicate."""
    value = orjson.dumps(NEW_EVENTS[kind])
    event = decode_record(value, agencies=REORG, now=NOW, fast=FastValidator(REORG, NOW))
    assert not isinstance(event, tuple), event  # never a dead letter
    assert event == decode_record(value, agencies=REORG, now=NOW)  # pydantic agrees
    assert event.event_type == kind
    assert marks_for(event) == []
    step = step_of(event)
    assert step.kind == KINDS[kind]
    document = kind == "procedure_published"
    petition = kind.startswith("petition")
    changes = Changes()
    state, applied = apply_entity(
        None,
        [step],
        event.entity_id,
        event.agency_code,
        changes,
        document=document,
        petition=petition,
    )
    assert applied == [True] and state is not None and changes.applied == 1
    again = Changes()
    state2, applied2 = apply_entity(
        state,
        [step],
        event.entity_id,
        event.agency_code,
        again,
        document=document,
        petition=petition,
    )
    assert applied2 == [False] and state2 is None and again.applied == 0


def test_a_supplement_request_without_due_stops_the_clock() -> None:
    stop = parse(
        dossier(
            "due_changed", reason="supplement_requested", occurred_at="2024-05-03T09:00:00+07:00"
        )
    )
    assert step_of(stop).due is None  # the rules' suspension
    receipt = parse(received(at=AT, dossier="d-1", due_at="2024-05-10T17:00:00+07:00"))
    changes = Changes()
    apply_entity(None, [step_of(receipt), step_of(stop)], "d-1", "so-tttt", changes)
    assert changes.open == {"d-1": float("inf")}  # open, never overdue


def test_v11_events_are_unchanged_by_v12() -> None:
    catalog = load_agencies()
    v11 = received(at=AT, dossier="d-9")
    event = validate_event(v11, agencies=catalog, now=NOW)
    assert isinstance(event, DossierReceived)
    # the new flags default false: the rules see a v1.1 receipt
    assert step_of(event).bits == intake_bits(event)[0]
    suspended = validate_event(
        dossier("due_changed", reason="suspended"), agencies=catalog, now=NOW
    )
    assert isinstance(suspended, DossierDueChanged) and step_of(suspended).due is None


def test_one_schema_per_entity_titled_with_the_contract_version() -> None:
    from shared.contract.schema_export import generated_schemas, render

    schemas = generated_schemas()
    assert set(schemas) == {
        "dossier-event.v1.schema.json",
        "petition-event.v1.schema.json",
        "procedure-event.v1.schema.json",
        "document-event.v1.schema.json",
    }
    assert {s["title"].rsplit(" ", 1)[1] for s in schemas.values()} == {"v1.2"}
    text = {name.split("-")[0]: render(schema) for name, schema in schemas.items()}
    for kind in ("transferred", "portal_synced", "apology_redated", "citizen_data_used"):
        assert kind in text["dossier"], kind
    for kind in ("petition_received", "petition_resolved", "petition_rated", "classification"):
        assert kind in text["petition"], kind
    assert '"const": "procedure_published"' in text["procedure"]
    assert "publicized_on_time" in text["procedure"]
