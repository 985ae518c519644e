"""The figures an event stream must give under the counting rules (domain README §4, §4a),
computed in pure Python: the oracle the simulator's streams are checked against.

It knows nothing of Kafka, Redis or the calculator: feed it events in any order
(``add``/``add_all``), then ask for an agency's marks in a period (``marks``), its distinct
procedure sets (``distinct``), its open/overdue dossiers at a moment (``open_at``) or one
dossier's state (``status``). The rules are the calculator's own
(``shared/domain/lifecycle.py``), applied here to each entity's events from an empty state:
intake marks at the first receipt, the earliest resolved / returned / rated decides, the
due time in force is the latest received / due_changed's, withdrawn and intake-rejected
dossiers are not open (rejected ones lose their intake marks), every payment counts in its
own period, documents and work files at each mark's earliest occurrence. Events with an
``event_id`` seen before change nothing; a ``transferred`` dossier's records share its
facts (§4b) in the period figures, and so do a reorganisation's (given the catalog's
``Succession``, as the calculator follows it) — the point-in-time views (``status``,
``open_at``) read each agency's own events. Periods are ``YYYY`` and ``YYYY-MM`` in
Asia/Ho_Chi_Minh. (The independent reference model of the tests is
``tests/lifecycle_model.py``.)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from shared.domain.calendar import DAY_S, LOCAL_OFFSET_S
from shared.domain.counting import INTAKE_BIT
from shared.domain.lifecycle import (
    APOLOGY,
    DUE_CHANGED,
    MARKED,
    PAYMENT,
    RATED,
    RECEIVED,
    REJECTED,
    RESOLVED,
    RETURNED,
    SUPPLEMENT,
    SYNCED,
    TRANSFERRED,
    V12_INTAKE_SHIFT,
    WITHDRAWN,
    Changes,
    Dossier,
    Step,
    apply_dossier,
    apply_entity,
    id_hash,
)
from shared.domain.succession import Succession, follow_records

UTC_OFFSET_S = LOCAL_OFFSET_S  # the calendar's fixed +07:00 (shared/domain/calendar.py)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def epoch(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp with offset."""
    return datetime.fromisoformat(text).timestamp()


_PERIODS: dict[int, tuple[str, str]] = {}


def _day_periods(day: int) -> tuple[str, str]:
    """(``YYYY``, ``YYYY-MM``) of a local day number."""
    found = _PERIODS.get(day)
    if found is None:
        d = date.fromordinal(_EPOCH_ORDINAL + day)
        found = _PERIODS[day] = (f"{d.year:04d}", f"{d.year:04d}-{d.month:02d}")
    return found


