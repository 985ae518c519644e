"""The contract v1.2 rules (§4b) and the Decision 766 inputs (§8) in
``shared/domain/lifecycle.py``, case by case (the property tests of ``test_lifecycle.py``
compare random lifecycles with the reference model; these pin the rare ones)."""

from __future__ import annotations

from itertools import permutations
from typing import Any

from shared.contract.events import Event
from shared.domain.counting import entity_key
from shared.domain.lifecycle import Changes, apply_entity, local_day, step_of
from tests.integration.test_lifecycle_rules import AGENCY, dossier_event, parse, receipt
from tests.lifecycle_model import expected_figures

AT = "2025-01-06T09:00:00+07:00"
DAY = local_day(1736128800000)  # 2025-01-06 local
DUE = "2025-01-10T17:00:00+07:00"


def apply(events: list[Event]) -> Changes:
    """All events, in this order, one entity at a time, each in its own batch."""
    ch = Changes()
    states: dict[str, bytes] = {}
    for event in events:
        key = entity_key(event)
        new, _ = apply_entity(
            states.get(key),
            [step_of(event)],
            event.entity_id,
            event.agency_code,
            ch,
            document=event.family in ("document", "procedure"),
            petition=event.family == "petition",
        )
        if new is not None:
            states[key] = new
    return ch


def cohort(ch: Changes, mark: str) -> int:
    return sum(n for (day, m), n in ch.counters.items() if m == mark and day == DAY)


def in_every_order(events: list[Event]) -> list[Changes]:
    return [apply(list(order)) for order in permutations(events)]


def due_change(reason: str, at: str, **kw: Any) -> Event:
    return dossier_event("due_changed", at, reason=reason, **kw)


def test_a_second_supplement_request_makes_the_dossier_overdue_for_good() -> None:
    one = [receipt(AT, due_at=DUE), due_change("supplement_requested", "2025-01-07T09:00:00+07:00")]
    ch = apply(one)
    assert cohort(ch, "c_late") == 0
    assert ch.open766 == {("d", "202501", "d1"): None} or ("d", "202501", "d1") in ch.open766
    two = [*one, due_change("supplement_requested", "2025-01-08T09:00:00+07:00")]
    for ch in in_every_order(two):
        assert cohort(ch, "c_late") == 1 and cohort(ch, "c_unsat_or_late") == 1
        # overdue for good: not judged again at the evaluation instant
        assert all(v is None for k, v in ch.open766.items())
        assert ch.open == {"d1": float("inf")}  # the clock stopped (no due): still open


def test_an_apology_redates_but_stays_late() -> None:
    events = [
        receipt(AT, due_at=DUE),
        due_change(
            "apology_redated", "2025-01-11T09:00:00+07:00", due_at="2025-01-20T17:00:00+07:00"
        ),
        dossier_event(
            "resolved",
            "2025-01-15T09:00:00+07:00",
            due_at="2025-01-20T17:00:00+07:00",
            outcome="approved",
        ),
    ]
    for ch in in_every_order(events):
        assert cohort(ch, "c_late") == 1
        # the v1.1 figure keeps its own rule: resolved before the due it carries
        assert sum(n for (d, m), n in ch.counters.items() if m == "resolved_on_time") == 1


def test_cohort_marks_of_a_synced_dossier_returned_electronically() -> None:
    events = [
        receipt(
            AT, due_at=DUE, reused_digitized_data=True, citizen_data_used=True, procedure_code="p-9"
        ),
        dossier_event("portal_synced", "2025-01-06T10:00:00+07:00", procedure="p-9"),
        dossier_event(
            "returned", "2025-02-03T09:00:00+07:00", result_electronic=True, procedure="p-9"
        ),
        dossier_event(
            "rated", "2025-02-04T09:00:00+07:00", satisfaction="unsatisfied", procedure="p-9"
        ),
    ]
    for ch in in_every_order(events):
        for mark in (
            "received",
            "received_reused_data",
            "received_citizen_data",
            "c_synced",
            "c_returned_electronic",
            "c_unsat_or_late",
        ):
            assert cohort(ch, mark) == 1, mark
        assert cohort(ch, "received_digitized_shared") == 0 and cohort(ch, "c_late") == 0
        assert {k: v for k, v in ch.counted.items() if v} == {
            (DAY, "proc_received", "p-9"): 1,
            (DAY, "proc_returned_e", "p-9"): 1,
            (DAY, "proc_full_online", "p-9"): 1,  # the receipt is full_online × online
        }
        # open, not resolved, rated unsatisfied: judged at the instant, in both sets
        assert {k for k, v in ch.open766.items() if v is not None} == {
            ("d", "202501", "d1"),
            ("du", "202501", "d1"),
        }


def _proc_sets(ch: Changes) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for (_, name, member), n in ch.counted.items():
        out[(name, member)] = out.get((name, member), 0) + n
    return {k: v for k, v in out.items() if v}


