"""Rankings and time series of an indicator (the analysts' questions to leaders)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from pydantic import BaseModel, Field

from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind, month_end
from shared.domain.scopes import Scope, agency_scope, scope_in
from shared.domain.targets import TargetBook
from shared.platform.off_loop import off_loop
from shared.readmodel.figures import Figure, agency_figures, total, value_of
from shared.readmodel.indicator_query import Verdict, verdict
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore


class RankedAgency(BaseModel):
    rank: int
    agency_code: str
    agency_name: str
    numerator: int
    denominator: int
    value: float | None
    target: float | None
    verdict: Verdict | None


class Ranking(BaseModel):
    indicator: str
    name_vi: str
    period: str
    target_set: str | None
    agencies: list[RankedAgency]
    best: list[RankedAgency]
    worst: list[RankedAgency]


async def ranking(
    store: IndicatorStore,
    catalogs: Catalogs,
    targets: TargetBook,
    indicator: Indicator,
    scope: Scope,
    period: Period,
    target_set: str | None,
    top: int,
) -> Ranking:
    """Agencies of ``scope`` valid in the period by value, best first; not-evaluated ones
    last, unranked. The figures are read on the loop, ranked off it (:func:`rank`)."""
    scope = scope_in(scope, catalogs.agencies, period.start, period.end)
    figures, _ = await agency_figures(store, catalogs, scope.codes, [indicator], period)
    return await off_loop(rank, targets, indicator, scope, period, target_set, top, figures)


def rank(
    targets: TargetBook,
    indicator: Indicator,
    scope: Scope,
    period: Period,
    target_set: str | None,
    top: int,
    figures: dict[str, dict[str, Figure]],
) -> Ranking:
    """The ranking of ``scope``'s members from their figures (CPU only)."""
    rows = []
    for agency in scope.members:
        fig = figures[agency.agency_code][indicator.indicator]
        value = value_of(fig)
        own = agency_scope(agency)
        target = targets.resolve(indicator.indicator, own, period.year, target_set)
        rows.append((value, agency, fig, target))
    rows.sort(key=lambda r: (r[0] is None, -(r[0] or 0.0), r[1].agency_code))
    ranked = [
        RankedAgency(
            rank=i + 1,
            agency_code=a.agency_code,
            agency_name=a.name,
            numerator=f.numerator,
            denominator=f.denominator,
            value=v,
            target=t.min_percent if t else None,
            verdict=verdict(v, t),
        )
        for i, (v, a, f, t) in enumerate(rows)
    ]
    evaluated = [r for r in ranked if r.value is not None]
    return Ranking(
        indicator=indicator.indicator,
        name_vi=indicator.name_vi,
        period=period.label,
        target_set=target_set,
        agencies=ranked,
        best=evaluated[:top],
        worst=evaluated[::-1][:top],
    )


class SeriesPoint(BaseModel):
    period: str
    start: date
    end: date
    numerator: int
    denominator: int
    value: float | None
    folded_agencies: list[str] | None = Field(
        default=None,
        description="With include_predecessors: the predecessor codes whose figures were added",
    )


def points(start: date, end: date, step: str) -> list[Period]:
    out: list[Period] = []
    if step == "day":
        d = start
        while d <= end:
            out.append(Period(PeriodKind.day, d, d, d.isoformat()))
            d += timedelta(days=1)
        return out
    d = start.replace(day=1)
    while d <= end:
        last = month_end(d.year, d.month)
        out.append(Period(PeriodKind.month, max(d, start), min(last, end), f"{d:%Y-%m}"))
        d = last + timedelta(days=1)
    return out


async def series(
    store: IndicatorStore,
    catalogs: Catalogs,
    indicator: Indicator,
    scope: Scope,
    periods: Sequence[Period],
    fold: Sequence[str] | None = None,
) -> list[SeriesPoint]:
    """One point per period; an aggregate's members are those valid in each point's period.
    ``fold`` (agency scope): predecessor codes whose figures are added to the agency's."""
    out = []
    for p in periods:
        codes = [*scope_in(scope, catalogs.agencies, p.start, p.end).codes, *(fold or ())]
        figures, _ = await agency_figures(store, catalogs, codes, [indicator], p)
        figs = [figures[c][indicator.indicator] for c in codes]
        fig = figs[0] if len(figs) == 1 else total(figs)
        value = value_of(fig)
        out.append(
            SeriesPoint(
                period=p.label,
                start=p.start,
                end=p.end,
                numerator=fig.numerator,
                denominator=fig.denominator,
                value=value,
                folded_agencies=None if fold is None else list(fold),
            )
        )
    return out
