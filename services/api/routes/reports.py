"""Report routes: the annual appendix table, the roll-up scorecard, open dossiers now."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from services.api.context import Ctx, Reader
from services.api.errors import ERROR_RESPONSES, bad_parameter
from services.api.reports.annual_table import AnnualTable, annual_table
from services.api.reports.files import to_csv, to_xlsx
from services.api.reports.summary import LeadersSummary, leaders_summary
from services.api.routes.indicators import PeriodQ, ScopeQ, TargetSetQ
from shared.domain.calendar import LOCAL_TZ, now_utc, today_local
from shared.domain.exceptions import PeriodError
from shared.domain.periods import parse_period
from shared.readmodel.scorecard import Scorecard, scorecard

router = APIRouter(prefix="/v1", tags=["reports"], responses=ERROR_RESPONSES)


@router.get(
    "/reports/annual",
    response_model=AnnualTable,
    summary="Bảng tổng hợp năm theo mẫu phụ lục — the annual appendix table",
)
async def get_annual_table(
    ctx: Ctx,
    _: Reader,
    year: Annotated[int, Query(ge=2015, le=2100, examples=[2024])],
    target_set: TargetSetQ = None,
    indicator: Annotated[str, Query(examples=["full_online_rate"])] = "full_online_rate",
    period: Annotated[
        str | None, Query(description="any period instead of the year, e.g. 2024-Q4 or 2024-12")
    ] = None,
) -> AnnualTable:
    definition = ctx.indicator(indicator)
    if definition.source not in ("dossier",) or not definition.denominator == "received":
        raise bad_parameter(
            "indicator",
            "the appendix layout is defined for received-dossier ratios (e.g. full_online_rate)",
        )
    return await annual_table(
        ctx.store,
        await ctx.catalogs.current(),
        ctx.targets,
        definition,
        year,
        ctx.target_set(target_set),
        ctx.period(period) if period else None,
    )


FILE_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get(
    "/reports/annual.{fmt}",
    response_class=Response,
    responses={200: {"content": {t: {} for t in FILE_TYPES.values()}}},
    summary="Bảng phụ lục dạng CSV hoặc XLSX — the annual table as a file",
)
async def get_annual_file(
    ctx: Ctx,
    _: Reader,
    fmt: Annotated[Literal["csv", "xlsx"], Path()],
    year: Annotated[int, Query(ge=2015, le=2100, examples=[2024])],
    target_set: TargetSetQ = None,
    indicator: Annotated[str, Query(examples=["full_online_rate"])] = "full_online_rate",
    period: Annotated[str | None, Query(description="any period instead of the year")] = None,
) -> Response:
    table = await get_annual_table(ctx, _, year, target_set, indicator, period)
    body = to_csv(table) if fmt == "csv" else to_xlsx(table)
    name = f"phu-luc-{indicator}-{year}.{fmt}"
    return Response(
        body,
        media_type=FILE_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/reports/summary",
    response_model=LeadersSummary,
    summary="Tóm tắt một trang cho lãnh đạo — the leaders' monthly summary",
)
async def get_leaders_summary(
    ctx: Ctx,
    _: Reader,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2024-12"])],
    indicator: Annotated[str, Query(examples=["full_online_rate"])] = "full_online_rate",
    target_set: TargetSetQ = None,
) -> LeadersSummary:
    definition = ctx.indicator(indicator)
    catalogs = await ctx.catalogs.current()
    try:
        parsed = parse_period(month)  # validates the range too
    except PeriodError as exc:
        raise bad_parameter("month", str(exc)) from None
    year, mon = parsed.start.year, parsed.start.month
    return await leaders_summary(
        ctx.store,
        catalogs,
        ctx.targets,
        definition,
        ctx.scope("province", catalogs),
        year,
        mon,
        ctx.target_set(target_set),
    )


@router.get(
    "/scorecard",
    response_model=Scorecard,
    summary="Tỷ lệ cơ quan đạt mọi chỉ tiêu — share of agencies meeting every target",
)
async def get_scorecard(
    ctx: Ctx,
    _: Reader,
    scope: ScopeQ = "province",
    period: PeriodQ = "rolling:30d",
    target_set: TargetSetQ = None,
) -> Scorecard:
    catalogs = await ctx.catalogs.current()
    return await scorecard(
        ctx.store,
        catalogs,
        ctx.targets,
        list(ctx.indicators.values()),
        ctx.scope(scope, catalogs),
        ctx.period(period),
        ctx.target_set(target_set),
    )


class OpenDossiers(BaseModel):
    agency_code: str
    open: int
    overdue: int
    due_within_24h: int
    overdue_ids: list[str]


class OpenDossiersReport(BaseModel):
    scope: str
    as_of: datetime
    open: int
    overdue: int
    due_within_24h: int
    agencies: list[OpenDossiers]


@router.get(
    "/dossiers/open",
    response_model=OpenDossiersReport,
    summary="Hồ sơ đang xử lý, quá hạn, sắp đến hạn — open, overdue and due-soon dossiers",
)
async def open_dossiers(
    ctx: Ctx,
    _: Reader,
    scope: ScopeQ = "province",
    limit: Annotated[int, Query(ge=0, le=1000)] = 20,
) -> OpenDossiersReport:
    catalogs = await ctx.catalogs.current()
    parsed = ctx.scope(scope, catalogs, on=today_local())  # a "now" view: agencies valid now
    now = now_utc()
    codes = [a.agency_code for a in parsed.members]
    counts = await ctx.store.open_counts(codes, now)
    rows = []
    for code in codes:
        n_open, overdue, soon = counts[code]
        ids = await ctx.store.overdue_dossiers(code, now, limit) if overdue and limit else []
        rows.append(
            OpenDossiers(
                agency_code=code, open=n_open, overdue=overdue, due_within_24h=soon, overdue_ids=ids
            )
        )
    return OpenDossiersReport(
        scope=parsed.id,
        as_of=now.astimezone(LOCAL_TZ),
        open=sum(r.open for r in rows),
        overdue=sum(r.overdue for r in rows),
        due_within_24h=sum(r.due_within_24h for r in rows),
        agencies=rows,
    )
