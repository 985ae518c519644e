"""Threshold rules on an indicator update: breach and year-end projection of every indicator
of the agency and of each scope it belongs to, for the targets in force and each extra
target set.

Figures, values and targets come from the read model (``shared.readmodel.figures``): an
indicator not evaluated for a scope raises nothing and resolves what was firing. Ended units
behave as ended (§4a.6): an agency not valid today is not judged (a late event of a merged
department raises nothing), nor an aggregate none of whose members is valid today
(``level:huyen`` after 2025-06-30; with no member in a year it has no target either); what
fired for them before is resolved by the timers' check (:func:`services.alerts.checks.ended`).
The alerts' previous state — which the hysteresis needs — is read for all of them in one
MGET."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from services.alerts.rules import (
    Observation,
    Rule,
    evaluate_breach,
    evaluate_projection,
    project_year_end,
)
from services.alerts.state import AlertStore, Finding, Stored, Subject
from shared.domain.catalog import AgencyCatalog
from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import Scope, ScopeKind, parse_scope, scope_name
from shared.domain.targets import TargetBook
from shared.platform.config import AlertsSettings
from shared.readmodel.figures import Reading, read, scope_figures
from shared.store.catalogs import CatalogCache
from shared.store.indicator_store import IndicatorStore

RECENT_DAYS = 30


def alert_scope_name(scope: Scope) -> str:
    agency = scope.agency
    return agency.name if agency else scope_name(scope.id)


def scope_group(scope: Scope) -> str | None:
    if scope.kind is ScopeKind.agency:
        return scope.members[0].group.value
    return scope.id.removeprefix("group:") if scope.kind is ScopeKind.group else None


def judged_now(scope: Scope, today: date) -> bool:
    """Whether the threshold rules judge ``scope`` today: an agency while it is valid, an
    aggregate while one of its members is (its figures sum every member of the period)."""
    return any(a.valid_on(today) for a in scope.members)


def scopes_of(agency_code: str, agencies: AgencyCatalog, start: date, end: date) -> list[Scope]:
    """The agency and every aggregate scope it belongs to, with the members valid at some
    time in [start, end] (§4a.6); only those judged on ``end`` (today, :func:`judged_now`)."""
    agency = agencies.get(agency_code)
    if agency is None:
        return []
    ids = [agency_code, f"group:{agency.group}", f"level:{agency.level}", "province"]
    scopes = [parse_scope(i, agencies, start, end) for i in ids]
    return [s for s in scopes if judged_now(s, end)]


@dataclass(frozen=True)
class Judged:
    """One reading with a target: what its breach and projection are judged on."""

    scope: Scope
    indicator: Indicator
    period: str
    reading: Reading
    projected: float | None

    def subject(self, rule: Rule) -> Subject:
        target = self.reading.target
        return Subject(
            rule,
            self.scope.id,
            alert_scope_name(self.scope),
            self.period,
            indicator=self.indicator,
            target_set=target.target_set if target else None,
            target_source=target.source if target else None,
            group=scope_group(self.scope),
        )


class UpdateEvaluation:
    def __init__(
        self,
        settings: AlertsSettings,
        figures: IndicatorStore,
        targets: TargetBook,
        indicators: list[Indicator],
    ) -> None:
        self.settings = settings
        self.figures = figures
        self.targets = targets
        self.indicators = indicators

    async def readings(
        self, catalogs: CatalogCache, agency_code: str, year: int, today: date
    ) -> list[Judged]:
        current = await catalogs.current()
        ytd_period = Period(PeriodKind.year, date(year, 1, 1), today, str(year))
        scopes = scopes_of(agency_code, current.agencies, ytd_period.start, today)
        if not scopes:
            return []
        recent_start = max(date(year, 1, 1), today - timedelta(days=RECENT_DAYS - 1))
        recent_period = Period(
            PeriodKind.range, recent_start, today, f"{recent_start.isoformat()}..{today}"
        )
        ytd = await scope_figures(self.figures, current, scopes, self.indicators, ytd_period)
        recent = await scope_figures(self.figures, current, scopes, self.indicators, recent_period)
        remaining = (date(year, 12, 31) - today).days
        out: list[Judged] = []
        for scope in scopes:
            for ind in self.indicators:
                fig = ytd[scope.id][ind.indicator]
                rfig = recent[scope.id][ind.indicator]
                for target_set in [None, *self.settings.alerts_target_sets]:
                    reading = read(self.targets, ind.indicator, scope, year, fig, target_set)
                    if reading.target is None:
                        continue
                    projected = (
                        project_year_end(
                            (fig.numerator, fig.denominator),
                            (rfig.numerator, rfig.denominator),
                            recent_period.days(),
                            remaining,
                        )
                        if reading.evaluated
                        else None
                    )
                    period = str(year) if target_set is None else f"{year}:{target_set}"
                    out.append(Judged(scope, ind, period, reading, projected))
        return out

    def judge(self, judged: Judged, stored: dict[str, Stored]) -> list[Finding]:
        """Breach and early warning of one reading (its target is set)."""
        target, fig, s = judged.reading.target, judged.reading.figure, self.settings
        if target is None:
            return []
        breach_subject = judged.subject(Rule.breach)
        proj_subject = judged.subject(Rule.projection)
        breach = evaluate_breach(
            fig.numerator,
            fig.denominator,
            target.min_percent,
            min_denominator=s.alerts_min_denominator,
            margin=s.alerts_resolve_margin,
            was_firing=stored[breach_subject.key].firing,
            evaluated=judged.reading.evaluated,
        )
        proj = evaluate_projection(
            judged.projected,
            bool(breach and breach.firing),
            fig.denominator,
            target.min_percent,
            min_denominator=s.alerts_min_denominator,
            margin=s.alerts_resolve_margin,
            was_firing=stored[proj_subject.key].firing,
            evaluated=judged.reading.evaluated,
        )
        if proj is not None and judged.reading.value is not None:
            proj = Observation(
                proj.firing, proj.severity, judged.reading.value, proj.target, proj.projected
            )
        out: list[Finding] = []
        if breach is not None:
            out.append(Finding(breach_subject, breach))
        if proj is not None:
            out.append(Finding(proj_subject, proj))
        return out

    async def findings(
        self, store: AlertStore, catalogs: CatalogCache, agency_code: str, year: int, today: date
    ) -> tuple[list[Finding], dict[str, Stored]]:
        """Every threshold finding of the update, and the alerts as read (one MGET)."""
        judged = await self.readings(catalogs, agency_code, year, today)
        keys = [j.subject(rule).key for j in judged for rule in (Rule.breach, Rule.projection)]
        stored = await store.read(keys)
        return [f for j in judged for f in self.judge(j, stored)], stored
