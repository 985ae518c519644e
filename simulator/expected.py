"""The figures an event stream must give under the counting rules (domain README §4, §4a),
computed in pure Python: the oracle the simulator's streams are checked against.

It knows nothing of Kafka, Redis or the calculator: feed it events in any order
(``add``/``add_all``), then ask for an agency's marks in a period (``marks``), its distinct
procedure sets (``distinct``), its open/overdue dossiers at a moment (``open_at``) or one
dossier's state (``status``). The rules, as the README states them:

1. intake marks (received, each category, online, remote, one-stop, digitized and the
   procedure's "has an online dossier") are the union over a dossier's ``received``
   events, all dated at its *first* receipt (earliest ``occurred_at``, ties by event id);
2. the earliest ``resolved`` alone decides ``resolved`` / ``resolved_on_time`` (its own
   ``occurred_at`` ≤ its own ``due_at``), in its period; the same for ``returned`` and
   ``rated``;
3. the due time in force is that of the latest (by ``occurred_at``, ties by event id) of
   the ``received`` and ``due_changed`` events; ``suspended`` means none;
4. a withdrawn dossier keeps its intake marks, is not open and never overdue; an
   intake-rejected dossier has no intake mark in any period and is never open;
5. every distinct ``payment`` event is a transaction, counted in its own period.

Events with an ``event_id`` seen before change nothing. Periods are ``YYYY`` and
``YYYY-MM`` in Asia/Ho_Chi_Minh.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple

from shared.domain.calendar import DAY_S, LOCAL_OFFSET_S

UTC_OFFSET_S = LOCAL_OFFSET_S  # the calendar's fixed +07:00 (shared/domain/calendar.py)
INTAKE_SETS = ("proc_online",)  # distinct sets dated by the intake cohort
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def epoch(text: str) -> float:
    """Epoch seconds of an RFC 3339 timestamp with offset."""
    return datetime.fromisoformat(text).timestamp()


_PERIODS: dict[int, tuple[str, str]] = {}


def periods_of(ts: float) -> tuple[str, str]:
    """(``YYYY``, ``YYYY-MM``) of ``ts`` in local time."""
    day = int((ts + UTC_OFFSET_S) // DAY_S)
    found = _PERIODS.get(day)
    if found is None:
        d = date.fromordinal(_EPOCH_ORDINAL + day)
        found = _PERIODS[day] = (f"{d.year:04d}", f"{d.year:04d}-{d.month:02d}")
    return found


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


class Receipt(NamedTuple):
    at: float
    event_id: str
    marks: tuple[str, ...]
    online_procedure: str | None  # the procedure, when this receipt makes it one with an
    # online dossier (channel online, service level partial or full online)
    due: float


class Step(NamedTuple):
    """An event of which the earliest decides (resolved, returned, rated): its verdict."""

    at: float
    event_id: str
    positive: bool  # on time / electronic result / satisfied


@dataclass(slots=True)
class DossierState:
    """Everything the rules need to know about one dossier."""

    receipts: list[Receipt] = field(default_factory=list)
    due_changes: list[tuple[float, str, float | None]] = field(default_factory=list)
    resolved: Step | None = None
    returned: Step | None = None
    rated: Step | None = None
    withdrawn: float | None = None
    rejected: float | None = None
    payments: dict[str, tuple[float, bool, str]] = field(default_factory=dict)

    def first_receipt(self) -> Receipt | None:
        return min(self.receipts, default=None)

    def due_in_force(self, as_of: float | None = None) -> float | None:
        """Due time in force (of events that occurred by ``as_of``); None when suspended
        or nothing is known yet."""
        latest: tuple[float, str, float | None] | None = None
        for r in self.receipts:
            if (as_of is None or r.at <= as_of) and (
                latest is None or (r.at, r.event_id) > latest[:2]
            ):
                latest = (r.at, r.event_id, r.due)
        for change in self.due_changes:
            if (as_of is None or change[0] <= as_of) and (
                latest is None or change[:2] > latest[:2]
            ):
                latest = change
        return None if latest is None else latest[2]


def _earliest(current: Step | None, new: Step) -> Step:
    return new if current is None or new[:2] < current[:2] else current


class DossierStatus(NamedTuple):
    received: bool  # a receipt by then, and not intake-rejected
    open: bool
    overdue: bool
    due: float | None  # the due time in force


class Figures:
    """Counted figures of a stream of events under §4a."""

    def __init__(self) -> None:
        self.dossiers: dict[tuple[str, str], DossierState] = {}
        self.documents: dict[tuple[str, str, str], float] = {}
        self._marks: dict[tuple[str, str], Counter[str]] | None = None
        self._sets: dict[tuple[str, str, str], set[str]] | None = None

    # -- input ------------------------------------------------------------------------

    def add_all(self, events: Iterable[Mapping[str, Any]]) -> Figures:
        for event in events:
            self.add(event)
        return self

    def add(self, event: Mapping[str, Any]) -> None:
        self._marks = self._sets = None
        kind = event["event_type"]
        at = epoch(event["occurred_at"])
        eid = event["event_id"]
        if kind in ("document_issued", "work_file_completed"):
            self._add_document(event, at)
            return
        key = (event["agency_code"], event["dossier_id"])
        d = self.dossiers.get(key)
        if d is None:
            d = self.dossiers[key] = DossierState()
        if kind == "received":
            if all(r.event_id != eid for r in d.receipts):
                online = (
                    event["procedure_code"]
                    if event["channel"] == "online" and event["service_level"] != "in_person_only"
                    else None
                )
                d.receipts.append(
                    Receipt(at, eid, intake_marks(event), online, epoch(event["due_at"]))
                )
        elif kind == "due_changed":
            if all(c[1] != eid for c in d.due_changes):
                due = event.get("due_at")
                d.due_changes.append((at, eid, epoch(due) if due is not None else None))
        elif kind == "resolved":
            d.resolved = _earliest(d.resolved, Step(at, eid, at <= epoch(event["due_at"])))
        elif kind == "returned":
            d.returned = _earliest(d.returned, Step(at, eid, bool(event["result_electronic"])))
        elif kind == "rated":
            happy = event["satisfaction"] in ("very_satisfied", "satisfied")
            d.rated = _earliest(d.rated, Step(at, eid, happy))
        elif kind == "payment":
            d.payments.setdefault(
                eid, (at, event["method"] == "online", str(event["procedure_code"]))
            )
        elif kind == "withdrawn":
            d.withdrawn = at if d.withdrawn is None else min(d.withdrawn, at)
        elif kind == "intake_rejected":
            d.rejected = at if d.rejected is None else min(d.rejected, at)
        else:
            raise ValueError(f"unknown event type {kind!r}")

    def _add_document(self, event: Mapping[str, Any], at: float) -> None:
        """Documents and work files: each mark at its earliest occurrence; confidential
        ones count nowhere."""
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
        for name in names:
            key = (event["agency_code"], entity, name)
            self.documents[key] = min(self.documents.get(key, at), at)

    # -- figures ----------------------------------------------------------------------

    def _compute(self) -> None:
        marks: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        sets: dict[tuple[str, str, str], set[str]] = defaultdict(set)

        def count(agency: str, at: float, names: Iterable[str]) -> None:
            for period in periods_of(at):
                marks[(agency, period)].update(names)

        for (agency, _), d in self.dossiers.items():
            first = d.first_receipt()
            if first is not None and d.rejected is None:
                union = {m for r in d.receipts for m in r.marks}
                count(agency, first.at, union)
                procs = {r.online_procedure for r in d.receipts if r.online_procedure is not None}
                for period in periods_of(first.at):
                    sets[(agency, period, "proc_online")].update(procs)
            for step, name, positive in (
                (d.resolved, "resolved", "resolved_on_time"),
                (d.returned, "returned", "returned_electronic"),
                (d.rated, "rated", "rated_satisfied"),
            ):
                if step is not None:
                    count(agency, step.at, (name, positive) if step.positive else (name,))
            for at, paid_online, procedure in d.payments.values():
                count(agency, at, ("payment", "payment_online") if paid_online else ("payment",))
                if paid_online:
                    for period in periods_of(at):
                        sets[(agency, period, "proc_paid_online")].add(procedure)
        for (agency, _, name), at in self.documents.items():
            count(agency, at, (name,))
        self._marks, self._sets = dict(marks), dict(sets)

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
        return {a for a, _ in self.dossiers} | {a for a, _, _ in self.documents}

    # -- point in time ----------------------------------------------------------------

    def status(self, agency: str, dossier_id: str, as_of: datetime) -> DossierStatus:
        """One dossier as seen at ``as_of`` from the events that occurred by then."""
        return self._status(self.dossiers[(agency, dossier_id)], as_of.timestamp())

    @staticmethod
    def _status(d: DossierState, now: float) -> DossierStatus:
        received = any(r.at <= now for r in d.receipts) and not (
            d.rejected is not None and d.rejected <= now
        )
        closed = (d.withdrawn is not None and d.withdrawn <= now) or (
            d.resolved is not None and d.resolved.at <= now
        )
        due = d.due_in_force(now)
        is_open = received and not closed
        return DossierStatus(received, is_open, is_open and due is not None and due < now, due)

    def open_at(self, agency: str, as_of: datetime) -> tuple[int, int, int]:
        """(open, overdue, due within 24 h) of an agency at ``as_of``."""
        now = as_of.timestamp()
        n_open = overdue = soon = 0
        for (code, _), d in self.dossiers.items():
            if code != agency:
                continue
            s = self._status(d, now)
            if s.open:
                n_open += 1
                overdue += s.overdue
                soon += s.due is not None and now <= s.due <= now + DAY_S
        return n_open, overdue, soon
