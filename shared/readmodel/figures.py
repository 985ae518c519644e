"""Numerators and denominators of every indicator, per agency, for one period.

Event ratios sum the calculator's mark counters; catalog ratios count the procedure
catalog; activity ratios intersect the per-period procedure sets with the catalog.
Everything for all requested agencies is read in a few pipelined round trips.

This module is the read model: the only path from counters to a value, the target in force
and a verdict. The API (``indicator_query``), the alert engine and its digest, the
calculator's coalesced updates and its business metrics all read through it, so an
indicator that is "not evaluated" (§4a.7: it does not apply to the agency, or its
denominator is empty) has no verdict and raises no alert anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from weakref import WeakKeyDictionary

from shared.contract.events import ServiceLevel
from shared.domain.indicators import FULL_ONLINE_INDICATORS, Indicator, ratio_percent
from shared.domain.periods import Period
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.domain.scopes import Scope, ScopeKind
from shared.domain.targets import Target, TargetBook
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore

EVENT_SOURCES = ("dossier", "document")


@dataclass(frozen=True)
class Figure:
    numerator: int
    denominator: int
    evaluated: bool = True  # False: the indicator does not apply to this agency


# Per catalog (immutable once built), agency and (for an agency with dated procedures)
# period: the catalog counts, computed once.
_CountsKey = tuple[str, date | None, date | None]
_COUNTS: WeakKeyDictionary[ProcedureCatalog, dict[_CountsKey, dict[str, int]]]
_COUNTS = WeakKeyDictionary()


def catalog_counts(
    catalog: ProcedureCatalog, agency: str, start: date | None = None, end: date | None = None
) -> dict[str, int]:
    """The agency's procedure counts; with a period, of the procedures valid in it (§4a.6)."""
    per_agency = _COUNTS.setdefault(catalog, {})
    dated = start is not None and catalog.has_dated(agency)
    key = (agency, start, end) if dated else (agency, None, None)
    counts = per_agency.get(key)
    if counts is None:
        counts = per_agency[key] = _catalog_counts(catalog.of_agency(agency, key[1], key[2]))
    return counts


def _catalog_counts(procs: Sequence[Procedure]) -> dict[str, int]:
    return {
        "procedures_full_online": sum(p.service_level is ServiceLevel.full_online for p in procs),
        "procedures_eligible_full_online": sum(p.eligible_full_online for p in procs),
        "procedures_online": sum(p.service_level is not ServiceLevel.in_person_only for p in procs),
        "procedures_fee_required": sum(p.fee_required for p in procs),
    }


def _activity_universe(name: str, procs: Sequence[Procedure]) -> frozenset[str]:
    if name == "proc_online":
        return frozenset(
            p.procedure_code for p in procs if p.service_level is not ServiceLevel.in_person_only
        )
    return frozenset(p.procedure_code for p in procs if p.fee_required)


_UniverseKey = tuple[str, str, date | None, date | None]
_UNIVERSES: WeakKeyDictionary[ProcedureCatalog, dict[_UniverseKey, frozenset[str]]]
_UNIVERSES = WeakKeyDictionary()


def activity_universe(
    catalog: ProcedureCatalog, name: str, agency: str, start: date, end: date
) -> frozenset[str]:
    """The procedures of the agency (valid in the period) a per-period set is counted
    against; computed once per catalog, agency and (for dated procedures) period."""
    per_catalog = _UNIVERSES.setdefault(catalog, {})
    dated = catalog.has_dated(agency)
    key = (name, agency, start if dated else None, end if dated else None)
    found = per_catalog.get(key)
    if found is None:
        procs = catalog.of_agency(agency, start, end)
        found = per_catalog[key] = _activity_universe(name, procs)
    return found


def marks_read(indicators: Sequence[Indicator]) -> list[str]:
    """The counter marks the figures of ``indicators`` sum."""
    return sorted(
        {m for i in indicators if i.source in EVENT_SOURCES for m in (i.numerator, i.denominator)}
    )


def sets_read(indicators: Sequence[Indicator]) -> set[str]:
    """The per-period sets the figures of ``indicators`` count members of."""
    return {i.numerator for i in indicators if i.source == "catalog_activity"}


async def figures_digest(
    store: IndicatorStore,
    reads: Sequence[tuple[Sequence[str], Sequence[Indicator], Period]],
) -> bytes:
    """A digest, computed in Redis, of every bucket value that :func:`agency_figures`
    would read for each ``(agencies, indicators, period)``: equal digests, equal figures
    (with the same catalogs). A few bytes come back, whatever the number of buckets."""
    counters: dict[tuple[str, ...], dict[str, list[tuple[date, date]]]] = {}
    sets: dict[str, dict[str, list[tuple[date, date]]]] = {}
    for agencies, indicators, period in reads:
        span = (period.start, period.end)
        marks = tuple(marks_read(indicators))
        targets = [counters.setdefault(marks, {})] if marks else []
        targets += [sets.setdefault(name, {}) for name in sorted(sets_read(indicators))]
        for per_agency in targets:
            for code in agencies:
                per_agency.setdefault(code, []).append(span)
    return await store.buckets_digest(
        [(list(marks), spans) for marks, spans in sorted(counters.items())],
        sorted(sets.items()),
    )


