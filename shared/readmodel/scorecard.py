"""Roll-up: the share of agencies meeting every target that applies to them (§5).

An agency is judged on each indicator that has a target in force for it and a value
(empty denominators are not evaluated); it meets all when it meets each of those. An
aggregate scope counts the agencies valid at some time in the period (§4a.6).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from shared.domain.indicators import (
    EMC_FULL_ONLINE_RATE,
    FULL_ONLINE_DEFINITIONS_VI,
    FULL_ONLINE_RATE,
    Indicator,
    ratio_percent,
)
from shared.domain.periods import Period
from shared.domain.scopes import Scope, agency_scope, scope_in
from shared.domain.targets import TargetBook
from shared.readmodel.figures import Figure, agency_figures, total, value_of
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


class RateFigure(BaseModel):
    numerator: int
    denominator: int
    value: float | None


class FullOnlineDefinitions(BaseModel):
    """The scope's full-online rate under the province's definition (÷ received) and under
    the EMC system's (÷ resolved), so a gap with EMC's figure splits into definition and
    data (domain README §1, seed CV 112 footnote 1)."""

    province: RateFigure = Field(description="full_online_rate: ÷ dossiers received")
    emc: RateFigure = Field(description="emc_full_online_rate: ÷ dossiers resolved")
    note_vi: str = FULL_ONLINE_DEFINITIONS_VI


def _rate(fig: Figure) -> RateFigure:
    return RateFigure(numerator=fig.numerator, denominator=fig.denominator, value=value_of(fig))


class Scorecard(BaseModel):
    scope: str
    period: str
    target_set: str | None
    agencies_judged: int
    agencies_meeting_all: int
    share_meeting_all: float | None
    agencies: list[AgencyScore]
    full_online: FullOnlineDefinitions | None = Field(
        None, description="Both definitions of the full-online rate, summed over the scope"
    )


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
    names = {ind.indicator for ind in indicators}
    both = None
    if {FULL_ONLINE_RATE, EMC_FULL_ONLINE_RATE} <= names:
        both = FullOnlineDefinitions(
            province=_rate(total([figures[c][FULL_ONLINE_RATE] for c in codes])),
            emc=_rate(total([figures[c][EMC_FULL_ONLINE_RATE] for c in codes])),
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
        full_online=both,
    )
