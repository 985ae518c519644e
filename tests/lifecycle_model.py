"""A reference model of the counting rules (§4, §4a, and the v1.2 additions of §4b and §8)
for tests: the figures an event set
must give, computed from the whole set at once (not incrementally, unlike the Redis
script), so the two can be compared on any order and duplication of the same events."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shared.contract.events import (
    DossierDueChanged,
    DossierIntakeRejected,
    DossierPayment,
    DossierPortalSynced,
    DossierRated,
    DossierReceived,
    DossierResolved,
    DossierReturned,
    DossierTransferred,
    DossierWithdrawn,
    Event,
    PaymentMethod,
    PetitionRated,
    PetitionReceived,
    PetitionResolved,
    ProcedurePublished,
    Satisfaction,
)
from shared.domain.calendar import LOCAL_TZ
from shared.domain.counting import PROCEDURE_ITEM, entity_key, intake_items, marks_for
from shared.domain.lifecycle import MONTHLY

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _day(ts: datetime) -> str:
    return ts.astimezone(LOCAL_TZ).strftime("%Y%m%d")


def _key(e: Event) -> tuple[datetime, str]:
    return (e.occurred_at, e.event_id)


@dataclass
class Figures:
    """Per agency: counters per (day, mark), proc_online holders per (day, procedure),
    procedures paid online per day, and open dossiers with their due score."""

    counters: dict[str, Counter[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    proc_online: dict[str, Counter[tuple[str, str]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    paid_online: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    open: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    # v1.2: (day, counted set, member) -> dossiers; (day, set, member); (kind, receipt month,
    # entity) -> score; (epoch ms, member) publications
    counted: dict[str, Counter[tuple[str, str, str]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    sets: dict[str, set[tuple[str, str, str]]] = field(default_factory=lambda: defaultdict(set))
    open766: dict[str, dict[tuple[str, str, str], float]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    published: dict[str, set[tuple[int, str]]] = field(default_factory=lambda: defaultdict(set))

    def by_period(self, agency: str) -> dict[str, int]:
        """Counters rolled up to "D|M|Y<bucket>:<mark>" keys, zeros dropped."""
        out: Counter[str] = Counter()
        for (day, mark), n in self.counters[agency].items():
            # the Decision 766 inputs are kept per month and year only
            days = () if mark in MONTHLY else (f"D{day}",)
            for bucket in (*days, f"M{day[:6]}", f"Y{day[:4]}"):
                out[f"{bucket}:{mark}"] += n
        return {k: v for k, v in out.items() if v}


def _due(e: Event) -> float:
    due = getattr(e, "due_at", None)
    return due.timestamp() if due is not None else float("inf")


def _petition(fig: Figures, agency: str, evs: list[Event]) -> None:
    counters = fig.counters[agency]
    receipts = sorted((e for e in evs if isinstance(e, PetitionReceived)), key=_key)
    if not receipts:
        return
    day = _day(receipts[0].occurred_at)
    marks = {"pk_received"}
    for r in receipts:
        if r.classification == "procedure":
            marks.add("pk_class_procedure")
        elif r.classification == "staff":
            marks.add("pk_class_staff")
    due = _due(receipts[-1])  # the latest receipt's due time is in force
    resolved = sorted((e for e in evs if isinstance(e, PetitionResolved)), key=_key)
    rated = sorted((e for e in evs if isinstance(e, PetitionRated)), key=_key)
    unsat = bool(rated) and rated[0].satisfaction is Satisfaction.unsatisfied
    if resolved:
        on_time = resolved[0].occurred_at.timestamp() <= due
        marks.add("pk_on_time" if on_time else "pk_unsat_or_late")
    if unsat:
        marks.add("pk_unsat_or_late")
    for mark in marks:
        counters[(day, mark)] += 1
    if not resolved:
        ident, month = receipts[0].petition_id, day[:6]
        fig.open766[agency][("p", month, ident)] = due
        if unsat:
            fig.open766[agency][("pu", month, ident)] = due


V12_INTAKE = {
    "reused_digitized_data": "received_reused_data",
    "digitized_shared": "received_digitized_shared",
    "citizen_data_used": "received_citizen_data",
}


# A reorganisation (§4b, §9): an ended unit → (the unit continuing it, the instant the
# continuation starts: its first day at 00:00 local). Open dossiers move on as if
# transferred then; a dossier with records at a unit and at a unit of its chain is one
# dossier moved along each step of the chain between them.
Successors = dict[str, tuple[str, datetime]]


def expected_figures(events: Iterable[Event], successors: Successors | None = None) -> Figures:
    unique: dict[str, Event] = {}
    for e in events:
        unique.setdefault(e.event_id, e)
    entities: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in unique.values():
        entities[(e.agency_code, entity_key(e))].append(e)
    fig = Figures()
    # dossier → agency → its events there
    dossiers: dict[str, dict[str, list[Event]]] = defaultdict(dict)
    for (agency, _), evs in entities.items():
        counters = fig.counters[agency]
        if evs[0].family == "procedure":
            for e in evs:
                assert isinstance(e, ProcedurePublished)
                flags = "".join(
                    "1" if v else "0"
                    for v in (
                        e.decision_on_time,
                        e.publicized,
                        e.publicized_on_time,
                        e.content_complete,
                    )
                )
                hid = hashlib.blake2b(e.event_id.encode(), digest_size=4).hexdigest()
                ms = round(e.occurred_at.timestamp() * 1000)
                fig.published[agency].add((ms, f"{e.procedure_code}|{hid}|{flags}"))
            continue
        if evs[0].family == "petition":
            _petition(fig, agency, evs)
            continue
        if evs[0].family == "document":
            first: dict[str, Event] = {}
            for e in sorted(evs, key=_key):
                for mark in marks_for(e):
                    first.setdefault(mark, e)
            for mark, e in first.items():
                counters[(_day(e.occurred_at), mark)] += 1
            continue
        dossiers[entity_key(evs[0])][agency] = evs
    for records in dossiers.values():
        for agency, own, group, links in _records(records, successors or {}):
            _dossier(fig, agency, own, group, links)
    return fig


Link = tuple[int, str, str, str]  # (epoch ms, event id, from, to)


def _ms(ts: datetime) -> int:
    return (ts - _EPOCH) // _MS


def _chain(successors: Successors, start: str, end: str) -> list[Link] | None:
    """The reorganisation's steps from ``start`` to ``end`` along the successor chain, as
    transfers (None: ``end`` does not continue ``start``)."""
    steps: list[Link] = []
    code, seen = start, {start}
    while code in successors:
        nxt, at = successors[code]
        if nxt in seen:
            return None
        steps.append((_ms(at), "valid_from", code, nxt))
        if nxt == end:
            return steps
        seen.add(nxt)
        code = nxt
    return None


def _records(
    records: dict[str, list[Event]], successors: Successors
) -> Iterable[tuple[str, list[Event], list[Event], list[Link]]]:
    """A dossier's records (§4b): the agencies joined by its transfers (or by a
    reorganisation's chain) share its events (``group``) and its transfers; one that
    nothing joins stands alone. Per record: (agency, its own events, the group's, the
    group's transfers sorted)."""
    parent: dict[str, str] = {a: a for a in records}

    def find(a: str) -> str:
        while parent.setdefault(a, a) != a:
            a = parent[a]
        return a

    hops: set[Link] = set()
    for evs in records.values():
        for e in evs:
            if isinstance(e, DossierTransferred):
                parent[find(e.agency_code)] = find(e.to_agency_code)
    for a in records:
        for b in records:
            chain = _chain(successors, a, b) if a != b else None
            if chain:
                hops.update(chain)
                for link in chain:
                    parent[find(link[2])] = find(link[3])
    groups: dict[str, list[str]] = defaultdict(list)
    for a in list(parent):
        groups[find(a)].append(a)
    for members in groups.values():
        group = [e for a in members for e in records.get(a, [])]
        links = sorted(
            [
                (_ms(e.occurred_at), e.event_id, e.agency_code, e.to_agency_code)
                for e in group
                if isinstance(e, DossierTransferred)
            ]
            + [h for h in hops if h[2] in members]
        )
        for a in members:
            yield a, records.get(a, []), group, links


def _holder(links: list[Link], ms: int, own: str) -> str:
    """Who held the dossier at ``ms``: starting at the unit no transfer leads to, follow
    the transfers by then out of the holder of the moment, in time order; ``own`` when it
    never moved."""
    if not links:
        return own
    held = next((a for _, _, a, _ in links if a not in {to for *_, to in links}), links[0][2])
    left = [link for link in links if link[0] <= ms]
    while True:
        step = next((link for link in left if link[2] == held), None)
        if step is None:
            return held
        left.remove(step)
        held = step[3]


def _dossier(
    fig: Figures, agency: str, own: list[Event], evs: list[Event], links: list[Link]
) -> None:
    """One agency's record of a dossier: its own receipts and payments, the group's
    lifecycle (decisions where it was held when decided, open where it is held now)."""
    counters = fig.counters[agency]
    receipts = sorted((e for e in own if isinstance(e, DossierReceived)), key=_key)
    every_receipt = sorted((e for e in evs if isinstance(e, DossierReceived)), key=_key)
    rejected = any(isinstance(e, DossierIntakeRejected) for e in evs)
    resolved = sorted((e for e in evs if isinstance(e, DossierResolved)), key=_key)
    returned = sorted((e for e in evs if isinstance(e, DossierReturned)), key=_key)
    rated = sorted((e for e in evs if isinstance(e, DossierRated)), key=_key)
    changes = [e for e in evs if isinstance(e, DossierDueChanged)]
    supplements = len({e.event_id for e in changes if e.reason == "supplement_requested"})
    flagged = supplements >= 2 or any(e.reason == "apology_redated" for e in changes)
    late = flagged or bool(resolved and resolved[0].occurred_at > resolved[0].due_at)
    unsat = bool(rated) and rated[0].satisfaction is Satisfaction.unsatisfied
    if receipts and not rejected:
        day = _day(receipts[0].occurred_at)
        items = {item for r in receipts for item in intake_items(r)}
        for item in items:
            if item.startswith(PROCEDURE_ITEM):
                fig.proc_online[agency][(day, item.removeprefix(PROCEDURE_ITEM))] += 1
            else:
                counters[(day, item)] += 1
        # v1.2 cohort marks (§4b, §8)
        cohort = {mark for r in receipts for f, mark in V12_INTAKE.items() if getattr(r, f)}
        if any(isinstance(e, DossierPortalSynced) for e in evs):
            cohort.add("c_synced")
        electronic = bool(returned) and returned[0].result_electronic
        if electronic:
            cohort.add("c_returned_electronic")
        if late:
            cohort.add("c_late")
        if late or unsat:
            cohort.add("c_unsat_or_late")
        for mark in cohort:
            counters[(day, mark)] += 1
        proc = min(r.procedure_code for r in receipts)
        fig.counted[agency][(day, "proc_received", proc)] += 1
        if electronic:
            fig.counted[agency][(day, "proc_returned_e", proc)] += 1
        if "received_full_online_online" in items:
            fig.counted[agency][(day, "proc_full_online", proc)] += 1
    if resolved and _holder(links, _ms(resolved[0].occurred_at), agency) == agency:
        r = resolved[0]
        counters[(_day(r.occurred_at), "resolved")] += 1
        if r.occurred_at <= r.due_at:
            counters[(_day(r.occurred_at), "resolved_on_time")] += 1
    if returned and _holder(links, _ms(returned[0].occurred_at), agency) == agency:
        t = returned[0]
        counters[(_day(t.occurred_at), "returned")] += 1
        if t.result_electronic:
            counters[(_day(t.occurred_at), "returned_electronic")] += 1
    if rated and _holder(links, _ms(rated[0].occurred_at), agency) == agency:
        q = rated[0]
        counters[(_day(q.occurred_at), "rated")] += 1
        if q.satisfaction is not Satisfaction.unsatisfied:
            counters[(_day(q.occurred_at), "rated_satisfied")] += 1
    for p in (e for e in own if isinstance(e, DossierPayment)):
        counters[(_day(p.occurred_at), "payment")] += 1
        fig.sets[agency].add((_day(p.occurred_at), "dos_paid", p.dossier_id))
        if p.method is PaymentMethod.online:
            counters[(_day(p.occurred_at), "payment_online")] += 1
            fig.paid_online[agency].add((_day(p.occurred_at), p.procedure_code))
            fig.sets[agency].add((_day(p.occurred_at), "dos_paid_online", p.dossier_id))
    closed = resolved or rejected or any(isinstance(e, DossierWithdrawn) for e in evs)
    held = _holder(links, 1 << 62, agency) == agency
    if every_receipt and not closed and held and (receipts or links):
        deadlines = sorted(
            (
                e
                for e in evs
                if isinstance(e, DossierReceived | DossierDueChanged)
                or (isinstance(e, DossierTransferred) and e.due_at is not None)
            ),
            key=_key,
        )
        due = deadlines[-1].due_at
        score = due.timestamp() if due is not None else float("inf")
        ident = every_receipt[0].dossier_id
        fig.open[agency][ident] = score
        if not flagged:
            month = _day(every_receipt[0].occurred_at)[:6]
            fig.open766[agency][("d", month, ident)] = score
            if unsat:
                fig.open766[agency][("du", month, ident)] = score
