"""Catalog routes: read agencies and procedures; replace them (admin) without restarts;
the history of replacements.

A reorganisation is loaded as data (§4a.6): ``PUT /v1/catalog/agencies`` with the whole
catalog, merged or abolished agencies ended with ``valid_to`` (and ``successor_code``), new
ones starting with ``valid_from``. The file is checked as a whole (400 listing every
problem with its line); a file that drops a code which has figures is refused (409). The
procedure catalog the same way (``PUT /v1/catalog/procedures``): a procedure counted in
figures is ended with ``valid_to``, never dropped (409 naming the codes).
``GET /v1/catalog/history`` lists every replacement from the catalog topic.
"""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from pydantic import BaseModel, Field

from services.api.context import Admin, ApiContext, Ctx, Reader
from services.api.errors import ERROR_RESPONSES, ApiError, ApiException
from shared.contract.events import ServiceLevel
from shared.domain.calendar import today_local
from shared.domain.catalog import Agency, AgencyCatalog, parse_agencies_csv
from shared.domain.exceptions import CatalogFileError
from shared.domain.procedures import Procedure, ProcedureCatalog, parse_procedures_csv
from shared.platform.logs import get_logger
from shared.store.catalog_log import CatalogChange
from shared.store.exceptions import (
    CatalogHistoryUnavailable,
    DroppedAgenciesError,
    DroppedProceduresError,
)
from shared.store.relink import changed_units, relink_units

router = APIRouter(prefix="/v1", tags=["catalog"], responses=ERROR_RESPONSES)
log = get_logger("api.catalog")

MAX_CATALOG_BYTES = 20 * 1024 * 1024


class CatalogReplaced(BaseModel):
    catalog: str
    rows: int
    version: int
    relinking: list[str] = Field(
        default_factory=list,
        description="units whose predecessors changed (a successor_code added or changed): "
        "their dossiers already counted are linked to the units they continue, in the "
        "background, a few seconds after the answer (`egov relink` does the same)",
    )


ValidOnQ = Annotated[
    date | None,
    Query(description="Only those valid on this day (YYYY-MM-DD)", examples=["2025-07-01"]),
]


@router.get("/agencies", response_model=list[Agency], summary="Danh mục cơ quan — agencies")
async def list_agencies(ctx: Ctx, _: Reader, valid_on: ValidOnQ = None) -> list[Agency]:
    catalog = (await ctx.catalogs.current()).agencies
    if valid_on is not None:
        return catalog.valid_on(valid_on)
    return list(catalog.agencies.values())


class AgencyNode(BaseModel):
    agency: Agency
    children: list["AgencyNode"] = []


class AgencyGroupNode(BaseModel):
    group: str
    levels: dict[str, list[AgencyNode]]


@router.get(
    "/agencies/tree",
    response_model=list[AgencyGroupNode],
    summary="Cây cơ quan theo khối, cấp và đơn vị cấp trên — agencies as a tree",
)
async def agency_tree(
    ctx: Ctx,
    _: Reader,
    on: Annotated[
        date | None,
        Query(description="The tree as it stands on this day; default today"),
    ] = None,
) -> list[AgencyGroupNode]:
    """The agencies valid on the day, each under its parent in force that day (a commune
    whose district has ended hangs directly under the province)."""
    day = on or today_local()
    catalog = (await ctx.catalogs.current()).agencies
    agencies = catalog.valid_on(day)
    nodes = {a.agency_code: AgencyNode(agency=a) for a in agencies}
    roots: list[AgencyNode] = []
    for a in agencies:
        in_force = catalog.parent_on(a.agency_code, day)
        parent = nodes.get(in_force.agency_code) if in_force else None
        (parent.children if parent else roots).append(nodes[a.agency_code])
    groups: dict[str, dict[str, list[AgencyNode]]] = {}
    for node in roots:
        level = groups.setdefault(node.agency.group.value, {})
        level.setdefault(node.agency.level.value, []).append(node)
    return [AgencyGroupNode(group=g, levels=lv) for g, lv in groups.items()]


@router.get(
    "/procedures",
    response_model=list[Procedure],
    summary="Danh mục thủ tục hành chính — procedures",
)
async def list_procedures(
    ctx: Ctx,
    _: Reader,
    agency: Annotated[str | None, Query(examples=["so-tttt"])] = None,
    service_level: ServiceLevel | None = None,
    eligible_full_online: bool | None = None,
    fee_required: bool | None = None,
    citizen_data_connected: bool | None = None,
    certified_copy: bool | None = None,
    valid_on: ValidOnQ = None,
) -> list[Procedure]:
    catalog = (await ctx.catalogs.current()).procedures
    procs = catalog.of_agency(agency) if agency is not None else list(catalog.procedures.values())
    return [
        p
        for p in procs
        if (valid_on is None or p.valid_between(valid_on, valid_on))
        and (service_level is None or p.service_level is service_level)
        and (eligible_full_online is None or p.eligible_full_online is eligible_full_online)
        and (fee_required is None or p.fee_required is fee_required)
        and (citizen_data_connected is None or p.citizen_data_connected is citizen_data_connected)
        and (certified_copy is None or p.certified_copy is certified_copy)
    ]


async def _csv_body(request: Request) -> str:
    body = await request.body()
    if len(body) > MAX_CATALOG_BYTES:
        raise ApiException(
            413, "body_too_large", "body", "catalog file too large", "Tệp danh mục quá lớn"
        )
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiException(
            400, "invalid_body", "body", "catalog must be UTF-8 CSV", "Danh mục phải là CSV UTF-8"
        ) from None


