"""A realistic live stream for the demo, stamped with the current time.

- The units are those of the agency catalog in time on the event's date
  (``simulator.province``): the 2024 units until 2025-02-28, weighted by their 2024
  dossier volumes with each unit's category mix from its appendix row and its procedures
  from the simulated 2024 catalog (the one ``simulate appendix-2024`` writes); the
  departments merged on 2025-03-01 beside the districts until 2025-06-30; from 2025-07-01
  the 117 units of the merged province, provincial units continuing their predecessors'
  volumes and communes sharing the districts' (wards more, the island special zones
  almost nothing), with procedure catalogs of their own. A dossier whose unit ends while it
  is open goes on under the unit that continues it (``successor_code``), as a v1.2 sender
  names it; one with no successor (a district) sends nothing more. A commune-level unit's
  dossier is now and then sent on to a provincial department (an inter-level procedure,
  v1.2 ``transferred`` with the department's new due time), which sends its later events.
- Mon–Fri 07:00–17:00 Asia/Ho_Chi_Minh is busy (quieter over the 11:30–13:00 lunch
  break); outside those hours only a trickle arrives, and new dossiers then come in online
  only — the counters are closed.
- Dossiers received earlier get their lifecycle: payment for fee procedures (now and then
  in two or three transactions), resolution (on time unless the agency lets it run past
  its deadline), the result returned, some rated, a few withdrawn. A small share has the
  events of contract v1.1 too: supplement requests (``due_changed``, often followed by a
  re-submission), extensions, suspensions then resumption, corrections (a second
  ``resolved``), and intake rejections. The generator starts with a backlog of dossiers
  received in the past working days, some already past due, so lifecycle figures move
  from the start.
- Documents and work files trickle in alongside.

``LiveGenerator`` makes the events; ``run_live`` posts them every second to the ingest API.
"""

from __future__ import annotations

import heapq
import random
import signal
import threading
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import accumulate
from statistics import median
from types import FrameType
from typing import Any

import httpx

from shared.domain.calendar import DAY_S, LOCAL_TZ, local_date
from shared.domain.catalog import AgencyGroup, AgencyLevel
from simulator.appendix2024 import (
    CATEGORIES,
    DEFAULT_SEED,
    REJECTION_REASONS,
    SATISFACTION,
    SURCHARGES_VND,
    AgencyProfile,
    Category,
    SimProcedure,
    due_after,
    local_iso,
    out_of_catalog_code,
    simulated_procedures,
    working_days_between,
)
from simulator.province import CatalogPeriod, Unit, province_in_time

LUNCH = (11 * 60 + 30, 13 * 60)  # minutes of the day
OFF_HOURS_FACTOR = 0.05
LUNCH_FACTOR = 0.35
DOCUMENT_SHARE = 0.08
RECEIPT_MIN_SHARE = 0.25  # the rest of a batch goes to follow-ups when some are ready
# Contract v1.1 lifecycles (shares of new dossiers; small, as in real streams)
LIVE_INTAKE_REJECTED = 0.004
LIVE_SUPPLEMENT = 0.05
LIVE_RESUBMIT_AFTER_SUPPLEMENT = 0.5
LIVE_SUSPENSION = 0.006
LIVE_EXTENSION = 0.02
LIVE_CORRECTION = 0.015
LIVE_PAYMENTS = ((3, 0.04), (2, 0.16))  # fee dossiers paying in 3 / 2 transactions
# v1.2 ``transferred`` (§4b): a commune-level unit's dossier of an inter-level procedure
# (liên thông) received at the commune and sent on to a provincial department, which
# resolves it, with a new due time (the department's processing days from the transfer)
LIVE_TRANSFER_FROM_COMMUNE = 0.02
# contract v1.2 (domain README §4b), at the rates of the national portal's published
# figures for a province (issue 19's reference, 2026 year to date): nearly every dossier
# synchronised to the portal, data reused 18.6 %, shared to the citizen's store 2.1 %,
# population data 63 %; a late dossier re-dated by an apology now and then; one petition
# per ~900 dossiers (half resolved on time, ~40 % satisfied), a publication per ~5,000
LIVE_SYNCED = 0.97
LIVE_REUSED = 0.186
LIVE_SHARED = 0.021
LIVE_CITIZEN_DATA = 0.63
LIVE_APOLOGY_IF_LATE = 0.3
LIVE_PETITION = 0.0011
LIVE_PETITION_ON_TIME = 0.5
LIVE_PETITION_SATISFIED = 0.4
LIVE_PUBLICATION = 0.0002
PETITION_CLASSES = ("procedure", "staff", "other")
PETITION_CLASS_WEIGHTS = (0.6, 0.25, 0.15)
# lifecycle steps → event types (the others are their own event type)
STEP_EVENT_TYPES = {
    "supplement": "due_changed",
    "suspend": "due_changed",
    "resume": "due_changed",
    "extend": "due_changed",
    "resubmit": "received",
    "correction": "resolved",
    "apology": "due_changed",
    "sync": "portal_synced",
    "transfer": "transferred",
}


