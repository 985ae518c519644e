"""One indicator for one scope and period, as the query contract (§7) returns it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.indicators import Indicator, ratio_percent
from shared.periods import Period
from shared.scopes import Scope
from shared.store import IndicatorStore
from shared.targets import TargetBook


class IndicatorValue(BaseModel):
    indicator: str
    name_vi: str
    scope: str
    period: str
    period_start: str
    period_end: str
    numerator: int
    denominator: int
    value: float | None = Field(description="Percent; null when the denominator is empty")
    target: float | None
    target_set: str | None
    target_source: str | None
    meets_target: bool | None
    agencies: int = Field(description="Member agencies summed into this scope")


async def indicator_value(
    store: IndicatorStore,
    targets: TargetBook,
    indicator: Indicator,
    scope: Scope,
    period: Period,
    target_set: str | None,
) -> IndicatorValue:
    marks = [indicator.numerator, indicator.denominator]
    per_agency = await store.sum_marks(
        (a.agency_code for a in scope.members), period.start, period.end, marks
    )
    numerator = sum(v[indicator.numerator] for v in per_agency.values())
    denominator = sum(v[indicator.denominator] for v in per_agency.values())
    value = ratio_percent(numerator, denominator)
    target = targets.resolve(indicator.indicator, scope, period.year, target_set)
    meets = None if value is None or target is None else value >= target.min_percent
    return IndicatorValue(
        indicator=indicator.indicator,
        name_vi=indicator.name_vi,
        scope=scope.id,
        period=period.label,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        numerator=numerator,
        denominator=denominator,
        value=None if value is None else round(value, 4),
        target=target.min_percent if target else None,
        target_set=target.target_set if target else None,
        target_source=target.source if target else None,
        meets_target=meets,
        agencies=len(scope.members),
    )
