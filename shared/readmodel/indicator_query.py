"""Indicator values for scopes and periods as the query contract (§7) returns them.

Figures, values, targets and verdicts come from the read model in ``shared.readmodel.figures``
(``Verdict`` and ``verdict`` are re-exported here for existing imports).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.domain.indicators import Indicator
from shared.domain.periods import Period
from shared.domain.scopes import Scope
from shared.domain.targets import Target, TargetBook
from shared.readmodel.figures import Figure, Reading, Verdict, judge, read_scopes, verdict
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore

__all__ = ["IndicatorValue", "Verdict", "make_value", "scope_values", "value_of_reading", "verdict"]


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
    target_year: int | None = Field(
        None, description="The year the target was set for (the document's year)"
    )
    target_carried_over: bool = Field(
        False,
        description="A plan target of an earlier year still in force (no later document "
        "replaced it): shown as 'chuyển tiếp từ <target_year>'",
    )
    meets_target: bool | None
    verdict: Verdict | None
    agencies: int = Field(description="Member agencies summed into this scope")


def value_of_reading(
    indicator: Indicator, scope: Scope, period: Period, reading: Reading
) -> IndicatorValue:
    """The query contract's shape of a reading of the read model."""
    fig, target = reading.figure, reading.target
    return IndicatorValue(
        indicator=indicator.indicator,
        name_vi=indicator.name_vi,
        scope=scope.id,
        period=period.label,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        numerator=fig.numerator,
        denominator=fig.denominator,
        value=reading.value,
        target=target.min_percent if target else None,
        target_set=target.target_set if target else None,
        target_source=target.source if target else None,
        target_year=target.period if target else None,
        target_carried_over=target.carried_over(period.year) if target else False,
        meets_target=reading.meets_target,
        verdict=reading.verdict,
        agencies=len(scope.members),
    )


def make_value(
    indicator: Indicator, scope: Scope, period: Period, fig: Figure, target: Target | None
) -> IndicatorValue:
    return value_of_reading(
        indicator, scope, period, judge(indicator.indicator, scope.id, fig, target)
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
    readings = await read_scopes(store, catalogs, targets, [scope], indicators, period, target_set)
    return [
        value_of_reading(ind, scope, period, readings[scope.id][ind.indicator])
        for ind in indicators
    ]
