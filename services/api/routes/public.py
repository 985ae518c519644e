"""The public results page: no token, closed months only, aggregated figures only.

- ``GET /public/ket-qua?month=YYYY-MM&indicator=&group=&q=&sort=`` — the page (default: the
  latest closed month and ``full_online_rate``); the current or a future month answers 404
  with a link to the latest published month. ``group`` (``so_nganh`` / ``dia_phuong``),
  ``q`` (a name or code) and ``sort`` (``value``, ``name``, ``verdict``, ``change``) choose
  how the units are shown (``services/api/public/view.py``): every view is a link.
- ``GET /public/ket-qua/embed?…`` — the same results without the site header, for the
  provincial portal's ``<iframe>``: ``Content-Security-Policy: frame-ancestors`` from
  ``EGOV_PUBLIC_FRAME_ANCESTORS`` (the full page may not be framed at all).
- ``GET /public/ket-qua.csv?…`` — the figures on the page (UTF-8 with BOM).

Responses are cached until the figures change (``ResponseCache`` keyed by the catalog
version and the data version of every agency they sum; after a write, a digest of the
page's buckets, computed in Redis, says whether it must be read and rendered again) and
carry an ``ETag`` of that key and the view, so the portal and browsers revalidate with
``If-None-Match`` and get 304 while nothing changed. A page's figures are read once for all
its views (``ResultsCache``); a view with a search text is rendered from them and not
kept (a search never evicts a page). Pages are server-rendered HTML and CSS, complete
without JavaScript; a small script (``static/units.js``) only switches group, searches and
sorts in place.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Hashable
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from services.api.context import ApiContext, Ctx
from services.api.exceptions import MonthNotClosed
from services.api.public.results import (
    AGGREGATES,
    SORTS,
    PublicResults,
    ResultsCache,
    Shown,
    build_results,
    closed_month,
    closed_months,
    latest_closed_month,
    page_cache_keys,
    page_fingerprint,
    read_page,
)
from services.api.public.sparkline import sparkline
from services.api.public.view import MAX_QUERY, PageView
from services.api.reports.files import csv_cells
from services.api.response_cache import ResponseCache
from services.api.templating import markup, page_headers, render
from shared.domain.catalog import AgencyGroup
from shared.domain.scopes import scope_name
from shared.domain.targets import Target
from shared.platform.off_loop import off_loop
from shared.readmodel.display import ShownVerdict

router = APIRouter(tags=["public"], include_in_schema=False)

DEFAULT_INDICATOR = "full_online_rate"
PAGE = "/public/ket-qua"
EMBED = "/public/ket-qua/embed"
CSV = "/public/ket-qua.csv"
HTML = "text/html; charset=utf-8"

MonthQ = Annotated[str | None, Query(description="YYYY-MM of a closed month")]
IndicatorQ = Annotated[str | None, Query()]
GroupQ = Annotated[str | None, Query()]
SortQ = Annotated[str | None, Query()]
SearchQ = Annotated[str | None, Query()]


def page_url(
    month: str, indicator: str, base: str = PAGE, params: dict[str, str] | None = None
) -> str:
    return f"{base}?{urlencode({'month': month, 'indicator': indicator, **(params or {})})}"


def results_cache(request: Request) -> ResultsCache:
    found: ResultsCache | None = getattr(request.app.state, "public_results", None)
    if found is None:
        found = request.app.state.public_results = ResultsCache()
    return found


def _cache_headers(etag: str) -> dict[str, str]:
    # "no-cache": keep it, but ask each time; the answer is 304 until a figure changes
    return {"ETag": etag, "Cache-Control": "public, no-cache"}


def _not_published(ctx: ApiContext, month: str | None, indicator: str | None) -> Response:
    latest = latest_closed_month().label
    if indicator is not None and indicator not in ctx.indicators:
        heading = "Không có chỉ số này"
        message = f"Chỉ số “{indicator}” không có trong danh mục chỉ số."
    else:
        heading = "Chưa công bố"
        message = (
            f"Kết quả của tháng “{month}” chưa được công bố: chỉ công bố các tháng đã kết thúc "
            "(tháng hiện tại đang được tính)."
        )
    body = render(
        "public_missing.html",
        heading=heading,
        message=message,
        latest=latest,
        latest_url=page_url(latest, DEFAULT_INDICATOR),
    )
    return Response(body, status_code=404, media_type=HTML, headers=page_headers())


async def _cached(
    request: Request,
    ctx: ApiContext,
    kind: str,
    month: str | None,
    indicator: str | None,
    make: Callable[[PublicResults, PageView], bytes],
    media_type: str,
    headers: dict[str, str],
    view: PageView | None = None,
) -> Response:
    view = view or PageView()
    try:
        period = closed_month(month)
    except MonthNotClosed:
        return _not_published(ctx, month, indicator)
    definition = ctx.indicators.get(indicator or DEFAULT_INDICATOR)
    if definition is None:
        return _not_published(ctx, month, indicator)
    catalogs = await ctx.catalogs.current()
    # the month picker depends on today's month; the verdicts on the settings
    key = (
        kind,
        period.label,
        definition.indicator,
        latest_closed_month().label,
        ctx.settings.public_min_denominator,
    )
    codes, fields = page_cache_keys(ctx, catalogs, period, definition)
    data_key = await ctx.responses.full_key(key, catalogs.version, codes, fields)
    shown_as = (view.group, view.sort, view.folded)
    full_key: Hashable = (data_key, shown_as)
    etag = ResponseCache.etag(full_key)
    all_headers = {**headers, **_cache_headers(etag)}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=all_headers)

    async def fingerprint() -> bytes:
        return await page_fingerprint(ctx, catalogs, period, definition)

    async def compute() -> PublicResults:
        page = await read_page(ctx, catalogs, period, definition)
        return await off_loop(build_results, ctx, page)

    async def results() -> PublicResults:
        named = (key, catalogs.version)
        return await results_cache(request).get(data_key, named, fingerprint, compute)

    def rendered(found: PublicResults) -> bytes:  # run off the event loop
        return make(found, view)

    if view.q:  # a search: rendered from the page's figures, never kept
        body = await off_loop(rendered, await results())
    else:
        body, _ = await ctx.responses.staged_body(
            (*key, view.group, view.sort),
            catalogs.version,
            codes,
            fingerprint,
            results,
            rendered,
            full_key=full_key,
        )
    return Response(body, media_type=media_type, headers=all_headers)


def trend_data(row: Shown) -> list[list[object]]:
    return [[p.period, p.value] for p in row.trend]


def target_title(target: Target, year: int) -> str:
    """A target as its note says it: value, scope, document, year and carry-over."""
    value = f"{target.min_percent:g}".replace(".", ",")
    scope = {"all": "mọi cơ quan và toàn tỉnh"}.get(target.applies_to)
    if scope is None:
        scope = scope_name(target.applies_to, date(year, 12, 31))
    carried = (
        f"; chuyển tiếp từ {target.period}: chưa có văn bản mới cho năm {year}"
        if target.carried_over(year)
        else ""
    )
    return f"{value}% — {scope} — {target.source} — chỉ tiêu năm {target.period}{carried}."


def _html(results: PublicResults, embed: bool, view: PageView | None = None) -> bytes:
    view = view or PageView()
    month, indicator = results.month.label, results.indicator.indicator
    base = EMBED if embed else PAGE

    def spark(row: Shown) -> object:
        return markup(
            sparkline(
                row.trend,
                row.value.target,
                label=f"{row.name or 'Cả khối'}: ",
                territory=results.territory,
            )
        )

    def view_url(**changes: str) -> str:
        return page_url(month, indicator, base, view.params(**changes))

    groups = {g.group: g for g in results.groups}
    return render(
        "public.html",
        results=results,
        embed=embed,
        view=view,
        months=closed_months(),
        form_action=base,
        csv_url=page_url(month, indicator, CSV),
        embed_path=page_url(month, indicator, EMBED),
        page_url=lambda m, i: page_url(m, i, base, view.params()),
        view_url=view_url,
        overview_scopes=AGGREGATES,
        scope_names={s: scope_name(s, results.month.end) for s in AGGREGATES},
        verdicts=ShownVerdict,
        spark=spark,
        trend_data=trend_data,
        sorts=SORTS,
        group_names={g: groups[g].title for g in groups},
        group_order=[g.value for g in AgencyGroup if g.value in groups],
        max_query=MAX_QUERY,
        target_title=lambda t: target_title(t, results.month.year),
    ).encode()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _csv(results: PublicResults, view: PageView | None = None) -> bytes:
    """Every figure of the page, whatever the view (the CSV is the month's data)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "Tháng",
            "Mã chỉ số",
            "Chỉ số",
            "Mã phạm vi",
            "Cơ quan / phạm vi",
            "Tử số",
            "Mẫu số",
            "Tỷ lệ (%)",
            "Chỉ tiêu (%)",
            "Kết quả",
            "Tỷ lệ tháng trước (%)",
            "Thay đổi (điểm)",
            "Văn bản giao chỉ tiêu",
            "Chỉ tiêu chuyển tiếp từ năm",
        ]
    )
    rows = [results.province]
    for group in results.groups:
        rows += [group.total, *group.agencies]
    for row in rows:
        v = row.value
        writer.writerow(
            csv_cells(
                [
                    results.month.label,
                    v.indicator,
                    v.name_vi,
                    v.scope,
                    row.name or scope_name(row.scope, results.month.end),
                    v.numerator,
                    v.denominator,
                    _number(v.value),
                    _number(v.target),
                    shown.value if (shown := results.verdict_of(v)) is not None else "",
                    _number(row.previous.value),
                    _number(row.change),
                    v.target_source or "",
                    v.target_year if v.target_carried_over else "",
                ]
            )
        )
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


