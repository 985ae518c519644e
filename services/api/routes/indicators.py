"""Indicator routes: one indicator for a scope and period, or all of them at once.

Aggregate scopes hold the agencies valid in the period (§4a.6). On an agency scope,
``include_predecessors=true`` folds in the figures of the agencies whose successor chain
leads to it (a department merged into it, a district's communes…): numerators and
denominators are summed, and ``folded_agencies`` names the codes added.
"""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import Field

from services.api.context import Ctx, Reader
from services.api.errors import ERROR_RESPONSES, bad_parameter
from services.api.reports.rankings import Ranking, SeriesPoint, points, ranking, series
from shared.domain.indicators import Indicator
from shared.domain.periods import Period
from shared.domain.scopes import Scope, ScopeKind
from shared.readmodel.figures import agency_figures, total
from shared.readmodel.indicator_query import IndicatorValue, make_value, scope_values
from shared.store.catalogs import Catalogs

router = APIRouter(prefix="/v1", tags=["indicators"], responses=ERROR_RESPONSES)

ScopeQ = Annotated[
    str,
    Query(
        description="Agency code, group:so_nganh|dia_phuong, level:tinh|huyen|xa or province",
        examples=["province"],
    ),
]
PeriodQ = Annotated[
    str,
    Query(
        description="YYYY, YYYY-Qn, YYYY-MM, YYYY-MM-DD, FROM..TO (dates) or rolling:Nd",
        examples=["2024"],
    ),
]
TargetSetQ = Annotated[
    str | None,
    Query(
        description="Target set to judge against; default: the targets in force",
        examples=["cv-112-eval-2024"],
    ),
]
PredecessorsQ = Annotated[
    bool,
    Query(
        description="Agency scope only: add the figures of the agencies whose successor_code "
        "chain leads to it (e.g. the departments merged into it)",
    ),
]


class FoldedIndicatorValue(IndicatorValue):
    folded_agencies: list[str] | None = Field(
        default=None,
        description="With include_predecessors: the predecessor codes whose figures were added",
    )


def _predecessors(catalogs: Catalogs, scope: Scope, include: bool) -> list[str]:
    """The codes to fold into an agency scope (400 for an aggregate scope)."""
    if not include:
        return []
    if scope.kind is not ScopeKind.agency:
        raise bad_parameter(
            "include_predecessors", "only for an agency scope (an aggregate sums its members)"
        )
    return [a.agency_code for a in catalogs.agencies.predecessors(scope.id)]


async def _folded_value(
    ctx: Ctx,
    catalogs: Catalogs,
    definition: Indicator,
    scope: Scope,
    period: Period,
    target_set: str | None,
    folded: list[str],
) -> FoldedIndicatorValue:
    """The agency's figure plus its predecessors', judged against the agency's own target."""
    codes = [scope.id, *folded]
    per_agency, _ = await agency_figures(ctx.store, catalogs, codes, [definition], period)
    fig = total([per_agency[c][definition.indicator] for c in codes])
    target = ctx.targets.resolve(definition.indicator, scope, period.year, target_set)
    value = make_value(definition, scope, period, fig, target)
    return FoldedIndicatorValue.model_validate(
        {**value.model_dump(), "agencies": len(codes), "folded_agencies": folded}
    )


@router.get(
    "/indicators", response_model=list[Indicator], summary="Danh mục chỉ số — indicator definitions"
)
async def list_indicators(ctx: Ctx, _: Reader) -> list[Indicator]:
    return list(ctx.indicators.values())


@router.get(
    "/indicators/{indicator}",
    response_model=FoldedIndicatorValue,
    summary="Một chỉ số cho một phạm vi và kỳ — one indicator for a scope and period",
)
async def get_indicator(
    ctx: Ctx,
    _: Reader,
    indicator: Annotated[str, PathParam(examples=["full_online_rate"])],
    scope: ScopeQ = "province",
    period: PeriodQ = "rolling:30d",
    target_set: TargetSetQ = None,
    include_predecessors: PredecessorsQ = False,
) -> Response:
    definition = ctx.indicator(indicator)
    catalogs = await ctx.catalogs.current()
    parsed_period = ctx.period(period)
    parsed_scope = ctx.scope(scope, catalogs, parsed_period)
    chosen = ctx.target_set(target_set)
    folded = _predecessors(catalogs, parsed_scope, include_predecessors)

    async def compute() -> IndicatorValue:
        if include_predecessors:
            return await _folded_value(
                ctx, catalogs, definition, parsed_scope, parsed_period, chosen, folded
            )
        values = await scope_values(
            ctx.store, catalogs, ctx.targets, [definition], parsed_scope, parsed_period, chosen
        )
        return values[0]

    return await ctx.responses.respond(
        (
            "indicator",
            definition.indicator,
            parsed_scope.id,
            parsed_period,
            chosen,
            include_predecessors,
        ),
        catalogs.version,
        [*parsed_scope.codes, *folded],
        compute,
    )