def working_hours(now: datetime) -> bool:
    """Mon–Fri 07:00–17:00 in Asia/Ho_Chi_Minh."""
    local = now.astimezone(LOCAL_TZ)
    return local.weekday() < 5 and 7 <= local.hour < 17


def activity_factor(now: datetime) -> float:
    """Share of the configured rate at this moment: 1 in working hours, less at lunch,
    a trickle at night and at weekends."""
    if not working_hours(now):
        return OFF_HOURS_FACTOR
    local = now.astimezone(LOCAL_TZ)
    minute = local.hour * 60 + local.minute
    return LUNCH_FACTOR if LUNCH[0] <= minute < LUNCH[1] else 1.0


@dataclass
class _Dossier:
    agency: str
    dossier_id: str
    procedure: SimProcedure
    received_ts: int
    due_ts: int
    online: bool
    late: bool
    category: tuple[str, str] = ("partial_online", "in_person")
    steps: list[str] = field(default_factory=list)
    remaining_days: int = 1  # working days left when suspended
    approved: bool = True
    paid: int = 0  # payment transactions so far


@dataclass(frozen=True)
class _Choice:
    """The units of one period of the catalog and their weights for each kind of event."""

    units: tuple[Unit, ...]
    weights: tuple[float, ...]
    online_weights: tuple[float, ...]
    document_units: tuple[Unit, ...]
    document_weights: tuple[float, ...]

    @classmethod
    def of(cls, period: CatalogPeriod) -> _Choice:
        units = period.dossier_units
        weights = tuple(u.weight for u in units)
        # a unit without dossiers (the People's Committee's office) issues documents like
        # a middling unit
        middling = median(weights) if weights else 1.0
        return cls(
            units,
            weights,
            tuple(u.online_weight for u in units),
            period.units,
            tuple(u.weight or middling for u in period.units),
        )


