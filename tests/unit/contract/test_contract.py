"""Contract v1: every rejection names its field; valid events parse to their model."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.contract.events import DocumentIssued, DossierReceived
from shared.contract.schema_export import SCHEMA_DIR, generated_schemas, render
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from tests.factories import received

AGENCIES = load_agencies().codes
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def errors_of(raw: object) -> list[tuple[str, str]]:
    result = validate_event(raw, agencies=AGENCIES, now=NOW, index=0)
    assert isinstance(result, list), f"expected a rejection, got {result!r}"
    return [(e.field, e.reason) for e in result]


def test_valid_received_event_parses() -> None:
    event = validate_event(received(), agencies=AGENCIES, now=NOW)
    assert isinstance(event, DossierReceived)
    assert event.via_one_stop is True and event.digitized is False
    assert event.occurred_at.utcoffset() is not None


def test_unknown_fields_are_ignored_and_dropped() -> None:
    event = validate_event(received(citizen_name="Nguyễn Văn A"), agencies=AGENCIES, now=NOW)
    assert isinstance(event, DossierReceived)
    assert "citizen_name" not in event.model_dump()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"channel": "fax"}, "channel", "online"),
        ({"service_level": "level4"}, "service_level", "full_online"),
        ({"event_type": "archived"}, "event_type", "received"),
        ({"occurred_at": "2024-03-01T10:00:00"}, "occurred_at", "timezone"),
        ({"occurred_at": "2099-01-01T00:00:00+07:00"}, "occurred_at", "future"),
        ({"occurred_at": "2014-12-31T23:00:00+07:00"}, "occurred_at", "2015"),
        ({"occurred_at": 1_700_000_000}, "occurred_at", "RFC 3339"),
        ({"agency_code": "so-khong-ton-tai"}, "agency_code", "unknown agency"),
        ({"service_level": "in_person_only"}, "channel", "not allowed"),
        ({"submitted_by": None}, "submitted_by", "required"),
        ({"due_at": "2024-02-01T00:00:00+07:00"}, "due_at", "after occurred_at"),
        ({"event_id": ""}, "event_id", "at least 1"),
        ({"event_id": "x" * 129}, "event_id", "at most 128"),
    ],
)
def test_rejection_names_the_field(change: dict[str, object], field: str, words: str) -> None:
    raw = received()
    for key, value in change.items():
        if value is None:
            raw.pop(key)
        else:
            raw[key] = value
    found = errors_of(raw)
    assert any(f == field and words.lower() in r.lower() for f, r in found), found


@pytest.mark.parametrize(
    "missing",
    [
        "event_id",
        "occurred_at",
        "agency_code",
        "dossier_id",
        "procedure_code",
        "service_level",
        "channel",
        "due_at",
        "event_type",
    ],
)
def test_missing_required_field(missing: str) -> None:
    raw = received()
    raw.pop(missing)
    assert (missing, "Field required") in errors_of(raw)


def test_not_an_object() -> None:
    assert errors_of(["x"]) == [("event", "must be a JSON object")]


def test_document_event() -> None:
    raw = {
        "event_id": "v1",
        "event_type": "document_issued",
        "occurred_at": "2025-01-02T08:00:00Z",
        "agency_code": "so-y-te",
        "document_id": "vb-1",
        "electronic": True,
        "confidential": False,
    }
    assert isinstance(validate_event(raw, agencies=AGENCIES, now=NOW), DocumentIssued)
    raw.pop("electronic")
    assert ("electronic", "Field required") in errors_of(raw)


def test_committed_json_schemas_match_the_models() -> None:
    for name, schema in generated_schemas().items():
        committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
        assert committed == render(schema), (
            f"{name} drifted: run python -m shared.contract.schema_export"
        )


def test_schema_lists_every_event_type() -> None:
    dossier = render(generated_schemas()["dossier-event.v1.schema.json"])
    for event_type in ("received", "resolved", "returned", "payment", "rated", "withdrawn"):
        assert f'"const": "{event_type}"' in dossier
