"""Roll-up: the share of agencies meeting every target that applies to them (§5).

An agency is judged on each indicator that has a target in force for it and a value
(empty denominators are not evaluated); it meets all when it meets each of those. An
aggregate scope counts the agencies valid at some time in the period (§4a.6).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from shared.domain.indicators import Indicator, ratio_percent
from shared.domain.periods import Period
from shared.domain.scopes import Scope, agency_scope, scope_in
from shared.domain.targets import TargetBook
from shared.readmodel.figures import agency_figures, value_of
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore


class Miss(BaseModel):
    indicator: str
    value: float
    target: float


class AgencyScore(BaseModel):
    agency_code: str
    agency_name: str
    judged: list[str]
    misses: list[Miss]
    meets_all: bool | None


class Scorecard(BaseModel):
    scope: str
    period: str
    target_set: str | None
    agencies_judged: int
    agencies_meeting_all: int
    share_meeting_all: float | None
    agencies: list[AgencyScore]


async def scorecard(
    store: IndicatorStore,
    catalogs: Catalogs,
    targets: TargetBook,
    indicators: Sequence[Indicator],
    scope: Scope,
    period: Period,
    target_set: str | None,
) -> Scorecard:
    scope = scope_in(scope, catalogs.agencies, period.start, period.end)
    codes = scope.codes
    figures, _ = await agency_figures(store, catalogs, codes, indicators, period)
    scores: list[AgencyScore] = []
    for agency in scope.members:
        own = agency_scope(agency)
        judged: list[str] = []
        misses: list[Miss] = []
        for ind in indicators:
            target = targets.resolve(ind.indicator, own, period.year, target_set)
            fig = figures[agency.agency_code][ind.indicator]
            value = value_of(fig)
            if target is None or value is None:
                continue
            judged.append(ind.indicator)
            if value < target.min_percent:
                misses.append(Miss(indicator=ind.indicator, value=value, target=target.min_percent))
        scores.append(
            AgencyScore(
                agency_code=agency.agency_code,
                agency_name=agency.name,
                judged=judged,
                misses=misses,
                meets_all=(not misses) if judged else None,
            )
        )
    judged_n = sum(s.meets_all is not None for s in scores)
    meeting = sum(s.meets_all is True for s in scores)
    return Scorecard(
        scope=scope.id,
        period=period.label,
        target_set=target_set,
        agencies_judged=judged_n,
        agencies_meeting_all=meeting,
        share_meeting_all=ratio_percent(meeting, judged_n),
        agencies=scores,
    )
