"""Report routes: the annual appendix table, the roll-up scorecard, open dossiers now (and
the orphaned ones of ended units)."""

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from services.api.context import Ctx, Reader
from services.api.errors import ERROR_RESPONSES, bad_parameter
from services.api.reports.annual_table import AnnualTable, annual_table
from services.api.reports.files import to_csv, to_xlsx
from services.api.reports.summary import LeadersSummary, leaders_summary
from services.api.routes.indicators import PeriodQ, ScopeQ, TargetSetQ
from shared.domain.calendar import LOCAL_TZ, local_date, now_utc, today_local
from shared.domain.exceptions import PeriodError
from shared.domain.periods import parse_period
from shared.readmodel.open_holders import ended_by, held_open, open_list, overdue_ids
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


class DueDossier(BaseModel):
    dossier_id: str
    due_at: datetime | None = Field(description="due time in force (local); null: clock stopped")
    overdue: bool


class MovedDossiers(BaseModel):
    """The open dossiers of an ended unit, read under the unit that continues it (§4b)."""

    from_agency_code: str
    from_name: str
    marker: str = Field(examples=["chuyển từ Sở Tài nguyên và Môi trường"])
    moved_on: date | None = Field(description="the start of the holder's validity")
    open: int
    overdue: int
    due_within_24h: int
    dossiers: list[DueDossier] = Field(description="earliest due first, at most `limit`")


class OpenDossiers(BaseModel):
    agency_code: str
    open: int
    overdue: int
    due_within_24h: int
    overdue_ids: list[str]
    moved_in: list[MovedDossiers] = Field(
        default_factory=list,
        description="open dossiers of ended predecessors, counted in the figures above",
    )
    held_by: str | None = Field(
        None,
        description="an ended unit asked for by code: the unit that now holds and counts its "
        "open dossiers (listed here as they stand, counted only there)",
    )
    orphaned: bool = Field(
        False, description="an ended unit no unit continues: its open dossiers are orphaned"
    )


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
    """Every unit valid today; an ended unit's still-open dossiers are counted and listed
    under the unit that continues it (``moved_in``, "chuyển từ <unit>"), or on
    ``/v1/dossiers/orphaned`` when none does (domain README §4b)."""
    catalogs = await ctx.catalogs.current()
    parsed = ctx.scope(scope, catalogs, on=today_local())  # a "now" view: agencies valid now
    now = now_utc()
    codes = [a.agency_code for a in parsed.members]
    held = await held_open(ctx.store, catalogs.agencies, now, codes)
    rows = []
    for code in codes:
        h = held[code]
        # a unit valid today holds its own and its predecessors'; an ended unit (only when
        # asked for by code) shows its own, pointing to the unit that counts them
        own_only = h.moved_to is not None
        total = h.own if own_only else h.total
        ids: list[str] = []
        if total.overdue and limit:
            ids = await (
                ctx.store.overdue_dossiers(code, now, limit)
                if own_only
                else overdue_ids(ctx.store, h, now, limit)
            )
        moved = [
            MovedDossiers(
                from_agency_code=m.source.agency_code,
                from_name=m.source.name,
                marker=m.marker,
                moved_on=m.on,
                open=m.counts.open,
                overdue=m.counts.overdue,
                due_within_24h=m.counts.due_soon,
                dossiers=[
                    DueDossier(**asdict(d))
                    for d in await open_list(ctx.store, m.source.agency_code, now, limit)
                ],
            )
            for m in h.moved_in
            if m.counts.open
        ]
        rows.append(
            OpenDossiers(
                agency_code=code,
                open=total.open,
                overdue=total.overdue,
                due_within_24h=total.due_soon,
                overdue_ids=ids,
                moved_in=moved,
                held_by=h.moved_to.agency_code if h.moved_to is not None else None,
                orphaned=h.orphaned and h.own.open > 0,
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


class OrphanedDossiers(BaseModel):
    """An ended unit's open dossiers that no unit continues (§4b)."""

    agency_code: str
    name: str
    valid_to: date | None
    successor_code: str | None = Field(
        description="null: no successor; else its chain has no unit valid today yet"
    )
    open: int
    overdue: int
    due_within_24h: int
    dossiers: list[DueDossier] = Field(description="earliest due first, at most `limit`")


class OrphanedDossiersReport(BaseModel):
    as_of: datetime
    open: int
    overdue: int
    agencies: list[OrphanedDossiers]


@router.get(
    "/dossiers/orphaned",
    response_model=OrphanedDossiersReport,
    summary="Hồ sơ mồ côi — open dossiers of ended units that no unit continues",
)
async def orphaned_dossiers(
    ctx: Ctx,
    _: Reader,
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
) -> OrphanedDossiersReport:
    """The units whose ``valid_to`` has passed with dossiers still open and no successor
    valid today (the old districts, Sở Ngoại vụ): their dossier ids (as the emitting
    systems send them) and due times, the most overdue unit first."""
    catalogs = await ctx.catalogs.current()
    now = now_utc()
    day = local_date(now)
    ended = [a.agency_code for a in catalogs.agencies.agencies.values() if ended_by(a, day)]
    held = await held_open(ctx.store, catalogs.agencies, now, ended)
    rows = [
        OrphanedDossiers(
            agency_code=h.agency.agency_code,
            name=h.agency.name,
            valid_to=h.agency.valid_to,
            successor_code=h.agency.successor_code,
            open=h.own.open,
            overdue=h.own.overdue,
            due_within_24h=h.own.due_soon,
            dossiers=[
                DueDossier(**asdict(d))
                for d in await open_list(ctx.store, h.agency.agency_code, now, limit)
            ],
        )
        for h in held.values()
        if h.orphaned and h.own.open
    ]
    rows.sort(key=lambda r: (-r.overdue, -r.open, r.agency_code))
    return OrphanedDossiersReport(
        as_of=now.astimezone(LOCAL_TZ),
        open=sum(r.open for r in rows),
        overdue=sum(r.overdue for r in rows),
        agencies=rows,
    )