class LiveGenerator:
    """Makes live events. ``seed`` fixes every choice (event ids stay unique per instance).

    ``backlog``: dossiers received in the past working days before ``now`` (default: the
    current time), whose lifecycle comes first; ``step_delay_s``: mean wait between a
    dossier's steps (demo time: seconds, not days). Each event's unit is one of the
    catalog's units valid on its local date.
    """

    def __init__(
        self,
        seed: int | None = None,
        *,
        catalog_seed: int = DEFAULT_SEED,
        backlog: int = 300,
        step_delay_s: float = 45.0,
        max_open: int = 50_000,
        now: datetime | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.run_id = uuid.uuid4().hex[:10]
        self.catalog_seed = catalog_seed
        self.province = province_in_time(catalog_seed)
        self._choices: dict[date | None, _Choice] = {}
        # per period of the catalog, its provincial units receiving dossiers and weights
        self._departments: dict[date | None, tuple[list[str], list[float]] | None] = {}
        self._profiles: dict[str, AgencyProfile] = {}
        self.step_delay_s = step_delay_s
        self.max_open = max_open
        self._appendix_procs = simulated_procedures(catalog_seed)
        self._procs: dict[tuple[str, str], tuple[list[SimProcedure], list[float]] | None] = {}
        self._seq = 0
        self._ready: list[tuple[float, int, _Dossier]] = []  # dossiers with steps to come
        self._docs = 0
        # petitions' later events: (when, seq, the event without its id and time)
        self._later: list[tuple[float, int, dict[str, Any]]] = []
        self.in_progress = 0
        if backlog:
            self._seed_backlog(backlog, (now or datetime.now(LOCAL_TZ)).timestamp())

    # -- helpers ----------------------------------------------------------------------

    def _next_id(self, kind: str) -> str:
        self._seq += 1
        return f"live-{self.run_id}-{kind}{self._seq}"

    def choice(self, day: date) -> _Choice:
        """The units valid on ``day`` (its period of the catalog) and their weights."""
        period = self.province.period_on(day)
        if period.start not in self._choices:
            self._choices[period.start] = _Choice.of(period)
        return self._choices[period.start]

    def profile(self, agency: str) -> AgencyProfile:
        if agency not in self._profiles:
            self._profiles[agency] = AgencyProfile.of(self.catalog_seed, agency)
        return self._profiles[agency]

    def _procedure(self, agency: str, level: str) -> SimProcedure:
        if (agency, level) not in self._procs:
            procs = self._appendix_procs.get(agency)
            if procs is None:
                procs = self.province.procedures(agency)
            of_level = [p for p in procs if p.level == level]
            cum = list(accumulate(1.0 / (k + 1) ** 1.1 for k in range(len(of_level))))
            self._procs[(agency, level)] = (of_level, cum) if of_level else None
        found = self._procs[(agency, level)]
        if found is None:
            return SimProcedure(
                out_of_catalog_code(agency, level), agency, level, "", False, False, 0, 5
            )
        choices, weights = found
        return choices[bisect_left(weights, self.rng.random() * weights[-1])]

    def _unit_now(self, agency: str, day: date) -> str | None:
        """The unit that handles a dossier of ``agency`` on ``day``: itself while it is
        valid, then the unit that continues it (``successor_code``); None when it ended with
        no successor (the districts)."""
        catalog = self.province.catalog
        seen: set[str] = set()
        code: str | None = agency
        while code is not None and code not in seen:
            unit = catalog.get(code)
            if unit is None:
                return None
            if unit.valid_on(day):
                return code
            seen.add(code)
            code = unit.successor_code
        return None

    def _commune(self, agency: str) -> bool:
        unit = self.province.catalog.get(agency)
        return unit is not None and unit.level is AgencyLevel.xa

    def _department(self, day: date) -> str | None:
        """A provincial unit valid on ``day`` that receives dossiers, by volume (the
        destination of a commune's inter-level dossier); None: none."""
        start = self.province.period_on(day).start
        if start not in self._departments:
            catalog = self.province.catalog
            found = [
                (u.agency_code, u.weight)
                for u in self.choice(day).units
                if (a := catalog.get(u.agency_code)) is not None and a.group is AgencyGroup.so_nganh
            ]
            self._departments[start] = (
                ([c for c, _ in found], [w for _, w in found]) if found else None
            )
        departments = self._departments[start]
        if departments is None:
            return None
        return self.rng.choices(departments[0], departments[1])[0]

    def _category(self, unit: Unit, online_only: bool) -> Category:
        counts = unit.categories
        cats = [c for c in CATEGORIES if not online_only or c[1] == "online"]
        weights = [max(counts[c], 0) for c in cats]
        if sum(weights) == 0:
            cats, weights = list(CATEGORIES), [max(counts[c], 0) for c in CATEGORIES]
        if sum(weights) == 0:
            return ("partial_online", "in_person")
        return self.rng.choices(cats, weights)[0]

    def _schedule(self, dossier: _Dossier, ready: float) -> None:
        self._seq += 1
        heapq.heappush(self._ready, (ready, self._seq, dossier))

    def _plan_steps(self, dossier: _Dossier) -> None:
        prof = self.profile(dossier.agency)
        rng = self.rng
        if rng.random() < LIVE_INTAKE_REJECTED:
            dossier.steps = ["intake_rejected"]
            return
        steps = ["sync"] if rng.random() < LIVE_SYNCED else []
        if self._commune(dossier.agency) and rng.random() < LIVE_TRANSFER_FROM_COMMUNE:
            steps.append("transfer")
        if rng.random() < LIVE_SUPPLEMENT:
            steps.append("supplement")
            if rng.random() < LIVE_RESUBMIT_AFTER_SUPPLEMENT:
                steps.append("resubmit")
        if rng.random() < prof.withdrawn:
            dossier.steps = [*steps, "withdrawn"]
            return
        if rng.random() < LIVE_SUSPENSION:
            steps += ["suspend", "resume"]
        if rng.random() < LIVE_EXTENSION:
            steps.append("extend")
        if dossier.procedure.fee_required:
            u = rng.random()
            steps += ["payment"] * next((n for n, p in LIVE_PAYMENTS if u < p), 1)
        if dossier.late and rng.random() < LIVE_APOLOGY_IF_LATE:
            steps.append("apology")  # phiếu xin lỗi: re-dated, still late (§4b)
        steps += ["resolved", "returned"]
        if rng.random() < LIVE_CORRECTION:
            steps.append("correction")
        if rng.random() < prof.rated:
            steps.append("rated")
        dossier.steps = steps

    def _seed_backlog(self, n: int, now_ts: float) -> None:
        """Dossiers received in the past working days and part-way through their lifecycle
        when the stream starts (their earlier events were sent before it): their next steps
        come first, and those already past their deadline are resolved late."""
        choice = self.choice(local_date(datetime.fromtimestamp(now_ts, LOCAL_TZ)))
        for _ in range(n):
            unit = self.rng.choices(choice.units, choice.weights)[0]
            level, channel = self._category(unit, online_only=False)
            proc = self._procedure(unit.agency_code, level)
            received = int(now_ts) - int(self.rng.uniform(0.5, 15) * DAY_S)
            dossier = _Dossier(
                agency=unit.agency_code,
                dossier_id=self._next_id("d"),
                procedure=proc,
                received_ts=received,
                due_ts=due_after(received, proc.processing_days),
                online=channel == "online",
                late=False,
                category=(level, channel),
            )
            self._plan_steps(dossier)
            del dossier.steps[: self.rng.randrange(len(dossier.steps))]
            self.in_progress += 1
            self._schedule(dossier, now_ts - 1)

    # -- events -----------------------------------------------------------------------

    def received(self, now: datetime) -> dict[str, Any]:
        """A new dossier (online only outside working hours)."""
        online_only = not working_hours(now)
        choice = self.choice(local_date(now))
        weights = choice.online_weights if online_only else choice.weights
        unit = self.rng.choices(choice.units, weights if sum(weights) > 0 else choice.weights)[0]
        level, channel = self._category(unit, online_only)
        proc = self._procedure(unit.agency_code, level)
        prof = self.profile(unit.agency_code)
        now_ts = int(now.timestamp())
        dossier = _Dossier(
            agency=unit.agency_code,
            dossier_id=self._next_id("d"),
            procedure=proc,
            received_ts=now_ts,
            due_ts=due_after(now_ts, proc.processing_days),
            online=channel == "online",
            late=self.rng.random() >= prof.on_time,
            category=(level, channel),
        )
        event: dict[str, Any] = {
            "event_id": self._next_id("e"),
            "event_type": "received",
            "occurred_at": now.isoformat(),
            "agency_code": unit.agency_code,
            "dossier_id": dossier.dossier_id,
            "procedure_code": proc.code,
            "service_level": level,
            "channel": channel,
            "due_at": local_iso(dossier.due_ts),
            "via_one_stop": self.rng.random() < prof.one_stop,
            "digitized": self.rng.random() < prof.digitized,
            "reused_digitized_data": self.rng.random() < LIVE_REUSED,
            "digitized_shared": self.rng.random() < LIVE_SHARED,
            "citizen_data_used": self.rng.random() < LIVE_CITIZEN_DATA,
        }
        if channel == "online":
            event["submitted_by"] = "citizen" if self.rng.random() < prof.citizen else "assisted"
        self._plan_steps(dossier)
        if len(self._ready) < self.max_open:
            self.in_progress += 1
            self._schedule(dossier, now.timestamp() + self.rng.expovariate(1 / self.step_delay_s))
        return event

    def follow_up(self, now: datetime) -> dict[str, Any] | None:
        """The next lifecycle step of the dossier whose turn has come, if any. A dossier
        whose unit has ended goes on under the unit that continues it; one whose unit ended
        with no successor sends nothing more."""
        now_ts = now.timestamp()
        day = local_date(now)
        while True:
            if not self._ready or self._ready[0][0] > now_ts:
                return None
            _, _, dossier = heapq.heappop(self._ready)
            handler = self._unit_now(dossier.agency, day)
            if handler is not None:
                dossier.agency = handler
                return self._step(dossier, now)
            self.in_progress -= 1  # its unit ended with no successor: no more events

    def _step(self, dossier: _Dossier, now: datetime) -> dict[str, Any]:
        """The dossier's next step as an event, stamped ``now``."""
        now_ts = now.timestamp()
        step = dossier.steps.pop(0)
        kind = STEP_EVENT_TYPES.get(step, step)
        prof = self.profile(dossier.agency)
        event: dict[str, Any] = {
            "event_id": self._next_id("e"),
            "event_type": kind,
            "occurred_at": now.isoformat(),
            "agency_code": dossier.agency,
            "dossier_id": dossier.dossier_id,
            "procedure_code": dossier.procedure.code,
        }
        if kind == "due_changed" or step == "resubmit":
            self._change_due(dossier, step, event, int(now_ts))
        elif step == "transfer":
            target = self._department(local_date(now))
            if target is None or target == dossier.agency:  # nowhere to send it: skipped
                return self._skip(dossier, now)
            event["to_agency_code"] = target
            dossier.due_ts = due_after(int(now_ts), dossier.procedure.processing_days)
            event["due_at"] = local_iso(dossier.due_ts)
            dossier.agency = target  # from now on the department sends its events
        elif step == "resolved":
            dossier.approved = self.rng.random() < 0.965
            event["due_at"] = local_iso(dossier.due_ts)
            event["outcome"] = "approved" if dossier.approved else "rejected"
        elif step == "correction":  # a later second decision: the first one counts
            approved = dossier.approved if self.rng.random() < 0.6 else not dossier.approved
            event["due_at"] = local_iso(dossier.due_ts)
            event["outcome"] = "approved" if approved else "rejected"
        elif kind == "intake_rejected":
            event["reason"] = self.rng.choice(REJECTION_REASONS)
        elif kind == "returned":
            share = prof.e_result + (0.05 if dossier.online else -0.05)
            event["result_electronic"] = self.rng.random() < share
        elif kind == "payment":
            share = prof.pay_online_if_online if dossier.online else prof.pay_online_if_in_person
            event["method"] = "online" if self.rng.random() < share else "offline"
            event["amount_vnd"] = (  # the fee first, then surcharges
                dossier.procedure.fee_vnd if dossier.paid == 0 else self.rng.choice(SURCHARGES_VND)
            )
            dossier.paid += 1
        elif kind == "rated":
            happy = self.rng.random() < prof.satisfied
            event["satisfaction"] = SATISFACTION[
                (0 if self.rng.random() < 0.6 else 1) if happy else 2
            ]
        if not dossier.steps:
            self.in_progress -= 1
        else:
            ready = now_ts + self.rng.expovariate(1 / self.step_delay_s)
            if dossier.steps[0] == "resolved" and dossier.late:
                # this one runs past its deadline before it is resolved
                ready = max(ready, dossier.due_ts + self.rng.uniform(60, 3600))
            self._schedule(dossier, ready)
        return event

    def _skip(self, dossier: _Dossier, now: datetime) -> dict[str, Any]:
        """The dossier's following step instead of one that cannot happen now."""
        if not dossier.steps:  # never the last step: the resolution always follows
            raise AssertionError("a skipped step with nothing after it")
        return self._step(dossier, now)

    def _change_due(self, dossier: _Dossier, step: str, event: dict[str, Any], now_ts: int) -> None:
        """A deadline step (or a re-submission) of ``dossier``: fills ``event`` and moves
        the dossier's due time, which its resolution then carries."""
        days = dossier.procedure.processing_days
        if step == "resubmit":
            level, channel = dossier.category
            prof = self.profile(dossier.agency)
            dossier.due_ts = max(dossier.due_ts, due_after(now_ts, days))
            event.update(
                service_level=level,
                channel=channel,
                due_at=local_iso(dossier.due_ts),
                via_one_stop=self.rng.random() < prof.one_stop,
                digitized=self.rng.random() < prof.digitized,
            )
            if channel == "online":
                citizen = self.rng.random() < prof.citizen
                event["submitted_by"] = "citizen" if citizen else "assisted"
            return
        if step == "suspend":
            dossier.remaining_days = max(1, working_days_between(now_ts, dossier.due_ts))
            event["reason"] = "suspended"
            return
        if step == "apology":  # late already: a new date, which does not make it on time
            event["reason"] = "apology_redated"
            dossier.due_ts = due_after(max(now_ts, dossier.due_ts), 1 + self.rng.randrange(5))
            event["due_at"] = local_iso(dossier.due_ts)
            return
        if step == "supplement":
            event["reason"] = "supplement_requested"
            dossier.due_ts = due_after(now_ts, days + 1 + self.rng.randrange(5))
        elif step == "resume":
            event["reason"] = "resumed"
            dossier.due_ts = due_after(now_ts, dossier.remaining_days)
        else:
            event["reason"] = "extended"
            dossier.due_ts = due_after(max(now_ts, dossier.due_ts), 2 + self.rng.randrange(9))
        event["due_at"] = local_iso(dossier.due_ts)

    def document(self, now: datetime) -> dict[str, Any]:
        choice = self.choice(local_date(now))
        unit = self.rng.choices(choice.document_units, choice.document_weights)[0]
        prof = self.profile(unit.agency_code)
        self._docs += 1
        base = {
            "occurred_at": now.isoformat(),
            "agency_code": unit.agency_code,
            "confidential": self.rng.random() < prof.confidential,
        }
        if self.rng.random() < 2 / 3:
            return {
                "event_id": self._next_id("e"),
                "event_type": "document_issued",
                **base,
                "document_id": f"live-{self.run_id}-vb{self._docs}",
                "electronic": self.rng.random() < prof.e_document,
            }
        return {
            "event_id": self._next_id("e"),
            "event_type": "work_file_completed",
            **base,
            "work_file_id": f"live-{self.run_id}-hscv{self._docs}",
            "processed_online": self.rng.random() < prof.work_file_online,
        }

    def petition(self, now: datetime) -> dict[str, Any]:
        """A petition (PAKN, §4b) to a unit: received now, resolved (on time or late) and
        rated later (its next events wait in ``_later``)."""
        choice = self.choice(local_date(now))
        unit = self.rng.choices(choice.units, choice.weights)[0]
        now_ts = int(now.timestamp())
        due = due_after(now_ts, 10)
        ident = self._next_id("pakn")
        head = {"agency_code": unit.agency_code, "petition_id": ident}
        on_time = self.rng.random() < LIVE_PETITION_ON_TIME
        resolved_at = now_ts + self.rng.expovariate(1 / self.step_delay_s)
        if not on_time:
            resolved_at = max(resolved_at, due + self.rng.uniform(60, 3600))
        self._seq += 1
        heapq.heappush(
            self._later, (resolved_at, self._seq, {"event_type": "petition_resolved", **head})
        )
        if self.rng.random() < 0.8:
            happy = self.rng.random() < LIVE_PETITION_SATISFIED
            rated = {
                "event_type": "petition_rated",
                **head,
                "satisfaction": "satisfied" if happy else "unsatisfied",
            }
            self._seq += 1
            at = resolved_at + self.rng.expovariate(1 / self.step_delay_s)
            heapq.heappush(self._later, (at, self._seq, rated))
        return {
            "event_id": self._next_id("e"),
            "event_type": "petition_received",
            "occurred_at": now.isoformat(),
            **head,
            "classification": self.rng.choices(PETITION_CLASSES, PETITION_CLASS_WEIGHTS)[0],
            "due_at": local_iso(due),
        }

    def publication(self, now: datetime) -> dict[str, Any]:
        """A procedure's publication decision (§4b) by a unit."""
        choice = self.choice(local_date(now))
        unit = self.rng.choices(choice.units, choice.weights)[0]
        level = self.rng.choice(("full_online", "partial_online", "in_person_only"))
        publicized = self.rng.random() < 0.97
        return {
            "event_id": self._next_id("e"),
            "event_type": "procedure_published",
            "occurred_at": now.isoformat(),
            "agency_code": unit.agency_code,
            "procedure_code": self._procedure(unit.agency_code, level).code,
            "decision_on_time": self.rng.random() < 0.3,
            "publicized": publicized,
            "publicized_on_time": publicized and self.rng.random() < 0.95,
            "content_complete": self.rng.random() < 0.98,
        }

    def later(self, now: datetime) -> dict[str, Any] | None:
        """A petition's next event whose time has come, if any."""
        if not self._later or self._later[0][0] > now.timestamp():
            return None
        _, _, event = heapq.heappop(self._later)
        return {"event_id": self._next_id("e"), "occurred_at": now.isoformat(), **event}

    def batch(self, size: int, now: datetime) -> list[dict[str, Any]]:
        """``size`` events stamped ``now``: documents, follow-ups that are due, receipts,
        now and then a petition or a publication."""
        out: list[dict[str, Any]] = []
        for _ in range(size):
            pick = self.rng.random()
            event = self.later(now)
            if event is not None:
                pass
            elif pick < LIVE_PETITION:
                event = self.petition(now)
            elif pick < LIVE_PETITION + LIVE_PUBLICATION:
                event = self.publication(now)
            elif pick < DOCUMENT_SHARE:
                event = self.document(now)
            elif pick >= DOCUMENT_SHARE + RECEIPT_MIN_SHARE:
                event = self.follow_up(now)
            out.append(event or self.received(now))
        return out

    def events_this_second(self, rate: float, now: datetime) -> list[dict[str, Any]]:
        """The events of one second at ``rate`` per second in working hours."""
        expected = rate * activity_factor(now)
        size = int(expected) + (1 if self.rng.random() < expected - int(expected) else 0)
        return self.batch(size, now) if size else []


@dataclass
class LiveStats:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    started: float = field(default_factory=time.monotonic)


def _retry_after(resp: httpx.Response, default: float = 2.0) -> float:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", default)))
    except ValueError:
        return default


def run_live(
    ingest_url: str,
    token: str,
    rate: float,
    duration: float | None = None,
    *,
    seed: int | None = None,
    client: httpx.Client | None = None,
    report: Callable[[str], None] = lambda line: print(line, flush=True),
    report_every_s: float = 60.0,
) -> int:
    """Post one batch per second to ``ingest_url`` until stopped (SIGINT/SIGTERM) or
    ``duration`` seconds have passed; returns the number of events accepted."""
    gen = LiveGenerator(seed)
    stats = LiveStats()
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _stop)
    own_client = client is None
    http = client or httpx.Client(timeout=15)
    url = ingest_url.rstrip("/") + "/v1/events"
    headers = {"Authorization": f"Bearer {token}"}
    ends = time.monotonic() + duration if duration else None
    next_report = time.monotonic() + report_every_s
    pending: list[dict[str, Any]] = []
    try:
        while not stop.is_set() and (ends is None or time.monotonic() < ends):
            tick = time.monotonic()
            pending += gen.events_this_second(rate, datetime.now(LOCAL_TZ))
            if pending:
                try:
                    resp = http.post(url, json=pending, params={"partial": "true"}, headers=headers)
                except httpx.HTTPError as exc:
                    report(f"live: ingest unreachable ({type(exc).__name__}); retrying")
                    stop.wait(2)
                    continue
                if resp.status_code == 202:
                    body = resp.json()
                    stats.sent += len(pending)
                    stats.accepted += int(body.get("accepted", 0))
                    stats.rejected += len({e.get("index") for e in body.get("rejected", [])})
                    pending = []
                elif resp.status_code in (429, 503):
                    wait = _retry_after(resp)
                    report(f"live: ingest answered {resp.status_code}; retrying in {wait:g}s")
                    stop.wait(wait)
                    continue
                else:
                    report(f"live: ingest answered {resp.status_code}: {resp.text[:200]}")
                    pending = []
                    stop.wait(5)
                    continue
            if time.monotonic() >= next_report:
                elapsed = time.monotonic() - stats.started
                report(
                    f"live: {stats.accepted:,} accepted, {stats.rejected:,} rejected "
                    f"({stats.sent / elapsed:,.1f} events/s), "
                    f"{gen.in_progress:,} dossiers in progress"
                )
                next_report += report_every_s
            stop.wait(max(0.0, 1.0 - (time.monotonic() - tick)))
    finally:
        if own_client:
            http.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return stats.accepted
