"""PDF reports: the annual appendix table and the leaders' monthly summary, rendered from
the very objects ``GET /v1/reports/annual`` and ``GET /v1/reports/summary`` return
(``services/api/reports/pdf.py``). Registered before the reports router, whose
``/reports/annual.{fmt}`` would otherwise take ``.pdf`` for a format it does not know."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.api.context import Ctx, Reader
from services.api.errors import ERROR_RESPONSES
from services.api.reports.pdf import annual_pdf, summary_pdf
from services.api.routes import reports as report_routes
from services.api.routes.indicators import TargetSetQ

router = APIRouter(prefix="/v1", tags=["reports"], responses=ERROR_RESPONSES)

PDF = "application/pdf"
PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF: {}}, "description": "PDF document"}
}


def _pdf(body: bytes, name: str) -> Response:
    return Response(
        body, media_type=PDF, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/reports/annual.pdf",
    response_class=Response,
    responses=PDF_RESPONSE,
    summary="Bảng phụ lục dạng PDF (A4 ngang, in vừa một trang ngang) — the annual table as PDF",
)
async def get_annual_pdf(
    ctx: Ctx,
    who: Reader,
    year: Annotated[int, Query(ge=2015, le=2100, examples=[2024])],
    target_set: TargetSetQ = None,
    indicator: Annotated[str, Query(examples=["full_online_rate"])] = "full_online_rate",
    period: Annotated[str | None, Query(description="any period instead of the year")] = None,
) -> Response:
    table = await report_routes.get_annual_table(ctx, who, year, target_set, indicator, period)
    body = await asyncio.to_thread(annual_pdf, table)
    return _pdf(body, f"phu-luc-{indicator}-{table.period}.pdf")


@router.get(
    "/reports/summary.pdf",
    response_class=Response,
    responses=PDF_RESPONSE,
    summary="Tóm tắt một trang cho lãnh đạo dạng PDF — the leaders' monthly summary as PDF",
)
async def get_summary_pdf(
    ctx: Ctx,
    who: Reader,
    month: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2024-12"])],
    indicator: Annotated[str, Query(examples=["full_online_rate"])] = "full_online_rate",
    target_set: TargetSetQ = None,
) -> Response:
    summary = await report_routes.get_leaders_summary(ctx, who, month, indicator, target_set)
    body = await asyncio.to_thread(summary_pdf, summary)
    return _pdf(body, f"tom-tat-{indicator}-{month}.pdf")
