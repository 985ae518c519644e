"""Dossier lifecycles of contract v1.1 in the simulator (domain README §4a).

First the oracle, ``simulator.expected``, against hand-computed figures for every rule;
then the simulated year: under those rules its lifecycles (supplement requests,
extensions, suspensions, re-submissions, withdrawals, intake rejections, payments in
several transactions, corrections) leave every cell of the published appendix as it is,
and each new event type appears with a plausible share; last the live stream."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import AgencyCatalog, AgencyGroup, AgencyLevel, load_agencies
from simulator.appendix2024 import (
    INTAKE_REJECTED_MIN,
    YearStream,
    agency_rows,
)
from simulator.expected import Figures, epoch
from simulator.live import LiveGenerator
from tests.lifecycle_model import expected_figures

ROWS = {r.agency_code: r for r in agency_rows()}
# boundary agency (so-tu-phap), overlap district (châu đốc), no procedure at a dossier's
# level (so-gtvt), only in-person dossiers (thanh-tra-tinh), tiny agencies
SUBSET = (
    "ban-dan-toc",
    "so-gtvt",
    "so-khdt",
    "so-tnmt",
    "so-tu-phap",
    "thanh-tra-tinh",
    "ubnd-chau-doc",
)
CATEGORY_MARKS = {
    ("in_person_only", "in_person"): "cat_in_person_only_in_person",
    ("partial_online", "in_person"): "cat_partial_online_in_person",
    ("partial_online", "online"): "cat_partial_online_online",
    ("full_online", "in_person"): "cat_full_online_in_person",
    ("full_online", "online"): "cat_full_online_online",
}

# --------------------------------------------------------------------------- the oracle

A = "so-tu-phap"
_ids = iter(range(1, 10_000))


def ev(event_type: str, at: str, dossier: str = "d1", **fields: Any) -> dict[str, Any]:
    return {
        "event_id": fields.pop("event_id", f"e{next(_ids):04d}"),
        "event_type": event_type,
        "occurred_at": at,
        "agency_code": fields.pop("agency_code", A),
        "dossier_id": dossier,
        "procedure_code": fields.pop("procedure_code", "p1"),
        **fields,
    }


def rec(at: str, level: str, channel: str, due: str, dossier: str = "d1", **kw: Any) -> Any:
    extra = {"submitted_by": "citizen"} if channel == "online" else {}
    return ev(
        "received",
        at,
        dossier,
        service_level=level,
        channel=channel,
        due_at=due,
        **extra,
        **kw,
    )


def figures_in_any_order(events: list[dict[str, Any]]) -> Figures:
    """The figures of ``events``, checked to be the same in reverse and shuffled order and
    with every event delivered twice."""
    figures = Figures().add_all(events)
    shuffled = events[:]
    random.Random(7).shuffle(shuffled)
    for other in (events[::-1], shuffled + events):
        again = Figures().add_all(other)
        for period in ("2024", "2024-03", "2024-04", "2024-12", "2025", "2025-01"):
            assert again.marks(A, period) == figures.marks(A, period), period
            for name in ("proc_online", "proc_paid_online"):
                assert again.distinct(A, period, name) == figures.distinct(A, period, name)
    return figures


def test_cohort_across_the_year_boundary_at_local_midnight() -> None:
    f = figures_in_any_order(
        [
            # in person one second before local midnight, again online at midnight
            rec(
                "2024-12-31T23:59:59+07:00", "full_online", "in_person", "2025-01-06T17:00:00+07:00"
            ),
            rec("2025-01-01T00:00:00+07:00", "full_online", "online", "2025-01-06T17:00:00+07:00"),
            # 17:00 UTC on 31 Dec is 00:00 on 1 Jan in Asia/Ho_Chi_Minh
            rec(
                "2024-12-31T17:00:00+00:00",
                "partial_online",
                "online",
                "2025-01-06T17:00:00+07:00",
                "d2",
            ),
        ]
    )
    y2024, y2025 = f.marks(A, "2024"), f.marks(A, "2025")
    assert y2024["received"] == 1 and y2024["cat_full_online_in_person"] == 1
    # the online receipt of 1 January counts in December's cohort: 1/1 full online in 2024
    assert y2024["received_full_online_online"] == 1 == y2024["cat_full_online_online"]
    assert y2025["received"] == 1 and y2025["received_full_online_online"] == 0
    assert f.marks(A, "2025-01")["cat_partial_online_online"] == 1
    assert f.distinct(A, "2024", "proc_online") == {"p1"}


def test_late_first_resolution_then_an_on_time_correction() -> None:
    f = figures_in_any_order(
        [
            rec(
                "2024-03-01T09:00:00+07:00",
                "partial_online",
                "in_person",
                "2024-03-15T17:00:00+07:00",
            ),
            ev(
                "resolved",
                "2024-03-20T10:00:00+07:00",
                due_at="2024-03-15T17:00:00+07:00",
                outcome="approved",
            ),
            ev(
                "resolved",
                "2024-04-02T10:00:00+07:00",
                due_at="2024-04-10T17:00:00+07:00",
                outcome="rejected",
            ),
        ]
    )
    assert f.marks(A, "2024-03")["resolved"] == 1
    assert f.marks(A, "2024-03")["resolved_on_time"] == 0
    assert f.marks(A, "2024-04")["resolved"] == 0  # never 1/0 in April
    assert f.marks(A, "2024")["resolved"] == 1


def test_three_payments_of_one_dossier_are_three_transactions() -> None:
    f = figures_in_any_order(
        [
            rec("2024-03-01T09:00:00+07:00", "full_online", "online", "2024-03-15T17:00:00+07:00"),
            ev("payment", "2024-03-01T09:05:00+07:00", method="online", amount_vnd=100_000),
            ev("payment", "2024-03-29T10:00:00+07:00", method="offline", amount_vnd=20_000),
            ev("payment", "2024-04-01T10:00:00+07:00", method="online", amount_vnd=5_000),
        ]
    )
    assert (f.marks(A, "2024-03")["payment"], f.marks(A, "2024-03")["payment_online"]) == (2, 1)
    assert (f.marks(A, "2024-04")["payment"], f.marks(A, "2024-04")["payment_online"]) == (1, 1)
    assert (f.marks(A, "2024")["payment"], f.marks(A, "2024")["payment_online"]) == (3, 2)
    assert f.distinct(A, "2024-04", "proc_paid_online") == {"p1"}


def test_intake_rejection_arriving_before_the_receipt() -> None:
    rejected = ev("intake_rejected", "2024-03-01T10:00:00+07:00", reason="Sai thành phần")
    receipt = rec("2024-03-01T09:00:00+07:00", "full_online", "online", "2024-03-08T17:00:00+07:00")
    other = rec(
        "2024-03-02T09:00:00+07:00",
        "partial_online",
        "in_person",
        "2024-03-08T17:00:00+07:00",
        "d2",
    )
    f = figures_in_any_order([rejected, receipt, other])
    march = f.marks(A, "2024-03")
    assert march["received"] == 1 and march["received_full_online_online"] == 0
    assert march["received_online"] == 0 and f.distinct(A, "2024-03", "proc_online") == set()
    when = datetime(2024, 3, 20, tzinfo=LOCAL_TZ)
    assert f.status(A, "d1", when).open is False
    assert f.open_at(A, when) == (1, 1, 0)  # only d2, past its due time
    # before the rejection happened the dossier was received and open
    assert f.status(A, "d1", datetime(2024, 3, 1, 9, 30, tzinfo=LOCAL_TZ)).open


def test_withdrawn_full_online_dossier_keeps_its_intake_and_is_never_overdue() -> None:
    f = figures_in_any_order(
        [
            rec("2024-03-01T09:00:00+07:00", "full_online", "online", "2024-03-05T17:00:00+07:00"),
            ev("withdrawn", "2024-03-04T09:00:00+07:00"),
        ]
    )
    march = f.marks(A, "2024-03")
    assert march["received"] == march["received_full_online_online"] == 1
    assert f.open_at(A, datetime(2024, 3, 20, tzinfo=LOCAL_TZ)) == (0, 0, 0)
    assert f.open_at(A, datetime(2024, 3, 3, tzinfo=LOCAL_TZ)) == (1, 0, 0)


def test_a_supplement_request_moves_an_overdue_dossier_back_to_open_not_overdue() -> None:
    f = figures_in_any_order(
        [
            rec(
                "2024-03-01T09:00:00+07:00",
                "partial_online",
                "in_person",
                "2024-03-05T17:00:00+07:00",
            ),
            ev(
                "due_changed",
                "2024-03-07T09:00:00+07:00",
                reason="supplement_requested",
                due_at="2024-03-15T17:00:00+07:00",
            ),
        ]
    )
    assert f.open_at(A, datetime(2024, 3, 6, tzinfo=LOCAL_TZ)) == (1, 1, 0)
    assert f.open_at(A, datetime(2024, 3, 8, tzinfo=LOCAL_TZ)) == (1, 0, 0)
    assert f.open_at(A, datetime(2024, 3, 15, 8, tzinfo=LOCAL_TZ)) == (1, 0, 1)
    assert f.open_at(A, datetime(2024, 3, 16, tzinfo=LOCAL_TZ)) == (1, 1, 0)


def test_a_suspension_has_no_due_time_until_resumed() -> None:
    f = figures_in_any_order(
        [
            rec(
                "2024-03-01T09:00:00+07:00",
                "partial_online",
                "in_person",
                "2024-03-05T17:00:00+07:00",
            ),
            ev("due_changed", "2024-03-04T09:00:00+07:00", reason="suspended"),
            ev(
                "due_changed",
                "2024-03-12T09:00:00+07:00",
                reason="resumed",
                due_at="2024-03-14T17:00:00+07:00",
            ),
        ]
    )
    suspended = f.status(A, "d1", datetime(2024, 3, 10, tzinfo=LOCAL_TZ))
    assert suspended.open and not suspended.overdue and suspended.due is None
    assert f.open_at(A, datetime(2024, 3, 13, tzinfo=LOCAL_TZ)) == (1, 0, 0)
    assert f.open_at(A, datetime(2024, 3, 15, tzinfo=LOCAL_TZ)) == (1, 1, 0)


def test_due_time_in_force_ties_go_to_the_larger_event_id() -> None:
    at = "2024-03-04T09:00:00+07:00"
    f = Figures().add_all(
        [
            rec(
                "2024-03-01T09:00:00+07:00",
                "partial_online",
                "in_person",
                "2024-03-05T17:00:00+07:00",
            ),
            ev(
                "due_changed",
                at,
                event_id="z",
                reason="extended",
                due_at="2024-03-20T17:00:00+07:00",
            ),
            ev(
                "due_changed",
                at,
                event_id="a",
                reason="extended",
                due_at="2024-03-08T17:00:00+07:00",
            ),
        ]
    )
    assert f.status(A, "d1", datetime(2024, 3, 10, tzinfo=LOCAL_TZ)).due == epoch(
        "2024-03-20T17:00:00+07:00"
    )


def test_earliest_returned_and_rated_decide_and_marks_are_the_union_of_receipts() -> None:
    f = figures_in_any_order(
        [
            rec(
                "2024-03-01T09:00:00+07:00",
                "partial_online",
                "online",
                "2024-03-05T17:00:00+07:00",
                digitized=False,
            ),
            rec(
                "2024-04-02T09:00:00+07:00",
                "partial_online",
                "online",
                "2024-04-09T17:00:00+07:00",
                digitized=True,
            ),
            ev("returned", "2024-04-10T09:00:00+07:00", result_electronic=False),
            ev("returned", "2024-04-12T09:00:00+07:00", result_electronic=True),
            ev("rated", "2024-04-11T09:00:00+07:00", satisfaction="unsatisfied"),
            ev("rated", "2024-04-20T09:00:00+07:00", satisfaction="very_satisfied"),
        ]
    )
    march, april = f.marks(A, "2024-03"), f.marks(A, "2024-04")
    assert march["received"] == 1 == march["received_digitized"]  # the re-submission's mark
    assert march["cat_partial_online_online"] == 1 and april["received"] == 0
    assert (april["returned"], april["returned_electronic"]) == (1, 0)
    assert (april["rated"], april["rated_satisfied"]) == (1, 0)


# --------------------------------------------------------------------------- the simulated year


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    return list(YearStream(agencies=SUBSET, documents_per_agency=20).events())


@pytest.fixture(scope="module")
def figures(events: list[dict[str, Any]]) -> Figures:
    return Figures().add_all(events)


@pytest.fixture(scope="module")
def by_dossier(events: list[dict[str, Any]]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """Each dossier's events with their position in the stream (arrival order)."""
    out: dict[str, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for n, e in enumerate(events):
        if "dossier_id" in e:
            out[e["dossier_id"]].append((n, e))
    return out


def _of(items: Iterable[tuple[int, dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return sorted(
        (e for _, e in items if e["event_type"] == kind),
        key=lambda e: (epoch(e["occurred_at"]), e["event_id"]),
    )


def _check_appendix_rows(figures: Figures, codes: Iterable[str]) -> None:
    for code in codes:
        row = ROWS[code]
        year = figures.marks(code, "2024")
        assert year["received"] == row.hstn_total, code
        for cat, published in row.category_counts.items():
            assert year[CATEGORY_MARKS[cat]] == published, (code, cat)
        assert year["received_full_online_online"] == row.full_online_hstn, code
        # the intake cohort lies in 2024, whatever spills into 2025
        assert figures.marks(code, "2025")["received"] == 0, code
        months: Counter[str] = Counter()
        for m in range(1, 13):
            months.update(figures.marks(code, f"2024-{m:02d}"))
        assert +months == +year, code


def test_every_cell_of_the_subset_holds_under_the_lifecycle_rules(figures: Figures) -> None:
    _check_appendix_rows(figures, SUBSET)


def test_counting_by_event_instead_of_by_the_rules_would_be_wrong(
    events: list[dict[str, Any]], figures: Figures
) -> None:
    """The stream exercises the rules: naive counts differ from the appendix."""
    received = [e for e in events if e["event_type"] == "received"]
    for code in SUBSET:
        row = ROWS[code]
        ids = {e["dossier_id"] for e in received if e["agency_code"] == code}
        assert len(ids) >= row.hstn_total + INTAKE_REJECTED_MIN, code  # rejected intakes
    per_receipt = Counter(
        (e["agency_code"], e["service_level"], e["channel"])
        for e in received
        if e["occurred_at"] < "2025"
    )
    published = sum(sum(ROWS[c].category_counts.values()) for c in SUBSET)
    assert sum(per_receipt.values()) > published  # re-submissions and rejected receipts
    resolved = [e for e in events if e["event_type"] == "resolved"]
    assert len(resolved) > sum(figures.marks(c, "2024")["resolved"] for c in SUBSET) + sum(
        figures.marks(c, "2025")["resolved"] for c in SUBSET
    )  # corrections
    paying = {e["dossier_id"] for e in events if e["event_type"] == "payment"}
    transactions = sum(figures.marks(c, y)["payment"] for c in SUBSET for y in ("2024", "2025"))
    assert transactions == sum(e["event_type"] == "payment" for e in events) > len(paying)


def test_every_event_is_valid_and_the_new_types_have_plausible_shares(
    events: list[dict[str, Any]],
    by_dossier: dict[str, list[tuple[int, dict[str, Any]]]],
) -> None:
    agencies = load_agencies()  # in time: the 2024 units end in 2025, after the spill
    now = datetime.now(UTC)
    assert [
        e for e in events if isinstance(validate_event(e, agencies=agencies, now=now), list)
    ] == []
    assert len({e["event_id"] for e in events}) == len(events)
    kinds = Counter(e["event_type"] for e in events)
    reasons = Counter(e["reason"] for e in events if e["event_type"] == "due_changed")
    dossiers = sum(ROWS[c].hstn_total for c in SUBSET)  # every one has a lifecycle here

    def share(n: int) -> float:
        return n / dossiers

    assert 0.045 < share(reasons["supplement_requested"]) < 0.075
    assert 0.015 < share(reasons["extended"]) < 0.035
    assert 0.003 < share(reasons["suspended"]) < 0.010
    assert reasons["resumed"] == reasons["suspended"]
    assert 0.006 < share(kinds["withdrawn"]) < 0.02
    assert (
        0.01
        < share(
            kinds["resolved"]
            - len({e["dossier_id"] for e in events if e["event_type"] == "resolved"})
        )
        < 0.025
    )
    again = kinds["received"] - dossiers - kinds["intake_rejected"]  # beyond the first receipts
    overlap = sum(sum(ROWS[c].category_counts.values()) - ROWS[c].hstn_total for c in SUBSET)
    assert 0.02 < share(again - overlap) < 0.05
    assert INTAKE_REJECTED_MIN * len(SUBSET) <= kinds["intake_rejected"] < 0.006 * dossiers
    per_dossier = Counter(e["dossier_id"] for e in events if e["event_type"] == "payment")
    payers = Counter(per_dossier.values())
    assert set(payers) == {1, 2, 3}
    assert 0.10 < (payers[2] + payers[3]) / len(per_dossier) < 0.22
    mixed = [
        d
        for d, n in per_dossier.items()
        if n > 1 and len({e["method"] for e in _of(by_dossier[d], "payment")}) == 2
    ]
    assert mixed  # fee and surcharge paid by different methods
    assert all(e["amount_vnd"] > 0 for e in events if e["event_type"] == "payment")


def test_intake_rejections_are_extra_dossiers_some_rejected_before_their_receipt_arrives(
    events: list[dict[str, Any]],
    figures: Figures,
    by_dossier: dict[str, list[tuple[int, dict[str, Any]]]],
) -> None:
    rejected = [e for e in events if e["event_type"] == "intake_rejected"]
    per_agency = Counter(e["agency_code"] for e in rejected)
    assert all(per_agency[c] >= INTAKE_REJECTED_MIN for c in SUBSET)
    delivered_first = 0
    for r in rejected:
        items = by_dossier[r["dossier_id"]]
        assert int(r["dossier_id"][-6:]) >= ROWS[r["agency_code"]].hstn_total  # beyond the counted
        assert [e["event_type"] for _, e in items] in (
            ["received", "intake_rejected"],
            ["intake_rejected", "received"],
        )
        (pos_r, receipt) = next((n, e) for n, e in items if e["event_type"] == "received")
        pos_x = next(n for n, e in items if e["event_type"] == "intake_rejected")
        assert receipt["occurred_at"] < r["occurred_at"] and receipt["occurred_at"].startswith(
            "2024"
        )
        assert len(r["reason"]) <= 256
        delivered_first += pos_x < pos_r
        after = datetime.fromisoformat(r["occurred_at"]) + timedelta(seconds=1)
        assert not figures.status(r["agency_code"], r["dossier_id"], after).received
    assert 0.15 < delivered_first / len(rejected) < 0.5


def test_supplement_requests_extensions_and_suspensions_move_the_due_time(
    events: list[dict[str, Any]],
    figures: Figures,
    by_dossier: dict[str, list[tuple[int, dict[str, Any]]]],
) -> None:
    rescued = supplements = extended_late = 0
    for dossier, items in by_dossier.items():
        changes = _of(items, "due_changed")
        if not changes:
            continue
        agency = changes[0]["agency_code"]
        state = figures.dossiers[(agency, dossier)]
        previous = state.due_in_force(epoch(changes[0]["occurred_at"]) - 1)
        assert previous is not None
        for c in changes:
            at = epoch(c["occurred_at"])
            if c["reason"] == "suspended":
                assert "due_at" not in c
                status = figures.status(agency, dossier, datetime.fromtimestamp(at + 60, UTC))
                assert status.due is None and not status.overdue
                continue
            due = epoch(c["due_at"])
            assert due > at
            before = figures.status(agency, dossier, datetime.fromtimestamp(at - 1, UTC))
            after = figures.status(agency, dossier, datetime.fromtimestamp(at + 1, UTC))
            assert after.due == due and after.open and not after.overdue
            if c["reason"] == "supplement_requested":
                supplements += 1
                assert before.due is not None and due > before.due  # later, never earlier
                rescued += before.overdue  # an overdue dossier back to open, not overdue
            elif c["reason"] == "extended":
                assert before.due is not None and due > before.due
                extended_late += before.overdue
        kinds = [c["reason"] for c in changes]
        for k, reason in enumerate(kinds):
            if reason == "suspended":
                assert kinds[k + 1] == "resumed"
    assert 0.15 < rescued / supplements < 0.35
    assert extended_late > 0


def test_the_first_resolution_decides_and_carries_the_due_time_in_force(
    figures: Figures, by_dossier: dict[str, list[tuple[int, dict[str, Any]]]]
) -> None:
    corrections = reversed_outcome = new_due = late_then_on_time = on_time = 0
    resolutions = 0
    for dossier, items in by_dossier.items():
        resolved = _of(items, "resolved")
        if not resolved:
            continue
        first = resolved[0]
        agency = first["agency_code"]
        state = figures.dossiers[(agency, dossier)]
        at = epoch(first["occurred_at"])
        assert state.due_in_force(at) == epoch(first["due_at"])
        assert state.resolved is not None and state.resolved.event_id == first["event_id"]
        resolutions += 1
        on_time += state.resolved.positive
        if len(resolved) > 1:
            (second,) = resolved[1:]
            assert (
                second["event_id"].endswith("-resolved2")
                and second["occurred_at"] > first["occurred_at"]
            )
            corrections += 1
            reversed_outcome += second["outcome"] != first["outcome"]
            new_due += second["due_at"] != first["due_at"]
            late_then_on_time += (
                not state.resolved.positive and second["occurred_at"] <= second["due_at"]
            )
    assert 0.85 < on_time / resolutions < 0.995
    assert 0.01 < corrections / resolutions < 0.025
    assert reversed_outcome > 0 and new_due > 0 and late_then_on_time > 0


def test_resubmissions_come_later_under_a_category_the_dossier_has(
    events: list[dict[str, Any]],
    figures: Figures,
    by_dossier: dict[str, list[tuple[int, dict[str, Any]]]],
) -> None:
    later_month = 0
    resubmissions = 0
    for items in by_dossier.values():
        receipts = _of(items, "received")
        if len(receipts) < 2 or _of(items, "intake_rejected"):
            continue
        first = receipts[0]
        assert first["event_id"].endswith("-r1")
        cats = {(first["service_level"], first["channel"])}
        for k, r in enumerate(receipts[1:], start=2):
            assert r["event_id"].endswith(f"-r{k}")
            cat = (r["service_level"], r["channel"])
            if cat in cats:
                resubmissions += 1
                later_month += r["occurred_at"][:7] != first["occurred_at"][:7]
            cats.add(cat)
        # the cohort is the first receipt's month, whatever the later receipts say
        state = figures.dossiers[(first["agency_code"], first["dossier_id"])]
        assert state.cohort() == first["occurred_at"][:7]
    assert resubmissions > 500 and later_month > 20


def test_withdrawals_stop_the_lifecycle_and_keep_the_intake(
    figures: Figures, by_dossier: dict[str, list[tuple[int, dict[str, Any]]]]
) -> None:
    after_supplement = full_online = 0
    for dossier, items in by_dossier.items():
        withdrawn = _of(items, "withdrawn")
        if not withdrawn:
            continue
        assert not _of(items, "resolved") and not _of(items, "payment")
        last = max(e["occurred_at"] for _, e in items)
        assert last == withdrawn[0]["occurred_at"]  # nothing happens after it
        receipts = _of(items, "received")
        after_supplement += bool(_of(items, "due_changed"))
        full_online += ("full_online", "online") in {
            (r["service_level"], r["channel"]) for r in receipts
        }
        when = datetime.fromisoformat(last) + timedelta(days=400)
        assert not figures.status(receipts[0]["agency_code"], dossier, when).open
    assert after_supplement > 0 and full_online > 0


def test_no_lifecycle_without_a_fraction_and_rejections_follow_the_fraction() -> None:
    agencies = ("so-tnmt", "ubnd-chau-doc")
    kinds = Counter(
        e["event_type"]
        for e in YearStream(
            agencies=agencies, lifecycle_fraction=0.0, documents_per_agency=0
        ).events()
    )
    assert set(kinds) == {"received"}
    rejected = Counter(
        e["agency_code"]
        for e in YearStream(
            agencies=agencies, lifecycle_fraction=0.3, documents_per_agency=0
        ).events()
        if e["event_type"] == "intake_rejected"
    )
    assert rejected["so-tnmt"] == INTAKE_REJECTED_MIN
    assert rejected["ubnd-chau-doc"] == round(30028 * 0.003 * 0.3)


# --------------------------------------------------------------------------- live stream


def test_live_stream_has_the_new_event_types_now_and_then() -> None:
    agencies = load_agencies()  # the catalog in time: valid on each event's own date
    start = datetime(2026, 3, 2, 8, 0, tzinfo=LOCAL_TZ)  # a Monday morning
    gen = LiveGenerator(seed=5, backlog=200, step_delay_s=5.0, now=start)
    events: list[dict[str, Any]] = []
    for k in range(600):
        events += gen.batch(50, start + timedelta(seconds=5 * k))
    now = start + timedelta(hours=1)
    assert all(not isinstance(validate_event(e, agencies=agencies, now=now), list) for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    kinds = Counter(e["event_type"] for e in events)
    reasons = Counter(e["reason"] for e in events if e["event_type"] == "due_changed")
    assert {"supplement_requested", "extended", "suspended", "resumed"} <= set(reasons)
    assert kinds["intake_rejected"] > 0
    # contract v1.2 (§4b): syncs for nearly every dossier, apologies for some late ones,
    # petitions with their resolutions and ratings, publications, the new intake flags
    assert kinds["portal_synced"] > 0.5 * kinds["resolved"]
    assert reasons["apology_redated"] > 0
    assert kinds["petition_received"] > 0 and kinds["petition_resolved"] > 0
    assert kinds["petition_rated"] > 0 and kinds["procedure_published"] > 0
    receipts = [e for e in events if e["event_type"] == "received"]
    share = sum(bool(e.get("citizen_data_used")) for e in receipts) / len(receipts)
    assert 0.5 < share < 0.75
    assert 0.01 < kinds["due_changed"] / len(events) < 0.08  # a small share
    assert kinds["intake_rejected"] / len(events) < 0.01
    per_dossier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if "dossier_id" in e:
            per_dossier[e["dossier_id"]].append(e)
    figures = Figures().add_all(events)
    multi_payment = corrections = resubmitted = 0
    for dossier, items in per_dossier.items():
        types = [e["event_type"] for e in items]
        multi_payment += types.count("payment") > 1
        corrections += types.count("resolved") > 1
        resubmitted += types.count("received") > 1
        if "intake_rejected" in types:
            assert types[-1] == "intake_rejected" and set(types) <= {"received", "intake_rejected"}
        # (a transferred dossier's due time is shared by its records: the test above)
        if "resolved" in types and "received" in types and "transferred" not in types:
            first = next(e for e in items if e["event_type"] == "resolved")
            state = figures.dossiers[(first["agency_code"], dossier)]
            assert state.due_in_force(epoch(first["occurred_at"])) == epoch(first["due_at"])
    assert multi_payment > 0 and corrections > 0 and resubmitted > 0


def test_live_stream_sends_communes_dossiers_on_to_departments() -> None:
    """v1.2 ``transferred`` in the live stream (§4b): a commune's dossier of an inter-level
    procedure goes on to a provincial department valid that day, with a new due time; its
    later events (the resolution) come from the department, and the counting rules hold
    it open there, not at the commune, until it is resolved."""
    agencies = load_agencies()
    start = datetime(2026, 3, 2, 8, 0, tzinfo=LOCAL_TZ)  # a Monday morning
    gen = LiveGenerator(seed=9, backlog=0, step_delay_s=5.0, now=start)
    events: list[dict[str, Any]] = []
    for k in range(1200):
        events += gen.batch(50, start + timedelta(seconds=5 * k))
    now = start + timedelta(hours=2)
    assert all(not isinstance(validate_event(e, agencies=agencies, now=now), list) for e in events)
    moves = [e for e in events if e["event_type"] == "transferred"]
    communes = {
        e["dossier_id"]
        for e in events
        if e["event_type"] == "received"
        and (a := agencies.get(e["agency_code"])) is not None
        and a.level is AgencyLevel.xa
    }
    assert 0.005 < len(moves) / len(communes) < 0.04  # ~2 % of the communes' dossiers
    by_dossier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if "dossier_id" in e:
            by_dossier[e["dossier_id"]].append(e)
    resolved_at_department = 0
    for move in moves:
        source = agencies.get(move["agency_code"])
        target = agencies.get(move["to_agency_code"])
        assert source is not None and source.level is AgencyLevel.xa
        assert target is not None and target.group is AgencyGroup.so_nganh
        assert target.valid_on(date(2026, 3, 2)) and move["due_at"] > move["occurred_at"]
        items = by_dossier[move["dossier_id"]]
        after = items[items.index(move) + 1 :]
        assert all(e["agency_code"] == move["to_agency_code"] for e in after)
        assert all(e["agency_code"] == move["agency_code"] for e in items[: items.index(move)])
        resolved_at_department += any(e["event_type"] == "resolved" for e in after)
    assert resolved_at_department > 0
    # the reference model (the rules over the whole event set): still open at the
    # department, no longer at the commune
    model = expected_figures(validated(events, agencies, now))
    still_open = 0
    for move in moves:
        items = by_dossier[move["dossier_id"]]
        if any(e["event_type"] in ("resolved", "withdrawn") for e in items):
            continue
        ident = move["dossier_id"]
        assert ident not in model.open[move["agency_code"]]
        assert ident in model.open[move["to_agency_code"]]
        still_open += 1
    assert still_open > 0


def validated(events: list[dict[str, Any]], agencies: AgencyCatalog, now: datetime) -> list[Event]:
    out: list[Event] = []
    for raw in events:
        event = validate_event(raw, agencies=agencies, now=now)
        assert not isinstance(event, list), event
        out.append(event)
    return out
