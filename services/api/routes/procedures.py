"""Per-procedure figures (issue 18, item 5): one procedure's dossiers in a scope and period,
and a scope's procedures ranked by dossiers received with their full-online share (CV 112:
prioritise the procedures with the most dossiers). ``GET /v1/procedures`` stays the catalog
list; the ranking is ``GET /v1/scopes/{scope}/procedures``. Periods of whole months (a
year, quarter or month): the per-procedure sets are kept per month and year."""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import Response

from services.api.context import Ctx, Reader
from services.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiException, bad_parameter
from services.api.routes.indicators import ScopeQ
from shared.domain.periods import Period
from shared.readmodel.procedure_figures import (
    ProcedureRanking,
    ProcedureView,
    figures_of,
    ranked,
    scope_counts,
    whole_months,
)

router = APIRouter(prefix="/v1", tags=["procedures"], responses=ERROR_RESPONSES)

MonthsPeriodQ = Annotated[
    str,
    Query(description="A period of whole months: YYYY, YYYY-Qn or YYYY-MM", examples=["2024"]),
]


def _months(ctx: Ctx, text: str) -> Period:
    period = ctx.period(text)
    if not whole_months(period):
        raise bad_parameter(
            "period", "per-procedure figures are kept per month: give YYYY, YYYY-Qn or YYYY-MM"
        )
    return period


@router.get(
    "/procedures/{code}/indicators",
    response_model=ProcedureView,
    summary="Số liệu hồ sơ của một thủ tục — one procedure's dossier figures",
    responses=NOT_FOUND,
)
async def procedure_indicators(
    ctx: Ctx,
    _: Reader,
    code: Annotated[str, PathParam(examples=["1.001612"])],
    period: MonthsPeriodQ,
    scope: ScopeQ = "province",
) -> Response:
    catalogs = await ctx.catalogs.current()
    procedure = catalogs.procedures.procedures.get(code)
    if procedure is None:
        raise ApiException(
            404,
            "not_found",
            "code",
            f"no procedure {code!r} in the procedure catalog",
            f"Không có thủ tục {code!r} trong danh mục thủ tục hành chính",
        )
    parsed_period = _months(ctx, period)
    parsed_scope = ctx.scope(scope, catalogs, parsed_period)

    async def compute() -> ProcedureView:
        counts = await scope_counts(ctx.store, parsed_scope.codes, parsed_period)
        return ProcedureView(
            **figures_of(code, counts, procedure).model_dump(),
            scope=parsed_scope.id,
            period=parsed_period.label,
            period_start=parsed_period.start.isoformat(),
            period_end=parsed_period.end.isoformat(),
        )

    return await ctx.responses.respond(
        ("procedure", code, parsed_scope.id, parsed_period),
        catalogs.version,
        parsed_scope.codes,
        compute,
    )


@router.get(
    "/scopes/{scope}/procedures",
    response_model=ProcedureRanking,
    summary="Thủ tục xếp theo số hồ sơ — a scope's procedures ranked by dossiers received",
)
async def scope_procedures(
    ctx: Ctx,
    _: Reader,
    scope: Annotated[str, PathParam(examples=["so-tttt"])],
    period: MonthsPeriodQ,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> Response:
    catalogs = await ctx.catalogs.current()
    parsed_period = _months(ctx, period)
    parsed_scope = ctx.scope(scope, catalogs, parsed_period)
    listed = [
        p.procedure_code
        for code in parsed_scope.codes
        for p in catalogs.procedures.of_agency(code, parsed_period.start, parsed_period.end)
    ]

    async def compute() -> ProcedureRanking:
        counts = await scope_counts(ctx.store, parsed_scope.codes, parsed_period)
        total, n, items = ranked(counts, catalogs.procedures, listed, limit)
        return ProcedureRanking(
            scope=parsed_scope.id,
            period=parsed_period.label,
            period_start=parsed_period.start.isoformat(),
            period_end=parsed_period.end.isoformat(),
            received=total,
            procedures=n,
            items=items,
        )

    return await ctx.responses.respond(
        ("procedures", parsed_scope.id, parsed_period, limit),
        catalogs.version,
        parsed_scope.codes,
        compute,
    )
