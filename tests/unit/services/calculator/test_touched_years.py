"""The (agency, local year) pairs a batch's applied events touch: their updates."""

from __future__ import annotations

from services.calculator.calculator import touched_years
from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from tests.factories import received


def event(agency: str, at: str) -> Event:
    parsed = validate_event(
        received(agency=agency, at=at, due_at="2027-06-30T17:00:00+07:00"),
        agencies=load_agencies().codes,
    )
    assert not isinstance(parsed, list), parsed
    return parsed


def test_local_years_of_applied_events_only() -> None:
    events = [
        event("so-tttt", "2025-12-31T23:30:00+07:00"),  # local, 2025
        event("so-tttt", "2025-12-31T17:30:00+00:00"),  # 00:30 on 1 January, local: 2026
        event("so-y-te", "2025-06-01T08:00:00+07:00"),  # a duplicate: not applied
        event("so-y-te", "2025-12-31T16:59:59Z"),  # 23:59:59 local: 2025
    ]
    assert touched_years(events, [True, True, False, True]) == {
        ("so-tttt", 2025),
        ("so-tttt", 2026),
        ("so-y-te", 2025),
    }
