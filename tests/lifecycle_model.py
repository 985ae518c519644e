"""A reference model of the counting rules (§4, §4a) for tests: the figures an event set
must give, computed from the whole set at once (not incrementally, unlike the Redis
script), so the two can be compared on any order and duplication of the same events."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from shared.contract.events import (
    DossierDueChanged,
    DossierIntakeRejected,
    DossierPayment,
    DossierRated,
    DossierReceived,
    DossierResolved,
    DossierReturned,
    DossierWithdrawn,
    Event,
    PaymentMethod,
    Satisfaction,
)
from shared.domain.calendar import LOCAL_TZ
from shared.domain.counting import PROCEDURE_ITEM, entity_key, intake_items, marks_for


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

    def by_period(self, agency: str) -> dict[str, int]:
        """Counters rolled up to "D|M|Y<bucket>:<mark>" keys, zeros dropped."""
        out: Counter[str] = Counter()
        for (day, mark), n in self.counters[agency].items():
            for bucket in (f"D{day}", f"M{day[:6]}", f"Y{day[:4]}"):
                out[f"{bucket}:{mark}"] += n
        return {k: v for k, v in out.items() if v}


def expected_figures(events: Iterable[Event]) -> Figures:
    unique: dict[str, Event] = {}
    for e in events:
        unique.setdefault(e.event_id, e)
    entities: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for e in unique.values():
        entities[(e.agency_code, entity_key(e))].append(e)
    fig = Figures()
    for (agency, _), evs in entities.items():
        counters = fig.counters[agency]
        if evs[0].family == "document":
            first: dict[str, Event] = {}
            for e in sorted(evs, key=_key):
                for mark in marks_for(e):
                    first.setdefault(mark, e)
            for mark, e in first.items():
                counters[(_day(e.occurred_at), mark)] += 1
            continue
        receipts = sorted((e for e in evs if isinstance(e, DossierReceived)), key=_key)
        rejected = any(isinstance(e, DossierIntakeRejected) for e in evs)
        if receipts and not rejected:
            day = _day(receipts[0].occurred_at)
            items = {item for r in receipts for item in intake_items(r)}
            for item in items:
                if item.startswith(PROCEDURE_ITEM):
                    fig.proc_online[agency][(day, item.removeprefix(PROCEDURE_ITEM))] += 1
                else:
                    counters[(day, item)] += 1
        resolved = sorted((e for e in evs if isinstance(e, DossierResolved)), key=_key)
        if resolved:
            r = resolved[0]
            counters[(_day(r.occurred_at), "resolved")] += 1
            if r.occurred_at <= r.due_at:
                counters[(_day(r.occurred_at), "resolved_on_time")] += 1
        returned = sorted((e for e in evs if isinstance(e, DossierReturned)), key=_key)
        if returned:
            t = returned[0]
            counters[(_day(t.occurred_at), "returned")] += 1
            if t.result_electronic:
                counters[(_day(t.occurred_at), "returned_electronic")] += 1
        rated = sorted((e for e in evs if isinstance(e, DossierRated)), key=_key)
        if rated:
            q = rated[0]
            counters[(_day(q.occurred_at), "rated")] += 1
            if q.satisfaction is not Satisfaction.unsatisfied:
                counters[(_day(q.occurred_at), "rated_satisfied")] += 1
        for p in (e for e in evs if isinstance(e, DossierPayment)):
            counters[(_day(p.occurred_at), "payment")] += 1
            if p.method is PaymentMethod.online:
                counters[(_day(p.occurred_at), "payment_online")] += 1
                fig.paid_online[agency].add((_day(p.occurred_at), p.procedure_code))
        closed = resolved or rejected or any(isinstance(e, DossierWithdrawn) for e in evs)
        if receipts and not closed:
            deadlines = sorted(
                (e for e in evs if isinstance(e, DossierReceived | DossierDueChanged)), key=_key
            )
            due = deadlines[-1].due_at
            fig.open[agency][receipts[0].dossier_id] = (
                due.timestamp() if due is not None else float("inf")
            )
    return fig
