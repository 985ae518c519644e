"""Reconciliation of the Decision 766 index with the national portal (domain README §8).

- ``PUT /v1/index766/portal/{period}`` (admin): the portal's export of a month, quarter or
  year — XLSX or CSV, the file itself as the body — checked as a whole (400 naming the
  missing columns, or every bad cell by line and column) and stored, replacing an earlier
  import of the period; codes not in the catalog in force are listed, never guessed.
- ``GET /v1/index766/portal`` — the periods imported.
- ``GET /v1/index766/portal/{period}?threshold=`` — per unit and group egov-monitor's score,
  the portal's and the difference, by the largest difference; units more than
  ``EGOV_INDEX766_RECON_THRESHOLD`` points apart flagged; unknown codes; units missing.
- ``GET /board/doi-chieu-766?period=`` — the same for analysts, in Vietnamese, behind the
  board's sign-in (read token).
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.api.context import Admin, ApiContext, Ctx, Reader
from services.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiError, ApiException, bad_parameter
from services.api.routes.board import HTML, board_headers, signed_in
from services.api.routes.index766 import index_period
from services.api.templating import render
from shared.domain.exceptions import PeriodError, PortalFileError
from shared.readmodel.portal766 import (
    ImportOutcome,
    PortalReconciliation,
    import_export,
    reconcile,
)
from shared.store.portal766 import ImportedExport, PortalExports

router = APIRouter(prefix="/v1/index766/portal", tags=["index766"], responses=ERROR_RESPONSES)
page_router = APIRouter(prefix="/board", tags=["board"], include_in_schema=False)

PeriodP = Annotated[
    str, Path(description="YYYY-MM (or YYYY-Qn, YYYY) of the export", examples=["2026-10"])
]
ThresholdQ = Annotated[
    float | None,
    Query(
        ge=0,
        le=100,
        description="points apart above which a unit is flagged; default "
        "EGOV_INDEX766_RECON_THRESHOLD (1)",
    ),
]


def _refused(exc: PortalFileError) -> ApiException:
    errors = "; ".join(exc.errors)
    if exc.missing_columns:
        missing = ", ".join(exc.missing_columns)
        return ApiException(
            400,
            "missing_columns",
            missing,
            errors,
            f"Tệp xuất của Cổng DVCQG thiếu cột: {missing}",
        )
    return ApiException(
        400,
        "invalid_portal_export",
        "body",
        errors,
        "Tệp xuất của Cổng DVCQG không hợp lệ: " + errors,
    )


@router.put(
    "/{period}",
    response_model=ImportOutcome,
    summary="Nhập điểm QĐ 766 của Cổng DVCQG (quản trị) — import the portal's export (admin)",
)
async def import_portal_export(
    ctx: Ctx, who: Admin, request: Request, period: PeriodP
) -> ImportOutcome:
    """The body is the export file (XLSX or CSV, UTF-8): a header row with MA_COQUAN, TEN,
    TDGQ, MDHL, MDSH, TTTT, CLGQ, CKMB, TONG_SCORE (other columns ignored), one row per
    unit. Scores within 0..the group's maximum (TDGQ 20, MDHL 18, MDSH 22, TTTT 10, CLGQ
    12, CKMB 18; TONG_SCORE 100). Re-importing a period replaces its figures."""
    parsed = ctx.period(period)
    data = await request.body()
    if not data.strip():
        raise ApiException(
            400, "invalid_body", "body", "the body must be the export file", "Thiếu tệp xuất"
        )
    catalogs = await ctx.catalogs.current()
    try:
        return await import_export(
            ctx.redis, catalogs, parsed, data, imported_by=who, now_s=time.time()
        )
    except PeriodError as exc:
        raise bad_parameter("period", str(exc)) from None
    except PortalFileError as exc:
        raise _refused(exc) from None


@router.get(
    "",
    response_model=list[ImportedExport],
    summary="Các kỳ đã nhập từ Cổng DVCQG — the portal exports imported",
)
async def list_portal_exports(ctx: Ctx, _: Reader) -> list[ImportedExport]:
    return await PortalExports(ctx.redis).imported()


async def reconciliation_of(
    ctx: ApiContext, period: str, threshold: float | None
) -> PortalReconciliation | None:
    """None: no export imported for the period."""
    ev, table = index_period(ctx, period)
    stored = await PortalExports(ctx.redis).get(ev.period.label)
    if stored is None:
        return None
    chosen = ctx.settings.index766_recon_threshold if threshold is None else threshold
    catalogs = await ctx.catalogs.current()
    return await reconcile(ctx.store, catalogs, stored, ev, table, Decimal(str(chosen)))


@router.get(
    "/{period}",
    response_model=PortalReconciliation,
    responses={**NOT_FOUND, 404: {"model": ApiError, "description": "No export imported"}},
    summary="Đối chiếu QĐ 766 với Cổng DVCQG — egov-monitor's scores beside the portal's",
)
async def get_portal_reconciliation(
    ctx: Ctx, _: Reader, period: PeriodP, threshold: ThresholdQ = None
) -> PortalReconciliation:
    found = await reconciliation_of(ctx, period, threshold)
    if found is None:
        raise ApiException(
            404,
            "not_imported",
            "period",
            f"no portal export imported for {period}",
            f"Chưa nhập tệp xuất của Cổng DVCQG cho kỳ {period}",
        )
    return found


@page_router.get("/doi-chieu-766")
async def reconciliation_page(
    request: Request, ctx: Ctx, period: str | None = None, threshold: ThresholdQ = None
) -> Response:
    if not await signed_in(request, ctx):
        return RedirectResponse(
            "/board/login", status_code=303, headers={"Cache-Control": "no-store"}
        )
    imported = await PortalExports(ctx.redis).imported()
    chosen = period or (imported[0].period if imported else None)
    found, error = None, None
    if chosen is not None:
        try:
            found = await reconciliation_of(ctx, chosen, threshold)
        except ApiException as exc:
            error = exc.body.message_vi
    body = render(
        "board_portal766.html",
        imported=imported,
        period=chosen,
        r=found,
        error=error,
    )
    status = 400 if error else 200
    return Response(body, status_code=status, media_type=HTML, headers=board_headers())
