"""Catalog routes: read agencies and procedures; replace them (admin) without restarts.

A reorganisation is loaded as data (§4a.6): ``PUT /v1/catalog/agencies`` with the whole
catalog, merged or abolished agencies ended with ``valid_to`` (and ``successor_code``), new
ones starting with ``valid_from``. The file is checked as a whole (400 listing every
problem with its line); a file that drops a code which has figures is refused (409).
"""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ValidationError

from services.api.context import Admin, Ctx, Reader
from services.api.errors import ERROR_RESPONSES, ApiError, ApiException
from shared.contract.events import ServiceLevel
from shared.domain.calendar import today_local
from shared.domain.catalog import Agency, AgencyCatalog, parse_agencies_csv
from shared.domain.exceptions import CatalogFileError
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.store.exceptions import DroppedAgenciesError

router = APIRouter(prefix="/v1", tags=["catalog"], responses=ERROR_RESPONSES)

MAX_CATALOG_BYTES = 20 * 1024 * 1024


class CatalogReplaced(BaseModel):
    catalog: str
    rows: int
    version: int


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


def _invalid(exc: ValidationError, text: str) -> ApiException:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "body"
    return ApiException(
        400,
        "invalid_catalog",
        field,
        f"{field}: {err['msg']}",
        f"Danh mục không hợp lệ ở trường '{field}'",
    )


@router.put(
    "/catalog/procedures",
    response_model=CatalogReplaced,
    summary="Thay danh mục TTHC (quản trị) — replace the procedure catalog (admin)",
)
async def replace_procedures(ctx: Ctx, _: Admin, request: Request) -> CatalogReplaced:
    text = await _csv_body(request)
    try:
        catalog = ProcedureCatalog.from_csv_text(text)
    except ValidationError as exc:
        raise _invalid(exc, text) from None
    rows = await ctx.catalogs.store.replace_procedures(catalog.procedures.values())
    return CatalogReplaced(
        catalog="procedures", rows=rows, version=await ctx.catalogs.store.version()
    )


@router.put(
    "/catalog/agencies",
    response_model=CatalogReplaced,
    responses={409: {"model": ApiError, "description": "The file drops codes that have figures"}},
    summary="Thay danh mục cơ quan (quản trị) — replace the agency catalog (admin)",
)
async def replace_agencies(ctx: Ctx, _: Admin, request: Request) -> CatalogReplaced:
    """The whole catalog as CSV: agency_code,name,group,level,parent_code,valid_from,
    valid_to,successor_code,source (dates YYYY-MM-DD inclusive, empty = open-ended;
    ``#`` lines are comments)."""
    text = await _csv_body(request)
    try:
        catalog: AgencyCatalog = parse_agencies_csv(text)
    except CatalogFileError as exc:
        raise ApiException(
            400,
            "invalid_catalog",
            "body",
            "; ".join(exc.errors),
            "Danh mục cơ quan không hợp lệ: " + "; ".join(exc.errors),
        ) from None
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
    return CatalogReplaced(
        catalog="agencies", rows=rows, version=await ctx.catalogs.store.version()
    )
