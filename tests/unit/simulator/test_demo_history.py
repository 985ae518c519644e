"""The demo's history (devstack/demo_history.py): 12 closed months, valid events, the same
on every run (so posting them again changes nothing), each month's dossiers finished."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import httpx

from devstack.demo_history import backfill, closed_months, month_events
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies


def test_the_twelve_months_before_this_one() -> None:
    months = closed_months(date(2026, 11, 25))
    assert months[0] == date(2025, 11, 1) and months[-1] == date(2026, 10, 1)
    assert len(months) == 12
    assert closed_months(date(2027, 1, 1))[-1] == date(2026, 12, 1)


def test_a_months_events_are_valid_repeatable_and_finished() -> None:
    first = date(2025, 3, 1)
    events = month_events(first, 1_000)
    assert events == month_events(first, 1_000)  # same ids, same content
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["event_id"].startswith("live-h202503-") for e in events)
    agencies = load_agencies()
    for event in events:
        assert not isinstance(validate_event(event, agencies=agencies.codes), list), event
    receipts = [e for e in events if e["event_type"] == "received"]
    first_receipt: dict[str, str] = {}
    for e in receipts:  # a re-submission may come after the month: the first is in it
        first_receipt[e["dossier_id"]] = min(
            first_receipt.get(e["dossier_id"], "9"), e["occurred_at"]
        )
    assert first_receipt and all(at.startswith("2025-03-") for at in first_receipt.values())
    finished = {
        e["dossier_id"]
        for e in events
        if e["event_type"] in ("resolved", "withdrawn", "intake_rejected")
    }
    still_open = set(first_receipt) - finished
    assert len(still_open) <= 0.02 * len(first_receipt)  # the tail finishes the month's dossiers


def test_backfill_posts_each_month_once(tmp_path: Path) -> None:
    posted: list[int] = []

    def ingest(request: httpx.Request) -> httpx.Response:
        import json

        batch = json.loads(request.content)
        posted.append(len(batch))
        return httpx.Response(202, json={"accepted": len(batch), "rejected": []})

    client = httpx.Client(transport=httpx.MockTransport(ingest))
    lines: list[str] = []
    today = date(2026, 2, 10)
    first = backfill(
        "http://ingest",
        "t",
        tmp_path,
        today=today,
        events_per_month=50,
        client=client,
        report=lines.append,
    )
    assert first == sum(posted) > 0 and len(lines) == 12
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "2025-02.sent"
    again = backfill(
        "http://ingest",
        "t",
        tmp_path,
        today=today,
        events_per_month=50,
        client=client,
        report=lines.append,
    )
    assert again == 0 and len(lines) == 12  # marked months are not sent again