def test_proc_full_online_counts_full_online_online_receipts_only() -> None:
    """proc_full_online (per-procedure view, issue 18): a dossier received online under a
    full_online level, in its procedure; not a partial_online or in-person one; a later
    full-online receipt of the same dossier makes it one (in any order), a rejection takes
    it back."""
    partial = receipt(AT, "d1", level="partial_online", procedure_code="p-2")
    in_person = receipt(AT, "d2", level="full_online", channel="in_person", procedure_code="p-2")
    full = receipt(AT, "d3", level="full_online", procedure_code="p-2")
    for event in (partial, in_person):
        assert _proc_sets(apply([event])) == {("proc_received", "p-2"): 1}
    assert _proc_sets(apply([full])) == {
        ("proc_received", "p-2"): 1,
        ("proc_full_online", "p-2"): 1,
    }
    later = receipt("2025-01-07T09:00:00+07:00", "d2", level="full_online", procedure_code="p-2")
    for ch in in_every_order([in_person, later]):
        assert _proc_sets(ch) == {("proc_received", "p-2"): 1, ("proc_full_online", "p-2"): 1}
        assert {k for k, v in ch.counted.items() if v} == {
            (DAY, "proc_received", "p-2"),  # dated at the first receipt
            (DAY, "proc_full_online", "p-2"),
        }
    rejected = dossier_event(
        "intake_rejected", "2025-01-06T11:00:00+07:00", "d3", reason="thiếu", procedure="p-2"
    )
    for ch in in_every_order([full, rejected]):
        assert _proc_sets(ch) == {}


def test_an_intake_rejection_takes_every_cohort_mark_back() -> None:
    events = [
        receipt(AT, due_at=DUE, digitized_shared=True),
        dossier_event("portal_synced", "2025-01-06T10:00:00+07:00"),
        dossier_event("intake_rejected", "2025-01-06T11:00:00+07:00", reason="thiếu hồ sơ"),
    ]
    for ch in in_every_order(events):
        assert not {k: v for k, v in ch.counters.items() if v}
        assert not {k: v for k, v in ch.counted.items() if v}
        assert all(v is None for v in ch.open766.values())


def petition(kind: str, at: str, **kw: Any) -> Event:
    return parse(
        {
            "event_id": kw.pop("event_id", f"{kind}-{at}"),
            "event_type": kind,
            "occurred_at": at,
            "agency_code": AGENCY,
            "petition_id": "pk-1",
            **kw,
        }
    )


def test_petitions_on_time_late_and_unsatisfied() -> None:
    got = petition("petition_received", AT, classification="staff", due_at=DUE)
    on_time = petition("petition_resolved", "2025-01-10T17:00:00+07:00")
    late = petition("petition_resolved", "2025-01-10T17:00:01+07:00")
    unhappy = petition("petition_rated", "2025-01-12T09:00:00+07:00", satisfaction="unsatisfied")
    for ch in in_every_order([got, on_time]):
        assert cohort(ch, "pk_received") == cohort(ch, "pk_class_staff") == 1
        assert cohort(ch, "pk_on_time") == 1 and cohort(ch, "pk_unsat_or_late") == 0
        assert cohort(ch, "received") == 0 and not ch.open  # never a dossier's figure
    for ch in in_every_order([got, late, unhappy]):
        assert cohort(ch, "pk_on_time") == 0 and cohort(ch, "pk_unsat_or_late") == 1
    ch = apply([got, unhappy])
    assert ch.open766 == {
        ("p", "202501", "pk-1"): 1736503200.0,
        ("pu", "202501", "pk-1"): 1736503200.0,
    }


def test_payments_mark_the_dossier_in_their_own_period() -> None:
    events = [
        receipt(AT, due_at=DUE),
        dossier_event("payment", "2025-02-01T09:00:00+07:00", method="online", amount_vnd=1),
        dossier_event("payment", "2025-02-02T09:00:00+07:00", method="offline", amount_vnd=1),
    ]
    ch = apply(events)
    feb1, feb2 = DAY + 26, DAY + 27
    assert ch.sets == {
        (feb1, "dos_paid", "d1"),
        (feb1, "dos_paid_online", "d1"),
        (feb2, "dos_paid", "d1"),
    }


def test_publications_keep_every_event_with_its_flags() -> None:
    def published(at: str, on_time: bool, n: int) -> Event:
        return parse(
            {
                "event_id": f"pub-{n}",
                "event_type": "procedure_published",
                "occurred_at": at,
                "agency_code": AGENCY,
                "procedure_code": "1.0001",
                "decision_on_time": on_time,
                "publicized": True,
                "publicized_on_time": True,
                "content_complete": False,
            }
        )

    events = [published(AT, True, 1), published("2025-01-20T09:00:00+07:00", False, 2)]
    ch = apply([*events, events[0]])  # a duplicate adds nothing
    assert [m.split("|")[2] for _, m in sorted(ch.published)] == ["1110", "0110"]
    assert set(ch.published) == expected_figures(events).published[AGENCY]
