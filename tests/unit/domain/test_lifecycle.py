"""The §4a rules in Python (``shared/domain/lifecycle.py``) against the independent
reference model (``tests/lifecycle_model.py``, which computes the figures from the whole
event set at once): any order, duplication and batching of random lifecycles gives the
model's figures; and the state codec reads back what it writes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.events import DossierDueChanged, Event
from shared.domain.counting import INTAKE_MARKS, entity_key
from shared.domain.lifecycle import (
    INF,
    MONTHLY,
    Changes,
    Document,
    Dossier,
    Step,
    _lua_order,
    apply_entity,
    id_hash,
    step_of,
)
from shared.domain.succession import Succession, follow_records
from tests.integration.test_lifecycle_rules import AGENCY, lifecycle_event, parse, receipt
from tests.lifecycle_model import expected_figures

EPOCH = date(1970, 1, 1)


def day_text(day: int) -> str:
    return f"{EPOCH + timedelta(days=day):%Y%m%d}"


class MemoryFigures:
    """What Redis would hold, kept in dicts: states per entity, summed changes per agency."""

    def __init__(self, succession: Succession | None = None) -> None:
        self.succession = succession  # followed like the store's (moved_dossiers)
        self.states: dict[tuple[str, str], bytes] = {}
        self.changes: dict[str, Changes] = {}
        self.open: dict[str, dict[str, float]] = {}
        self.open766: dict[str, dict[tuple[str, str, str], float]] = {}

    def apply(self, batch: Sequence[Event]) -> list[bool]:
        flags: list[bool] = []
        for event in batch:  # one event at a time: batches group them in apply_many only
            key = (event.agency_code, entity_key(event))
            ch = self.changes.setdefault(event.agency_code, Changes())
            ch.open = {}
            ch.open766 = {}
            ch.linked, ch.unrooted, ch.rooted = [], [], []
            new, applied = apply_entity(
                self.states.get(key),
                [step_of(event)],
                event.entity_id,
                event.agency_code,
                ch,
                document=event.family in ("document", "procedure"),
                petition=event.family == "petition",
            )
            if new is not None:
                self.states[key] = new
            self._open(event.agency_code, ch)
            # §4b: what the store does after each write (moved_dossiers.follow)
            follow_records(
                lambda code, ident: self.states.get((code, f"d:{ident}")),
                self._put,
                [(event.agency_code, i) for i in ch.linked],
                [(event.agency_code, ch.unrooted, ch.rooted)],
                self.succession,
            )
            flags += applied
        return flags

    def _put(self, code: str, ident: str, new: bytes, ch: Changes) -> None:
        self.states[(code, f"d:{ident}")] = new
        total = self.changes.setdefault(code, Changes())
        for (day, mark), n in ch.counters.items():
            total.bump(day, mark, n)
        for held, n in ch.holders.items():
            total.holders[held] = total.holders.get(held, 0) + n
        for member, n in ch.counted.items():
            total.counted[member] = total.counted.get(member, 0) + n
        total.sets |= ch.sets
        total.paid_online |= ch.paid_online
        self._open(code, ch)

    def _open(self, agency: str, ch: Changes) -> None:
        opened = self.open.setdefault(agency, {})
        for ident, score in ch.open.items():
            if score is None:
                opened.pop(ident, None)
            else:
                opened[ident] = score
        judged = self.open766.setdefault(agency, {})
        for k, score in ch.open766.items():
            if score is None:
                judged.pop(k, None)
            else:
                judged[k] = score

    def by_period(self, agency: str) -> dict[str, int]:
        out: Counter[str] = Counter()
        ch = self.changes.get(agency, Changes())
        for (day, mark), n in ch.counters.items():
            d = day_text(day)
            days = () if mark in MONTHLY else (f"D{d}",)
            for bucket in (*days, f"M{d[:6]}", f"Y{d[:4]}"):
                out[f"{bucket}:{mark}"] += n
        return {k: v for k, v in out.items() if v}

    def holders(self, agency: str) -> dict[tuple[str, str], int]:
        ch = self.changes.get(agency, Changes())
        return {(day_text(d), p): n for (d, p), n in ch.holders.items() if n}

    def counted(self, agency: str) -> dict[tuple[str, str, str], int]:
        ch = self.changes.get(agency, Changes())
        return {(day_text(d), name, m): n for (d, name, m), n in ch.counted.items() if n}

    def sets(self, agency: str) -> set[tuple[str, str, str]]:
        ch = self.changes.get(agency, Changes())
        return {(day_text(d), name, m) for d, name, m in ch.sets}

    def published(self, agency: str) -> set[tuple[int, str]]:
        ch = self.changes.get(agency, Changes())
        return set(ch.published)

    def paid(self, agency: str) -> set[tuple[str, str]]:
        ch = self.changes.get(agency, Changes())
        return {(day_text(d), p) for d, p in ch.paid_online}


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_order_duplication_and_batching_match_the_reference_model(
    data: st.DataObject,
) -> None:
    raws = [data.draw(lifecycle_event(n)) for n in range(data.draw(st.integers(1, 16)))]
    events = [parse(r) for r in raws]
    order = list(data.draw(st.permutations(events)))
    for dup in data.draw(st.lists(st.sampled_from(events), max_size=6)):
        order.insert(data.draw(st.integers(0, len(order))), dup)
    model = expected_figures(events)
    memory = MemoryFigures()
    flags = memory.apply(order)
    assert sum(flags) == len(events)  # each distinct id applies once, first time seen
    for agency in (AGENCY, "ubnd-cho-moi"):
        assert memory.by_period(agency) == model.by_period(agency)
        assert memory.holders(agency) == {k: v for k, v in model.proc_online[agency].items() if v}
        assert memory.paid(agency) == model.paid_online[agency]
        assert memory.open.get(agency, {}) == model.open[agency]
        assert memory.counted(agency) == {k: v for k, v in model.counted[agency].items() if v}
        assert memory.sets(agency) == model.sets[agency]
        assert memory.open766.get(agency, {}) == model.open766[agency]
        assert memory.published(agency) == model.published[agency]


def test_a_dossier_state_reads_back_what_it_wrote() -> None:
    events = [
        receipt("2025-01-31T16:00:00+07:00", dossier="hs-1", event_id="e-hs-1-r"),
        parse(
            {
                "event_id": "e-hs-1-c",
                "event_type": "due_changed",
                "occurred_at": "2025-02-01T08:00:00+07:00",
                "agency_code": AGENCY,
                "dossier_id": "hs-1",
                "procedure_code": "p-1",
                "reason": "extended",
                "due_at": "2025-03-01T17:00:00.250+07:00",  # not whole seconds: a double
            }
        ),
    ]
    changed = events[1]
    assert isinstance(changed, DossierDueChanged) and changed.due_at is not None
    due = changed.due_at.timestamp()
    ch = Changes()
    raw, flags = apply_entity(None, [step_of(e) for e in events], "hs-1", AGENCY, ch)
    assert raw is not None and flags == [True, True]
    st_ = Dossier.decode(raw, b"hs-1", AGENCY.encode())
    assert st_.encode(b"hs-1", AGENCY.encode()) == raw
    assert st_.due_at is not None and st_.due_at[2] == due
    assert st_.pre == b"e-"  # the text before the dossier id in the ties
    assert st_.ids == id_hash("e-hs-1-r") + id_hash("e-hs-1-c")
    assert ch.open == {"hs-1": due}
    # a redelivery changes nothing
    again, flags = apply_entity(raw, [step_of(events[0])], "hs-1", AGENCY, Changes())
    assert again is None and flags == [False]


def test_suspension_scores_the_open_dossier_at_infinity() -> None:
    ch = Changes()
    steps = [
        Step("R", id_hash("a"), b"a", 1_000, due=2_000.0, bits=1),
        Step("C", id_hash("b"), b"b", 2_000, due=None),
    ]
    raw, _ = apply_entity(None, steps, "d", AGENCY, ch)
    assert raw is not None and ch.open == {"d": INF}
    assert Dossier.decode(raw, b"d", AGENCY.encode()).open_score() == INF


def test_intake_bits_keep_their_order() -> None:
    """The order of the intake bits is part of the stored state: it never changes."""
    assert INTAKE_MARKS == (
        "received",
        "received_full_online_online",
        "received_online",
        "received_remote",
        "received_one_stop",
        "received_digitized",
        "cat_full_online_online",
        "cat_full_online_in_person",
        "cat_full_online_postal",
        "cat_partial_online_online",
        "cat_partial_online_in_person",
        "cat_partial_online_postal",
        "cat_in_person_only_online",
        "cat_in_person_only_in_person",
        "cat_in_person_only_postal",
    )


def test_documents_keep_lua_table_order() -> None:
    """Lua 5.1 ``pairs`` order of two string keys: by hash slot, or insertion when they
    collide (the integration parity test checks it against the real script)."""
    for a, b in [(b"document_issued", b"document_electronic")]:
        assert sorted(_lua_order([a, b])) == sorted([a, b])
    doc = Document()
    doc.marks = {b"work_file_completed": 3, b"work_file_online": 4}
    assert Document.decode(doc.encode()).marks == doc.marks
