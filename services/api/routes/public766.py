"""The public page of the Decision 766 index: no token, closed months only.

- ``GET /public/chi-so-766?month=YYYY-MM&view=thang|nam&scope=`` — the month (``thang``,
  default) or the year to its end (``nam``): the province, the two groups and every unit
  (total, band, the six groups, rank within its group, change since last month), and the
  metrics of ``scope`` (default the province) with numerator and denominator. The current
  or a future month, a month before the index, an unknown view or scope: 404 with a link
  to the latest published month.
- ``GET /public/chi-so-766/embed?…`` — the same without the site header, for the
  provincial portal's ``<iframe>`` (``frame-ancestors`` from
  ``EGOV_PUBLIC_FRAME_ANCESTORS``, as the indicators' embed).
- ``GET /public/chi-so-766.csv?month=&view=`` — every scope of the page, its groups and
  every metric's counts and points (UTF-8 with BOM).

Plain HTML and CSS (no JavaScript), phone layout from the site's stylesheet; cached until
a figure behind it changes, with an ``ETag`` (after a write, a digest of the period's
inputs computed in Redis says whether the page must be read and rendered again). The
project's own indicators stay at ``/public/ket-qua``, linked from the page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.api.context import ApiContext, Ctx
from services.api.exceptions import MonthNotClosed
from services.api.public.index766_page import (
    AGGREGATES_766,
    Page766,
    View,
    cache_codes,
    page_fingerprint,
    read_page,
    table_of,
    view_period,
)
from services.api.public.results import closed_month, closed_months, latest_closed_month
from services.api.public.sparkline import sparkline
from services.api.reports.files import CellValue, csv_cells
from services.api.response_cache import ResponseCache
from services.api.templating import markup, page_headers, render
from shared.domain.index766 import load_index766
from shared.domain.periods import Period
from shared.readmodel.display import score

router = APIRouter(tags=["public"], include_in_schema=False)

PAGE = "/public/chi-so-766"
EMBED = "/public/chi-so-766/embed"
CSV = "/public/chi-so-766.csv"
INDICATORS_PAGE = "/public/ket-qua"
HTML = "text/html; charset=utf-8"

MonthQ = Annotated[str | None, Query(description="YYYY-MM of a closed month")]
ViewQ = Annotated[str | None, Query(description="thang (the month) or nam (year to date)")]
ScopeQ = Annotated[str | None, Query(description="the scope whose metrics are shown")]


def page_url(
    month: str, view: str = View.month.value, scope: str | None = None, base: str = PAGE
) -> str:
    params = {"month": month, "view": view}
    if scope:
        params["scope"] = scope
    return f"{base}?{urlencode(params)}"


def _missing(message: str) -> Response:
    latest = latest_closed_month().label
    body = render(
        "public_missing.html",
        heading="Chưa công bố",
        message=message,
        latest=latest,
        latest_url=page_url(latest),
    )
    return Response(body, status_code=404, media_type=HTML, headers=page_headers())


def _parse(month: str | None, view: str | None) -> tuple[Period, View] | str:
    """The closed month and view, or why nothing is published for them."""
    try:
        period = closed_month(month)
    except MonthNotClosed:
        return (
            f"Kết quả của tháng “{month}” chưa được công bố: chỉ công bố các tháng đã kết thúc "
            "(tháng hiện tại đang được tính)."
        )
    try:
        chosen = View(view or View.month.value)
    except ValueError:
        return f"Không có cách xem “{view}”: chọn theo tháng (thang) hoặc lũy kế năm (nam)."
    if table_of(view_period(period, chosen)) is None:
        first = load_index766().tables[0].valid_from
        return f"Chỉ số theo Quyết định 766 được tính từ {first:%d/%m/%Y}."
    return period, chosen


async def _body(
    request: Request,
    ctx: ApiContext,
    kind: str,
    month: str | None,
    view: str | None,
    scope: str | None,
    make: Callable[[Page766], bytes],
    media_type: str,
    headers: dict[str, str],
) -> Response:
    parsed = _parse(month, view)
    if isinstance(parsed, str):
        return _missing(parsed)
    period, chosen = parsed
    catalogs = await ctx.catalogs.current()
    detail = scope or AGGREGATES_766[0]
    key = (kind, period.label, chosen.value, detail, latest_closed_month().label)
    codes = cache_codes(catalogs, period, chosen)
    full_key = await ctx.responses.full_key(key, catalogs.version, codes)
    etag = ResponseCache.etag(full_key)
    all_headers = {**headers, "ETag": etag, "Cache-Control": "public, no-cache"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=all_headers)

    async def fingerprint() -> bytes:
        return await page_fingerprint(ctx.store, catalogs, period, chosen)

    async def read() -> Page766 | None:
        return await read_page(ctx.store, catalogs, period, chosen, detail)

    def render_page(page: Page766 | None) -> bytes:  # run off the event loop
        if page is None or page.detail.scope != detail:
            return b""
        return make(page)

    # after a write anywhere, the digest of the period's inputs says whether this closed
    # period's page must be read and rendered again
    body, _ = await ctx.responses.staged_body(
        key, catalogs.version, codes, fingerprint, read, render_page, full_key=full_key
    )
    if not body:
        return _missing(f"Không có đơn vị “{detail}” trong kỳ này.")
    return Response(body, media_type=media_type, headers=all_headers)


def _html(page: Page766, embed: bool) -> bytes:
    month = page.month.label
    view = page.view.value
    base = EMBED if embed else PAGE
    return render(
        "public766.html",
        p=page,
        embed=embed,
        embed_path=page_url(month, view, base=EMBED),
        months=closed_months(),
        form_action=base,
        views=[(View.month.value, "Trong tháng"), (View.year.value, "Lũy kế năm")],
        csv_url=page_url(month, view, base=CSV),
        indicators_url=f"{INDICATORS_PAGE}?{urlencode({'month': month})}",
        trend_data=lambda row: [[t.period, t.value] for t in row.trend],
        spark=lambda row: markup(sparkline(row.trend, label=f"{row.name}: ", fmt=score)),
        scope_url=lambda s: page_url(month, view, s, base) + "#chi-tiet",
        view_url=lambda v: page_url(month, v, page.detail.scope, base),
    ).encode()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _csv(page: Page766) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    first = page.overview[0].value
    header = ["Kỳ", "Mã đơn vị", "Đơn vị", "Hạng trong khối", "Tổng điểm", "Xếp loại"]
    header += [f"{g.group} ({g.name})" for g in first.groups]
    for m in first.metrics:
        header += [f"{m.metric} tử số", f"{m.metric} mẫu số", f"{m.metric} điểm"]
    header += ["Tổng điểm tháng trước", "Thay đổi"]
    writer.writerow(header)
    for row in page.rows:
        v = row.value
        cells: list[CellValue] = [
            page.period.label,
            row.scope,
            row.name,
            "" if row.rank is None else row.rank,
            _number(v.total),
            v.band,
        ]
        cells += [_number(g.points) for g in v.groups]
        for m in v.metrics:
            cells += [m.numerator, m.denominator, _number(m.points)]
        cells += [_number(row.previous.total if row.previous else None), _number(row.change)]
        writer.writerow(csv_cells(cells))
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


@router.get(PAGE)
async def index766_page(
    request: Request, ctx: Ctx, month: MonthQ = None, view: ViewQ = None, scope: ScopeQ = None
) -> Response:
    return await _body(
        request,
        ctx,
        "public766-page",
        month,
        view,
        scope,
        lambda p: _html(p, embed=False),
        HTML,
        page_headers(),
    )


@router.get(EMBED)
async def index766_embed(
    request: Request, ctx: Ctx, month: MonthQ = None, view: ViewQ = None, scope: ScopeQ = None
) -> Response:
    return await _body(
        request,
        ctx,
        "public766-embed",
        month,
        view,
        scope,
        lambda p: _html(p, embed=True),
        HTML,
        page_headers(ctx.settings.public_frame_ancestors),
    )


@router.get(CSV)
async def index766_csv(
    request: Request, ctx: Ctx, month: MonthQ = None, view: ViewQ = None
) -> Response:
    label = month or latest_closed_month().label
    name = f"chi-so-766-{view or View.month.value}-{label}.csv"
    return await _body(
        request,
        ctx,
        "public766-csv",
        month,
        view,
        None,
        _csv,
        "text/csv; charset=utf-8",
        {"Content-Disposition": f'attachment; filename="{name}"'},
    )