def periods_of(ts: float) -> tuple[str, str]:
    """(``YYYY``, ``YYYY-MM``) of ``ts`` in local time."""
    return _day_periods(int((ts + UTC_OFFSET_S) // DAY_S))


def intake_marks(event: Mapping[str, Any]) -> tuple[str, ...]:
    """What one ``received`` event says about its dossier's intake."""
    level, channel = event["service_level"], event["channel"]
    marks = ["received", f"cat_{level}_{channel}"]
    if level == "full_online" and channel == "online":
        marks.append("received_full_online_online")
    if channel == "online":
        marks.append("received_online")
        if event.get("submitted_by") == "citizen":
            marks.append("received_remote")
    if event.get("via_one_stop", True):
        marks.append("received_one_stop")
    if event.get("digitized", False):
        marks.append("received_digitized")
    return tuple(marks)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _ms(text: str) -> int:
    return (datetime.fromisoformat(text) - _EPOCH) // _MS


def _step(event: Mapping[str, Any]) -> Step:
    """The rules' view of a raw dossier event (``step_of`` for the contract's models)."""
    kind = event["event_type"]
    eid = str(event["event_id"])
    head = (_KINDS[kind], id_hash(eid), eid.encode(), _ms(event["occurred_at"]))
    if kind == "received":
        bits = 0
        for mark in intake_marks(event):
            bits |= INTAKE_BIT[mark]
        online = event["channel"] == "online" and event["service_level"] != "in_person_only"
        procs = (str(event["procedure_code"]).encode(),) if online else ()
        for n, flag in enumerate(
            ("reused_digitized_data", "digitized_shared", "citizen_data_used")
        ):
            if event.get(flag):
                bits |= 1 << (V12_INTAKE_SHIFT + n)
        return Step(
            *head,
            due=epoch(event["due_at"]),
            bits=bits,
            procs=procs,
            proc=str(event["procedure_code"]),
        )
    if kind == "resolved":
        on_time = datetime.fromisoformat(event["occurred_at"]) <= datetime.fromisoformat(
            event["due_at"]
        )
        return Step(*head, flag=on_time)
    if kind == "returned":
        return Step(*head, flag=bool(event["result_electronic"]))
    if kind == "rated":
        return Step(*head, flag=event["satisfaction"] != "unsatisfied")
    if kind == "payment":
        online = event["method"] == "online"
        return Step(*head, flag=online, proc=str(event["procedure_code"]))
    if kind == "due_changed":
        due = event.get("due_at")
        reason = event.get("reason")
        bits = APOLOGY if reason == "apology_redated" else 0
        if reason == "supplement_requested":
            bits = SUPPLEMENT
        return Step(*head, due=epoch(due) if due is not None else None, bits=bits)
    if kind == "transferred":
        to, due = str(event["to_agency_code"]), event.get("due_at")
        if due is None:
            return Step(*head, proc=to)
        return Step(*head, due=epoch(due), flag=True, proc=to)
    return Step(*head)


_KINDS = {
    "received": RECEIVED,
    "resolved": RESOLVED,
    "returned": RETURNED,
    "rated": RATED,
    "payment": PAYMENT,
    "due_changed": DUE_CHANGED,
    "withdrawn": WITHDRAWN,
    "intake_rejected": REJECTED,
    "portal_synced": SYNCED,
    "transferred": TRANSFERRED,
}
# events outside the dossiers' and documents' figures this model computes (the Decision
# 766 index's petitions and publications: their rules are checked against the reference
# model of tests/lifecycle_model.py)
_OTHER = frozenset(
    {"petition_received", "petition_resolved", "petition_rated", "procedure_published"}
)


class Decision(NamedTuple):
    """The event that decides resolved, returned or rated: its verdict."""

    at: float  # epoch s
    event_id: str
    positive: bool  # on time / electronic result / satisfied


class DossierEvents:
    """One dossier's events; its state (the rules applied) as of any moment."""

    def __init__(self, ident: str) -> None:
        self.ident = ident
        self.steps: list[Step] = []

    def state(self, as_of: float | None = None) -> Dossier:
        """The rules applied to its events that occurred by ``as_of`` (epoch s; all)."""
        st = Dossier()
        ident = self.ident.encode()
        limit = None if as_of is None else as_of * 1000
        for step in self.steps:
            if limit is None or step.ts <= limit:
                apply_dossier(st, step, ident, Changes())
        return st

    def due_in_force(self, as_of: float | None = None) -> float | None:
        """Due time in force (of events that occurred by ``as_of``); None when suspended
        or nothing is known yet."""
        st = self.state(as_of)
        return st.due_at[2] if st.due_at is not None else None

    @property
    def resolved(self) -> Decision | None:
        decided = self.state().decided[0]
        if decided is None:
            return None
        return Decision(decided[0] / 1000, decided[1].decode(), decided[2])

    def cohort(self) -> str | None:
        """``YYYY-MM`` of its first receipt (its intake marks' period)."""
        day = self.state().rday
        return None if day is None else _day_periods(day)[1]


class DossierStatus(NamedTuple):
    received: bool  # a receipt by then, and not intake-rejected
    open: bool
    overdue: bool
    due: float | None  # the due time in force


class Figures:
    """Counted figures of a stream of events under §4a."""

    def __init__(self, succession: Succession | None = None) -> None:
        # the catalog's successor chains, followed like the calculator's (None: not)
        self.succession = succession
        # (agency, dossier id) → its events (rules' view); (agency, entity) → a document's
        self.dossiers: dict[tuple[str, str], DossierEvents] = {}
        self.documents: dict[tuple[str, str], list[Step]] = {}
        self._marks: dict[tuple[str, str], Counter[str]] | None = None
        self.others = 0  # petitions and publications (see _OTHER)
        self._sets: dict[tuple[str, str, str], set[str]] | None = None

    # -- input ------------------------------------------------------------------------

    def add_all(self, events: Iterable[Mapping[str, Any]]) -> Figures:
        for event in events:
            self.add(event)
        return self

    def add(self, event: Mapping[str, Any]) -> None:
        self._marks = self._sets = None
        kind = event["event_type"]
        if kind in ("document_issued", "work_file_completed"):
            self._add_document(event)
            return
        if kind in _OTHER:
            self.others += 1
            return
        if kind not in _KINDS:
            raise ValueError(f"unknown event type {kind!r}")
        key = (event["agency_code"], event["dossier_id"])
        dossier = self.dossiers.get(key)
        if dossier is None:
            dossier = self.dossiers[key] = DossierEvents(str(event["dossier_id"]))
        dossier.steps.append(_step(event))

    def _add_document(self, event: Mapping[str, Any]) -> None:
        """Documents and work files: confidential ones count nowhere."""
        if event.get("confidential"):
            return
        if event["event_type"] == "document_issued":
            entity = "doc:" + str(event["document_id"])
            names = ["document_issued"] + (["document_electronic"] if event["electronic"] else [])
        else:
            entity = "wf:" + str(event["work_file_id"])
            names = ["work_file_completed"] + (
                ["work_file_online"] if event["processed_online"] else []
            )
        eid = str(event["event_id"])
        step = Step(
            MARKED, id_hash(eid), eid.encode(), _ms(event["occurred_at"]), marks=tuple(names)
        )
        self.documents.setdefault((event["agency_code"], entity), []).append(step)

    # -- figures ----------------------------------------------------------------------

    def _compute(self) -> None:
        changes: dict[str, Changes] = defaultdict(Changes)
        states: dict[tuple[str, str], bytes | None] = {}
        linked: list[tuple[str, str]] = []
        for (agency, ident), dossier in self.dossiers.items():
            ch = changes[agency]
            states[(agency, ident)], _ = apply_entity(None, dossier.steps, ident, agency, ch)
        for agency, ch in list(changes.items()):
            linked += [(agency, i) for i in ch.linked]

        def put(code: str, ident: str, new: bytes, shared: Changes) -> None:
            states[(code, ident)] = new
            into = changes[code]
            for (day, name), n in shared.counters.items():
                into.bump(day, name, n)
            for key, n in shared.holders.items():
                into.holders[key] = into.holders.get(key, 0) + n

        # §4b: moved dossiers' records share their facts; a reorganisation links records
        follow_records(
            lambda code, ident: states.get((code, ident)),
            put,
            linked,
            [(agency, ch.unrooted, ch.rooted) for agency, ch in list(changes.items())],
            self.succession,
        )
        for (agency, ident), steps in self.documents.items():
            apply_entity(None, steps, ident, agency, changes[agency], document=True)
        marks: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        sets: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for agency, ch in changes.items():
            for (day, name), n in ch.counters.items():
                for period in _day_periods(day):
                    marks[(agency, period)][name] += n
            for (day, proc), n in ch.holders.items():
                if n:
                    for period in _day_periods(day):
                        sets[(agency, period, "proc_online")].add(proc)
            for day, proc in ch.paid_online:
                for period in _day_periods(day):
                    sets[(agency, period, "proc_paid_online")].add(proc)
        self._marks = {k: +v for k, v in marks.items()}
        self._sets = dict(sets)

    def marks(self, agency: str | None, period: str) -> Counter[str]:
        """Mark counts of an agency (None: all agencies) in ``YYYY`` or ``YYYY-MM``."""
        if self._marks is None:
            self._compute()
        assert self._marks is not None
        if agency is not None:
            return Counter(self._marks.get((agency, period), Counter()))
        total: Counter[str] = Counter()
        for (_, p), counts in self._marks.items():
            if p == period:
                total.update(counts)
        return total

    def distinct(self, agency: str, period: str, name: str) -> set[str]:
        """``proc_online`` (dated by the intake cohort) or ``proc_paid_online``."""
        if self._sets is None:
            self._compute()
        assert self._sets is not None
        return set(self._sets.get((agency, period, name), set()))

    def agencies(self) -> set[str]:
        return {a for a, _ in self.dossiers} | {a for a, _ in self.documents}

    # -- point in time ----------------------------------------------------------------

    def status(self, agency: str, dossier_id: str, as_of: datetime) -> DossierStatus:
        """One dossier as seen at ``as_of`` from the events that occurred by then."""
        return self._status(self.dossiers[(agency, dossier_id)], as_of.timestamp())

    @staticmethod
    def _status(dossier: DossierEvents, now: float) -> DossierStatus:
        """The rules applied to the events that occurred by ``now`` (epoch s)."""
        st = dossier.state(now)
        due = st.due_at[2] if st.due_at is not None else None
        is_open = st.open_score() is not None
        received = st.receipt() is not None
        return DossierStatus(received, is_open, is_open and due is not None and due < now, due)

    def open_at(self, agency: str, as_of: datetime) -> tuple[int, int, int]:
        """(open, overdue, due within 24 h) of an agency at ``as_of``."""
        now = as_of.timestamp()
        n_open = overdue = soon = 0
        for (code, _), dossier in self.dossiers.items():
            if code != agency:
                continue
            s = self._status(dossier, now)
            if s.open:
                n_open += 1
                overdue += s.overdue
                soon += s.due is not None and now <= s.due <= now + DAY_S
        return n_open, overdue, soon
