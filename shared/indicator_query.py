"""Indicator values for scopes and periods as the query contract (§7) returns them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from shared.catalog_store import Catalogs
from shared.figures import Figure, agency_figures, total
from shared.indicators import Indicator, ratio_percent
from shared.periods import Period
from shared.scopes import Scope
from shared.store import IndicatorStore
from shared.targets import Target, TargetBook


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


class IndicatorValue(BaseModel):
    indicator: str
    name_vi: str
    scope: str
    period: str
    period_start: str
    period_end: str
    numerator: int
    denominator: int
    value: float | None = Field(description="Percent; null when not evaluated")
    target: float | None
    target_set: str | None
    target_source: str | None
    meets_target: bool | None
    verdict: Verdict | None
    agencies: int = Field(description="Member agencies summed into this scope")


def make_value(
    indicator: Indicator, scope: Scope, period: Period, fig: Figure, target: Target | None
) -> IndicatorValue:
    value = ratio_percent(fig.numerator, fig.denominator) if fig.evaluated else None
    v = verdict(value, target)
    return IndicatorValue(
        indicator=indicator.indicator,
        name_vi=indicator.name_vi,
        scope=scope.id,
        period=period.label,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        numerator=fig.numerator,
        denominator=fig.denominator,
        value=value,
        target=target.min_percent if target else None,
        target_set=target.target_set if target else None,
        target_source=target.source if target else None,
        meets_target=None if v in (None, Verdict.not_evaluated) else v is Verdict.meets,
        verdict=v,
        agencies=len(scope.members),
    )


async def scope_values(
    store: IndicatorStore,
    catalogs: Catalogs,
    targets: TargetBook,
    indicators: list[Indicator],
    scope: Scope,
    period: Period,
    target_set: str | None,
) -> list[IndicatorValue]:
    codes = scope.codes
    per_agency, _ = await agency_figures(store, catalogs, codes, indicators, period)
    out = []
    for ind in indicators:
        figs = [per_agency[c][ind.indicator] for c in codes]
        fig = figs[0] if scope.kind == "agency" else total(figs)
        target = targets.resolve(ind.indicator, scope, period.year, target_set)
        out.append(make_value(ind, scope, period, fig, target))
    return out
