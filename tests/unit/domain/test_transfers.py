"""A dossier that moves between agencies (domain README §4b, ``transferred``): open,
overdue and resolved where it is held, its intake where it was received, one identity for
rejections and supplement requests — in whichever order its events arrive."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.events import Event
from shared.domain.catalog import load_agencies
from shared.domain.lifecycle import Dossier
from shared.domain.succession import succession_of
from simulator.expected import Figures
from tests.integration.test_lifecycle_rules import dossier_event, receipt
from tests.lifecycle_model import expected_figures
from tests.unit.domain.test_lifecycle import MemoryFigures

A, B = "so-tttt", "so-y-te"
CATALOG = load_agencies()
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


# (agency, instant) pairs where the agency is valid, per dossier: each dossier lives on
# one chain of the two reorganisations of 2025 (so-tnmt or so-nnptnt → so-nnmt-2025 →
# H01.03), and may be transferred to so-y-te (→ H01.10): a dossier is received by one
# unit, never by two units that later merged (nothing would order them)
CHAINS = {
    "r1": [
        ("so-tnmt", "2025-02-10T09:00:00+07:00"),
        ("so-tnmt", "2025-02-27T16:00:00+07:00"),
        ("so-nnmt-2025", "2025-03-01T00:00:00+07:00"),  # the hop's own instant
        ("so-nnmt-2025", "2025-05-15T10:00:00+07:00"),
        ("H01.03", "2025-07-01T08:00:00+07:00"),
        ("H01.03", "2025-08-10T10:00:00+07:00"),
    ],
    "r2": [
        ("so-nnptnt", "2025-02-20T09:00:00+07:00"),
        ("so-nnmt-2025", "2025-04-02T10:00:00+07:00"),
        ("H01.03", "2025-07-15T08:00:00+07:00"),
    ],
}
ELSEWHERE = [("so-y-te", "2025-04-01T09:00:00+07:00"), ("H01.10", "2025-07-20T10:00:00+07:00")]
SLOTS = [slot for slots in CHAINS.values() for slot in slots] + ELSEWHERE
CODES = sorted({code for code, _ in SLOTS})
DUES_2025 = ["2025-03-20T17:00:00+07:00", "2025-07-31T17:00:00+07:00", "2025-12-31T17:00:00+07:00"]
KINDS = ["received", "received", "resolved", "returned", "rated", "withdrawn"]
KINDS += ["intake_rejected", "due_changed", "transferred"]


@st.composite
def reorganised_event(draw: st.DrawFn, n: int) -> Event:
    dossier = draw(st.sampled_from(sorted(CHAINS)))
    kind = draw(st.sampled_from(KINDS))
    # received along its chain only; elsewhere, after a transfer there
    agency, at = draw(st.sampled_from(CHAINS[dossier] + ([] if kind == "received" else ELSEWHERE)))
    fields: dict[str, Any] = {"agency": agency, "event_id": f"g{n}"}
    if kind == "received":
        due = draw(st.sampled_from([d for d in DUES_2025 if d > at]))
        return receipt(at, dossier=dossier, due_at=due, **fields)
    if kind == "resolved":
        fields |= {"due_at": draw(st.sampled_from(DUES_2025)), "outcome": "approved"}
    elif kind == "returned":
        fields["result_electronic"] = draw(st.booleans())
    elif kind == "rated":
        fields["satisfaction"] = draw(st.sampled_from(["satisfied", "unsatisfied"]))
    elif kind == "intake_rejected":
        fields["reason"] = "x"
    elif kind == "due_changed":
        fields["reason"] = "supplement_requested"
    elif kind == "transferred":
        day = datetime.fromisoformat(at).date()
        targets = [c for c in CODES if c != agency and CATALOG.agencies[c].valid_on(day)]
        if not targets:
            fields["reason"] = "supplement_requested"
            kind = "due_changed"
        else:
            fields["to_agency_code"] = draw(st.sampled_from(targets))
    return dossier_event(kind, at, dossier=dossier, **fields)


def _months(memory: MemoryFigures, code: str) -> dict[str, int]:
    return {k: v for k, v in memory.by_period(code).items() if k.startswith("M")}


def _oracle_months(oracle: Figures, code: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for month in range(2, 9):
        for name, n in oracle.marks(code, f"2025-{month:02d}").items():
            if n:
                out[f"M2025{month:02d}:{name}"] = n
    return out


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_reorganisations_link_the_same_in_any_order(data: st.DataObject) -> None:
    """The successor links (and transfers) give the same figures in any arrival order, with
    redeliveries, and the same as the simulator's oracle on the whole set."""
    events = [data.draw(reorganised_event(n)) for n in range(data.draw(st.integers(1, 10)))]
    order = list(data.draw(st.permutations(events)))
    for dup in data.draw(st.lists(st.sampled_from(events), max_size=3)):
        order.insert(data.draw(st.integers(0, len(order))), dup)
    succession = succession_of(CATALOG)
    memory = MemoryFigures(succession)
    memory.apply(order)
    oracle = Figures(succession).add_all(e.model_dump(mode="json") for e in events)
    again = MemoryFigures(succession)
    again.apply(events)
    for code in CODES:
        assert _months(memory, code) == _oracle_months(oracle, code), code
        assert _months(again, code) == _months(memory, code), code
        assert memory.open.get(code, {}) == again.open.get(code, {}), code
    # never open both at a unit and at one that continues it (two units that merged into a
    # third may each have received the same id: nothing orders them)
    for code in CODES:
        later = {c for c, _ in succession.descendants(code)}
        for ident in memory.open.get(code, {}):
            assert not [c for c in later if ident in memory.open.get(c, {})], (code, ident)