@router.get(
    "/scopes/{scope}/indicators",
    response_model=list[IndicatorValue],
    summary="Mọi chỉ số của một phạm vi — all indicators of a scope and period",
)
async def scope_indicators(
    ctx: Ctx,
    _: Reader,
    scope: Annotated[str, PathParam(examples=["so-tttt"])],
    period: PeriodQ = "rolling:30d",
    target_set: TargetSetQ = None,
) -> Response:
    catalogs = await ctx.catalogs.current()
    parsed_period = ctx.period(period)
    parsed_scope = ctx.scope(scope, catalogs, parsed_period)
    chosen = ctx.target_set(target_set)

    async def compute() -> list[IndicatorValue]:
        return await scope_values(
            ctx.store,
            catalogs,
            ctx.targets,
            list(ctx.indicators.values()),
            parsed_scope,
            parsed_period,
            chosen,
        )

    return await ctx.responses.respond(
        ("scope_indicators", parsed_scope.id, parsed_period, chosen),
        catalogs.version,
        parsed_scope.codes,
        compute,
    )


MAX_POINTS = 400


@router.get(
    "/rankings/{indicator}",
    response_model=Ranking,
    summary="Xếp hạng cơ quan theo chỉ số (biểu dương / phê bình) — agency ranking",
)
async def get_ranking(
    ctx: Ctx,
    _: Reader,
    indicator: Annotated[str, PathParam(examples=["full_online_rate"])],
    scope: ScopeQ = "province",
    period: PeriodQ = "rolling:30d",
    target_set: TargetSetQ = None,
    top: Annotated[int, Query(ge=1, le=50, description="best and worst N")] = 5,
) -> Response:
    definition = ctx.indicator(indicator)
    catalogs = await ctx.catalogs.current()
    parsed_period = ctx.period(period)
    parsed_scope = ctx.scope(scope, catalogs, parsed_period)
    chosen = ctx.target_set(target_set)

    async def compute() -> Ranking:
        return await ranking(
            ctx.store, catalogs, ctx.targets, definition, parsed_scope, parsed_period, chosen, top
        )

    return await ctx.responses.respond(
        ("ranking", definition.indicator, parsed_scope.id, parsed_period, chosen, top),
        catalogs.version,
        parsed_scope.codes,
        compute,
    )


@router.get(
    "/series/{indicator}",
    response_model=list[SeriesPoint],
    summary="Chuỗi thời gian theo ngày hoặc tháng — daily or monthly points",
)
async def get_series(
    ctx: Ctx,
    _: Reader,
    indicator: Annotated[str, PathParam(examples=["full_online_rate"])],
    scope: ScopeQ = "province",
    period: PeriodQ = "rolling:30d",
    step: Annotated[Literal["day", "month"], Query()] = "day",
    include_predecessors: PredecessorsQ = False,
) -> Response:
    definition = ctx.indicator(indicator)
    catalogs = await ctx.catalogs.current()
    parsed = ctx.period(period)
    periods = points(parsed.start, parsed.end, step)
    if len(periods) > MAX_POINTS:
        raise bad_parameter(
            "period",
            f"{len(periods)} points; at most {MAX_POINTS} (use step=month for long ranges)",
        )
    parsed_scope = ctx.scope(scope, catalogs, parsed)
    folded = _predecessors(catalogs, parsed_scope, include_predecessors)

    async def compute() -> list[SeriesPoint]:
        return await series(
            ctx.store,
            catalogs,
            definition,
            parsed_scope,
            periods,
            fold=folded if include_predecessors else None,
        )

    return await ctx.responses.respond(
        ("series", definition.indicator, parsed_scope.id, parsed, step, include_predecessors),
        catalogs.version,
        [*parsed_scope.codes, *folded],
        compute,
    )