async def agency_figures(
    store: IndicatorStore,
    catalogs: Catalogs,
    agencies: Sequence[str],
    indicators: Sequence[Indicator],
    period: Period,
    extra_marks: Sequence[str] = (),
) -> tuple[dict[str, dict[str, Figure]], dict[str, dict[str, int]]]:
    """Per agency and indicator the figure; also the raw mark sums (incl. ``extra_marks``)."""
    marks = sorted(set(marks_read(indicators)) | set(extra_marks))
    sums = (
        await store.sum_marks(agencies, period.start, period.end, marks)
        if marks
        else {a: {} for a in agencies}
    )
    activity = sets_read(indicators)
    sets = {
        name: await store.set_union(agencies, period.start, period.end, name)
        for name in sorted(activity)
    }
    has_catalog = len(catalogs.procedures) > 0
    out: dict[str, dict[str, Figure]] = {}
    for agency in agencies:
        counts = catalog_counts(catalogs.procedures, agency, period.start, period.end)
        figures: dict[str, Figure] = {}
        for ind in indicators:
            if ind.source in EVENT_SOURCES:
                fig = Figure(sums[agency][ind.numerator], sums[agency][ind.denominator])
                if ind.indicator in FULL_ONLINE_INDICATORS and has_catalog:
                    # not evaluated for an agency with no full_online procedure (§5)
                    fig = Figure(
                        fig.numerator, fig.denominator, counts["procedures_full_online"] > 0
                    )
            elif ind.source == "catalog":
                fig = Figure(counts[ind.numerator], counts[ind.denominator])
            else:
                universe = activity_universe(
                    catalogs.procedures, ind.numerator, agency, period.start, period.end
                )
                members = sets[ind.numerator][agency] & universe
                fig = Figure(len(members), counts[ind.denominator])
            figures[ind.indicator] = fig
        out[agency] = figures
    return out, sums


def total(figures: Sequence[Figure]) -> Figure:
    """Aggregates sum numerators and denominators (they never average ratios).

    An aggregate is evaluated when at least one member is (so a scope whose members are all
    "not evaluated" is not evaluated either); it sums every member, as the appendix does.
    """
    return Figure(
        sum(f.numerator for f in figures),
        sum(f.denominator for f in figures),
        any(f.evaluated for f in figures),
    )


# -- value, target in force, verdict ------------------------------------------------------


class Verdict(StrEnum):
    meets = "Đạt"
    below = "Chưa đạt"
    not_evaluated = "Không đánh giá"


def verdict(value: float | None, target: Target | None) -> Verdict | None:
    """Compares the unrounded value with the target; None when no target applies."""
    if target is None:
        return None
    if value is None:
        return Verdict.not_evaluated
    return Verdict.meets if value >= target.min_percent else Verdict.below


def value_of(fig: Figure) -> float | None:
    """Percent, or None when not evaluated (the indicator does not apply, or the
    denominator is empty): never 0 %."""
    return ratio_percent(fig.numerator, fig.denominator) if fig.evaluated else None


@dataclass(frozen=True)
class Reading:
    """One indicator of one scope in one period, as every consumer reports it."""

    indicator: str
    scope: str
    figure: Figure
    value: float | None  # percent; None: not evaluated
    target: Target | None  # the target in force; None: no target applies
    verdict: Verdict | None  # None exactly when no target applies

    @property
    def evaluated(self) -> bool:
        return self.value is not None

    @property
    def judged(self) -> bool:
        """Đạt or Chưa đạt: a target applies and the value is evaluated."""
        return self.verdict in (Verdict.meets, Verdict.below)

    @property
    def meets_target(self) -> bool | None:
        return self.verdict is Verdict.meets if self.judged else None


def judge(indicator: str, scope_id: str, fig: Figure, target: Target | None) -> Reading:
    value = value_of(fig)
    return Reading(indicator, scope_id, fig, value, target, verdict(value, target))


def target_in_force(
    targets: TargetBook, indicator: str, scope: Scope, year: int, target_set: str | None = None
) -> Target | None:
    """The target that judges ``scope`` in ``year`` (§6, :meth:`TargetBook.resolve`)."""
    return targets.resolve(indicator, scope, year, target_set)


def read(
    targets: TargetBook,
    indicator: str,
    scope: Scope,
    year: int,
    fig: Figure,
    target_set: str | None = None,
) -> Reading:
    """Value, target in force for ``year`` and verdict of a figure of ``scope``."""
    target = target_in_force(targets, indicator, scope, year, target_set)
    return judge(indicator, scope.id, fig, target)


def scope_figure(
    per_agency: Mapping[str, Mapping[str, Figure]], indicator: str, scope: Scope
) -> Figure:
    """An agency's own figure, or the sum over an aggregate scope's members."""
    figs = [per_agency[a.agency_code][indicator] for a in scope.members]
    return figs[0] if scope.kind is ScopeKind.agency else total(figs)


async def scope_figures(
    store: IndicatorStore,
    catalogs: Catalogs,
    scopes: Sequence[Scope],
    indicators: Sequence[Indicator],
    period: Period,
) -> dict[str, dict[str, Figure]]:
    """Per scope id and indicator the figure, reading every member agency once."""
    codes = sorted({code for scope in scopes for code in scope.codes})
    per_agency, _ = await agency_figures(store, catalogs, codes, indicators, period)
    return {
        scope.id: {i.indicator: scope_figure(per_agency, i.indicator, scope) for i in indicators}
        for scope in scopes
    }


async def read_scopes(
    store: IndicatorStore,
    catalogs: Catalogs,
    targets: TargetBook,
    scopes: Sequence[Scope],
    indicators: Sequence[Indicator],
    period: Period,
    target_set: str | None = None,
) -> dict[str, dict[str, Reading]]:
    """Per scope id and indicator the reading: figure, value, target of the period's year
    (or of ``target_set``), verdict."""
    figures = await scope_figures(store, catalogs, scopes, indicators, period)
    return {
        scope.id: {
            i.indicator: read(
                targets, i.indicator, scope, period.year, figures[scope.id][i.indicator], target_set
            )
            for i in indicators
        }
        for scope in scopes
    }
