"""The demo's history (devstack/demo_history.py): 12 closed months, valid events, the same
on every run (so posting them again changes nothing), each month's dossiers finished."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import httpx

from devstack.demo_history import backfill, closed_months, month_events
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ, local_date
from shared.domain.catalog import AgencyLevel, load_agencies
from simulator.live import LiveGenerator

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


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
    agencies = load_agencies()  # in time: each event's agency valid on its own date
    for event in events:
        assert not isinstance(validate_event(event, agencies=agencies, now=NOW), list), event
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


def test_a_2026_month_is_the_merged_province_with_its_communes() -> None:
    """A month of the demo's history in 2026: every event is of a unit valid that day (none
    of an ended agency: no district, no department merged away), the communes receive most
    dossiers, every kind of commune-level unit has some, the island special zones few."""
    agencies = load_agencies()
    events = month_events(date(2026, 5, 1), 4_000)
    for event in events:
        assert not isinstance(validate_event(event, agencies=agencies, now=NOW), list), event
        day = local_date(datetime.fromisoformat(event["occurred_at"]))
        agency = agencies.agencies[event["agency_code"]]
        assert agency.valid_on(day), event
        assert agency.valid_to is None  # nothing of an agency that ended
    codes = {e["agency_code"] for e in events}
    assert not codes & {a.agency_code for a in agencies.at_level(AgencyLevel.huyen)}
    assert all(c.startswith("H01.") or c == "vp-ubnd-tinh" for c in codes)
    receipts = Counter(
        agencies.agencies[e["agency_code"]].level for e in events if e["event_type"] == "received"
    )
    assert receipts[AgencyLevel.xa] > 0.6 * sum(receipts.values())
    assert receipts[AgencyLevel.tinh] > 0
    communes = {c for c in codes if agencies.agencies[c].level is AgencyLevel.xa}
    assert len(communes) > 80  # most of the 102 commune-level units in one month
    names = {agencies.agencies[c].name.split()[1] for c in communes}
    assert {"xã", "phường"} <= names  # "UBND xã …", "UBND phường …"
    per_unit = Counter(e["agency_code"] for e in events if e["event_type"] == "received")
    island = per_unit["H01.200"] + per_unit["H01.202"]  # đặc khu Kiên Hải, Thổ Châu
    assert island < per_unit["H01.101"]  # a ward of Long Xuyên receives far more


def test_months_crossing_the_reorganisations_follow_the_catalog() -> None:
    """February 2025 ends with the 2024 departments, June 2025 with the districts: the
    months' dossiers finished after the change go on under the unit that continues theirs,
    and nothing is sent under a unit after its end."""
    agencies = load_agencies()
    for first in (date(2025, 2, 1), date(2025, 6, 1)):
        events = month_events(first, 2_000)
        receipt: dict[str, str] = {}
        for event in events:
            result = validate_event(event, agencies=agencies, now=NOW)
            assert not isinstance(result, list), (event, result)
            if event["event_type"] == "received":
                receipt.setdefault(event["dossier_id"], event["agency_code"])
        moved = 0
        for event in events:
            first_unit = receipt.get(event.get("dossier_id", ""))
            if first_unit is None or event["agency_code"] == first_unit:
                continue
            # a later event under another unit: the one continuing the first (its successor)
            chain = {first_unit}
            nxt = agencies.agencies[first_unit].successor_code
            while nxt:
                chain.add(nxt)
                nxt = agencies.agencies[nxt].successor_code
            assert event["agency_code"] in chain, event
            moved += 1
        if first.month == 6:  # e.g. Sở Y tế's dossiers are resolved by H01.10 in July
            assert moved > 0


def test_a_dossier_goes_on_under_the_unit_that_continues_its_own() -> None:
    """Dossiers received on 27 February 2025 and resolved in March: those of the
    departments merged on 1 March are resolved under the merged department's code."""
    agencies = load_agencies()
    received_at = datetime(2025, 2, 27, 9, 0, tzinfo=LOCAL_TZ)
    gen = LiveGenerator(seed=11, backlog=0, step_delay_s=4 * 86_400.0)
    first = {
        e["dossier_id"]: e["agency_code"] for e in (gen.received(received_at) for _ in range(4_000))
    }
    later: list[dict[str, object]] = []
    at = datetime(2025, 3, 10, 9, 0, tzinfo=LOCAL_TZ)
    while (event := gen.follow_up(at)) is not None:
        later.append(event)
    merged = {
        a.agency_code: a.successor_code
        for a in agencies.agencies.values()
        if a.valid_to == date(2025, 2, 28)
    }
    crossing = [e for e in later if first[str(e["dossier_id"])] in merged]
    assert crossing  # some dossiers of the merged departments were still open
    for event in crossing:
        assert event["agency_code"] == merged[first[str(event["dossier_id"])]], event
    for event in later:
        result = validate_event(event, agencies=agencies, now=NOW)
        assert not isinstance(result, list), (event, result)