@router.get("/public")
async def public_home() -> RedirectResponse:
    return RedirectResponse(PAGE, status_code=307)


@router.get(PAGE)
async def public_page(
    request: Request,
    ctx: Ctx,
    month: MonthQ = None,
    indicator: IndicatorQ = None,
    group: GroupQ = None,
    sort: SortQ = None,
    q: SearchQ = None,
) -> Response:
    return await _cached(
        request,
        ctx,
        "public-page",
        month,
        indicator,
        lambda r, v: _html(r, embed=False, view=v),
        HTML,
        page_headers(scripts=True),
        PageView.parse(group, sort, q),
    )


@router.get(EMBED)
async def public_embed(
    request: Request,
    ctx: Ctx,
    month: MonthQ = None,
    indicator: IndicatorQ = None,
    group: GroupQ = None,
    sort: SortQ = None,
    q: SearchQ = None,
) -> Response:
    return await _cached(
        request,
        ctx,
        "public-embed",
        month,
        indicator,
        lambda r, v: _html(r, embed=True, view=v),
        HTML,
        page_headers(ctx.settings.public_frame_ancestors, scripts=True),
        PageView.parse(group, sort, q),
    )


@router.get(CSV)
async def public_csv(
    request: Request, ctx: Ctx, month: MonthQ = None, indicator: IndicatorQ = None
) -> Response:
    label = month or latest_closed_month().label
    name = f"ket-qua-{indicator or DEFAULT_INDICATOR}-{label}.csv"
    return await _cached(
        request,
        ctx,
        "public-csv",
        month,
        indicator,
        _csv,
        "text/csv; charset=utf-8",
        {"Content-Disposition": f'attachment; filename="{name}"'},
    )
