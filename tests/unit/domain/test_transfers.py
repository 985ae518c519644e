"""A dossier that moves between agencies (domain README §4b, ``transferred``): open,
overdue and resolved where it is held, its intake where it was received, one identity for
rejections and supplement requests — in whichever order its events arrive."""

from __future__ import annotations

import itertools
from datetime import datetime

from shared.contract.events import Event
from shared.domain.lifecycle import Dossier
from tests.integration.test_lifecycle_rules import dossier_event, receipt
from tests.lifecycle_model import expected_figures
from tests.unit.domain.test_lifecycle import MemoryFigures

A, B = "so-tttt", "so-y-te"
DUE = "2024-03-20T17:00:00+07:00"


def _story() -> list[Event]:
    return [
        receipt("2024-03-01T09:00:00+07:00", dossier="t1", agency=A, due_at=DUE, event_id="t-r"),
        dossier_event(
            "transferred",
            "2024-03-05T10:00:00+07:00",
            dossier="t1",
            agency=A,
            to_agency_code=B,
            event_id="t-z",
        ),
        dossier_event(
            "resolved",
            "2024-03-12T15:00:00+07:00",
            dossier="t1",
            agency=B,  # §4b: any later event may name either agency
            due_at=DUE,
            outcome="approved",
            event_id="t-s",
        ),
    ]


def _marks(memory: MemoryFigures, agency: str) -> dict[str, int]:
    return {k: v for k, v in memory.by_period(agency).items() if k.startswith("M202403")}


def test_intake_stays_where_received_and_the_resolution_counts_where_it_was_held() -> None:
    for order in itertools.permutations(_story()):
        memory = MemoryFigures()
        memory.apply(list(order))
        a, b = _marks(memory, A), _marks(memory, B)
        assert a.get("M202403:received") == 1 and "M202403:resolved" not in a, order
        assert b.get("M202403:resolved_on_time") == 1 and "M202403:received" not in b, order
        assert memory.open.get(A, {}) == {} and memory.open.get(B, {}) == {}, order


def test_an_open_dossier_is_open_at_its_new_agency_with_the_due_in_force() -> None:
    received, moved, _ = _story()
    for order in ([received, moved], [moved, received]):
        memory = MemoryFigures()
        memory.apply(order)
        assert memory.open.get(A, {}) == {}
        assert memory.open[B] == {"t1": datetime.fromisoformat(DUE).timestamp()}
        (month,) = {k[1] for k in memory.open766[B]}
        assert month == "202403" and memory.open766.get(A, {}) == {}


def test_a_transfer_with_a_due_time_sets_the_due_in_force() -> None:
    later = "2024-04-10T17:00:00+07:00"
    memory = MemoryFigures()
    memory.apply(
        [
            receipt("2024-03-01T09:00:00+07:00", dossier="t2", agency=A, due_at=DUE),
            dossier_event(
                "transferred",
                "2024-03-05T10:00:00+07:00",
                dossier="t2",
                agency=A,
                to_agency_code=B,
                due_at=later,
            ),
        ]
    )
    assert memory.open[B]["t2"] == datetime.fromisoformat(later).timestamp()


def test_a_rejection_sent_by_the_new_agency_is_final_for_the_dossier() -> None:
    received, moved, _ = _story()
    rejected = dossier_event(
        "intake_rejected", "2024-03-06T10:00:00+07:00", dossier="t1", agency=B, reason="x"
    )
    for order in itertools.permutations([received, moved, rejected]):
        memory = MemoryFigures()
        memory.apply(list(order))
        assert "M202403:received" not in _marks(memory, A), order
        assert memory.open.get(B, {}) == {} and memory.open.get(A, {}) == {}


def test_two_supplement_requests_in_two_agencies_count_as_two() -> None:
    """§8: a second supplement request makes the dossier late, whichever agency asked."""
    received, moved, _ = _story()
    first = dossier_event(
        "due_changed",
        "2024-03-02T10:00:00+07:00",
        dossier="t1",
        agency=A,
        reason="supplement_requested",
        event_id="t-c1",
    )
    second = dossier_event(
        "due_changed",
        "2024-03-07T10:00:00+07:00",
        dossier="t1",
        agency=B,
        reason="supplement_requested",
        event_id="t-c2",
    )
    events = [received, moved, first, second]
    model = expected_figures(events)
    assert model.by_period(A).get("M202403:c_late") == 1
    for order in itertools.permutations(events):
        memory = MemoryFigures()
        memory.apply([*order, first])  # and a redelivery: still two, not three
        assert memory.by_period(A) == model.by_period(A), order
        assert memory.open766.get(B, {}) == {}  # late for good: out of the 766 open sets


def test_a_state_with_transfers_reads_back_what_it_wrote() -> None:
    memory = MemoryFigures()
    memory.apply(_story())
    for agency in (A, B):
        raw = memory.states[(agency, "d:t1")]
        st = Dossier.decode(raw, b"t1", agency.encode())
        assert st.encode(b"t1", agency.encode()) == raw
        assert [(link[2], link[3]) for link in st.links] == [(A.encode(), B.encode())]
        assert st.rday0 is not None