def _invalid(exc: CatalogFileError, label_vi: str) -> ApiException:
    """400 ``invalid_catalog``: every error of the file, with its line."""
    errors = "; ".join(exc.errors)
    return ApiException(400, "invalid_catalog", "body", errors, label_vi + errors)


@router.put(
    "/catalog/procedures",
    response_model=CatalogReplaced,
    responses={
        409: {"model": ApiError, "description": "The file drops procedures counted in figures"}
    },
    summary="Thay danh mục TTHC (quản trị) — replace the procedure catalog (admin)",
)
async def replace_procedures(ctx: Ctx, _: Admin, request: Request) -> CatalogReplaced:
    """The whole catalog as CSV: procedure_code,agency_code,name,service_level,
    eligible_full_online,fee_required (required), citizen_data_connected,certified_copy
    (booleans, default false), valid_from,valid_to (YYYY-MM-DD inclusive, empty =
    open-ended); one row per code, ``#`` lines are comments. A procedure counted in figures
    (its agency has dossiers counted in a year it was valid) is ended with valid_to: a file
    that drops it is refused (409 naming the codes)."""
    text = await _csv_body(request)
    try:
        catalog: ProcedureCatalog = parse_procedures_csv(text)
    except CatalogFileError as exc:
        raise _invalid(exc, "Danh mục TTHC không hợp lệ: ") from None
    try:
        rows = await ctx.catalogs.store.replace_procedures(catalog.procedures.values())
    except DroppedProceduresError as exc:
        raise ApiException(
            409,
            "procedures_dropped",
            "procedure_code",
            str(exc),
            f"Danh mục mới bỏ thủ tục đã có số liệu: {', '.join(exc.codes)}; hãy kết thúc "
            "bằng valid_to thay vì xóa",
        ) from None
    return CatalogReplaced(
        catalog="procedures", rows=rows, version=await ctx.catalogs.store.version()
    )


@router.put(
    "/catalog/agencies",
    response_model=CatalogReplaced,
    responses={409: {"model": ApiError, "description": "The file drops codes that have figures"}},
    summary="Thay danh mục cơ quan (quản trị) — replace the agency catalog (admin)",
)
async def replace_agencies(
    ctx: Ctx, _: Admin, request: Request, background: BackgroundTasks
) -> CatalogReplaced:
    """The whole catalog as CSV: agency_code,name,group,level,parent_code,valid_from,
    valid_to,successor_code,source (dates YYYY-MM-DD inclusive, empty = open-ended;
    ``#`` lines are comments)."""
    text = await _csv_body(request)
    try:
        catalog: AgencyCatalog = parse_agencies_csv(text)
    except CatalogFileError as exc:
        raise _invalid(exc, "Danh mục cơ quan không hợp lệ: ") from None
    before = (await ctx.catalogs.store.load()).agencies  # not through the cache: kept fresh
    try:
        rows = await ctx.catalogs.store.replace_agencies(catalog.agencies.values())
    except DroppedAgenciesError as exc:
        raise ApiException(
            409,
            "agencies_dropped",
            "agency_code",
            str(exc),
            f"Danh mục mới bỏ mã cơ quan đã có số liệu: {', '.join(exc.codes)}; hãy kết thúc "
            "bằng valid_to (và successor_code) thay vì xóa",
        ) from None
    units = changed_units(before, catalog)
    if units:
        background.add_task(_relink, ctx, catalog, units)
    return CatalogReplaced(
        catalog="agencies",
        rows=rows,
        version=await ctx.catalogs.store.version(),
        relinking=units,
    )


async def _relink(ctx: ApiContext, catalog: AgencyCatalog, units: list[str]) -> None:
    report = await relink_units(ctx.redis, units, catalog=catalog)
    log.info(
        "relinked",
        units=report.units,
        records=report.records,
        written=report.written,
    )


class CatalogHistoryBody(BaseModel):
    topic: str
    replacements: list[CatalogChange]


@router.get(
    "/catalog/history",
    response_model=CatalogHistoryBody,
    responses={503: {"model": ApiError, "description": "The catalog topic cannot be read"}},
    summary="Lịch sử thay danh mục — catalog replacements, from the catalog topic",
)
async def catalog_history(
    ctx: Ctx,
    _: Reader,
    kind: Annotated[
        Literal["agencies", "procedures"] | None, Query(description="Only this catalog")
    ] = None,
) -> CatalogHistoryBody:
    """Every replacement of the agency and procedure catalogs, oldest first, as the catalog
    topic holds them (``egov.catalog.v1``): when, which catalog, how many rows, and against
    the previous catalog of the same kind how many codes were added, ended (given a
    ``valid_to``) and removed."""
    history = ctx.catalog_history
    if history is None:
        raise ApiException(
            503,
            "catalog_log_unavailable",
            None,
            "the catalog log is off (EGOV_CATALOG_LOG_ENABLED=false): no history",
            "Nhật ký danh mục đang tắt: không có lịch sử thay danh mục",
        )
    try:
        changes = await history.changes()
    except CatalogHistoryUnavailable as exc:
        raise ApiException(
            503,
            "catalog_log_unavailable",
            None,
            str(exc),
            "Không đọc được nhật ký danh mục (Kafka); vui lòng thử lại sau",
            headers={"Retry-After": "5"},
        ) from None
    return CatalogHistoryBody(
        topic=history.topic,
        replacements=[c for c in changes if kind is None or c.kind == kind],
    )
