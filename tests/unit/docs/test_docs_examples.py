"""The event examples of docs/integrating.md are what the contract accepts today: every
```json block with an ``event_type`` validates as it stands, each event type of contract
v1.2 has one, and no ```json planned block is left (a planned example must be refused,
so the page can never claim that something works before it does)."""

from __future__ import annotations

import json
import re
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies

ROOT = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"^```(json(?: planned)?)\n(.*?)^```$", re.M | re.S)
NOW = datetime(2026, 12, 3, tzinfo=UTC)


def blocks(kind: str) -> list[dict[str, Any]]:
    text = (ROOT / "docs" / "integrating.md").read_text(encoding="utf-8")
    found = [json.loads(body) for info, body in BLOCK.findall(text) if info == kind]
    return [b for b in found if isinstance(b, dict) and "event_type" in b]


def event_types() -> set[str]:
    """Every event_type the contract declares (the Literal of each event model)."""
    types: set[str] = set()
    for model in typing.get_args(Event):
        types |= set(typing.get_args(model.model_fields["event_type"].annotation))
    return types


def test_every_example_is_accepted_today() -> None:
    examples = blocks("json")
    agencies = load_agencies()
    for example in examples:
        result = validate_event(example, agencies=agencies, now=NOW)
        assert not isinstance(result, list), (example["event_id"], result)
        assert result.event_type == example["event_type"]
    assert len({e["event_id"] for e in examples}) == len(examples)


def test_each_event_type_has_an_example() -> None:
    declared = event_types()
    assert {"received", "due_changed", "intake_rejected", "work_file_completed"} <= declared
    v12 = {"transferred", "portal_synced", "procedure_published"}
    assert v12 | {"petition_received", "petition_resolved", "petition_rated"} <= declared
    assert {e["event_type"] for e in blocks("json")} == declared


def test_the_v12_examples_show_what_v12_adds() -> None:
    examples = blocks("json")
    reasons = {e.get("reason") for e in examples if e["event_type"] == "due_changed"}
    assert {"apology_redated", "supplement_requested"} <= reasons
    without_due = [e for e in examples if e.get("reason") == "supplement_requested"]
    assert any("due_at" not in e for e in without_due)
    flags = {"reused_digitized_data", "digitized_shared", "citizen_data_used"}
    assert any(flags <= set(e) for e in examples if e["event_type"] == "received")


def test_planned_examples_are_refused_today() -> None:
    planned = blocks("json planned")
    for example in planned:
        result = validate_event(example, agencies=load_agencies(), now=NOW)
        assert isinstance(result, list), (
            f"{example['event_type']} is accepted now: move it out of 'Planned: contract "
            "v1.2' in docs/integrating.md and say so in CHANGELOG.md"
        )
