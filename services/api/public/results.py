"""The monthly public results (Kế hoạch 1205: "định kỳ hằng tháng công khai kết quả đánh
giá trên Cổng Thông tin điện tử tỉnh"): closed months only, aggregated figures only.

Every figure is an :class:`IndicatorValue` made by ``value_of_reading`` from the read
model's readings (``shared.readmodel.figures.read``): the very object
``GET /v1/indicators/{indicator}?scope=&period=`` serialises for the same scope and month,
never a recomputation; a trend point is the read model's value (``value_of``) of the same
figure. Each period is read once for every scope (``scope_figures``), and the values built
off the event loop. A month's aggregates hold the agencies valid in that month (§4a.6),
as the API's scopes do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta

from services.api.context import ApiContext
from services.api.exceptions import MonthNotClosed
from services.api.public.sparkline import TrendPoint
from shared.domain.calendar import today_local
from shared.domain.catalog import Agency, AgencyGroup
from shared.domain.indicators import Indicator
from shared.domain.periods import MIN_YEAR, Period, PeriodKind, month_end
from shared.domain.scopes import Scope, scope_name
from shared.platform.off_loop import off_loop
from shared.readmodel.figures import (
    Figure,
    Verdict,
    figures_digest,
    read,
    scope_figures,
    value_of,
)
from shared.readmodel.indicator_query import IndicatorValue, value_of_reading
from shared.store.catalogs import Catalogs

TREND_MONTHS = 12
PICKER_MONTHS = 24
AGGREGATES = ("province", "group:so_nganh", "group:dia_phuong")
GROUP_SCOPES = {AgencyGroup.so_nganh: "group:so_nganh", AgencyGroup.dia_phuong: "group:dia_phuong"}


def month_period(year: int, month: int) -> Period:
    return Period(
        PeriodKind.month, date(year, month, 1), month_end(year, month), f"{year}-{month:02d}"
    )


def previous_month(period: Period) -> Period:
    last = period.start - timedelta(days=1)
    return month_period(last.year, last.month)


def latest_closed_month(today: date | None = None) -> Period:
    """The last month that has ended in Asia/Ho_Chi_Minh: the current one is still open."""
    today = today or today_local()
    return previous_month(month_period(today.year, today.month))


def closed_month(text: str | None, today: date | None = None) -> Period:
    """``YYYY-MM`` of a closed month (default: the latest); :class:`MonthNotClosed` for the
    current or a future month, or anything that is not a month from 2015 on."""
    latest = latest_closed_month(today)
    if not text:
        return latest
    year, sep, month = text.partition("-")
    if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()):
        raise MonthNotClosed(text)
    y, m = int(year), int(month)
    if not 1 <= m <= 12 or y < MIN_YEAR or (y, m) > (latest.start.year, latest.start.month):
        raise MonthNotClosed(text)
    return month_period(y, m)


def closed_months(today: date | None = None, count: int = PICKER_MONTHS) -> list[str]:
    """The latest closed months, newest first (the month picker)."""
    out: list[str] = []
    period = latest_closed_month(today)
    while len(out) < count and period.start.year >= MIN_YEAR:
        out.append(period.label)
        period = previous_month(period)
    return out


def trend_months(month: Period) -> list[Period]:
    periods = [month]
    while len(periods) < TREND_MONTHS:
        periods.insert(0, previous_month(periods[0]))
    return [p for p in periods if p.start.year >= MIN_YEAR]


@dataclass(frozen=True)
class Shown:
    """One scope's figure for the month, with last month's and the 12-month trend."""

    scope: str
    name: str
    value: IndicatorValue
    previous: IndicatorValue
    trend: list[TrendPoint]

    @property
    def change(self) -> float | None:
        now, before = self.value.value, self.previous.value
        return None if now is None or before is None else now - before


@dataclass(frozen=True)
class GroupSection:
    scope: str
    title: str
    total: Shown
    agencies: list[Shown]


@dataclass(frozen=True)
class PublicResults:
    month: Period
    previous: Period
    indicator: Indicator
    indicators: list[Indicator]
    target_set: str | None
    # province and groups, every indicator: scope id → indicator → value (this / last month)
    overview: dict[str, dict[str, IndicatorValue]]
    overview_previous: dict[str, dict[str, IndicatorValue]]
    province: Shown
    groups: list[GroupSection]
    months: list[str]  # trend months, oldest first

    @property
    def agencies(self) -> list[Shown]:
        return [row for g in self.groups for row in g.agencies]

    def verdict_count(self, verdict: Verdict) -> int:
        return sum(r.value.verdict is verdict for r in self.agencies)

    @property
    def no_target_count(self) -> int:
        return sum(r.value.verdict is None for r in self.agencies)


def _sort_key(row: Shown) -> tuple[bool, float, str]:
    value = row.value.value
    return (value is None, -(value or 0.0), row.name)


def cache_codes(catalogs: Catalogs, month: Period) -> list[str]:
    """Every agency whose figures a page of ``month`` sums (the trend months' members too)."""
    first = trend_months(month)[0]
    return [a.agency_code for a in catalogs.agencies.valid_between(first.start, month.end)]


PeriodFigures = dict[str, dict[str, Figure]]  # scope id → indicator → figure


@dataclass(frozen=True)
class PageFigures:
    """What a page of ``month`` shows, as read from Redis: per period label, the scopes and
    their figures (every indicator for this month and the last, the shown one for the
    other trend months)."""

    month: Period
    previous: Period
    months: list[Period]
    members: list[Agency]
    indicator: Indicator
    indicators: list[Indicator]
    figures: dict[str, tuple[list[Scope], PeriodFigures]]


def page_reads(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> list[tuple[Period, list[Scope], list[Indicator]]]:
    """What a page of ``month`` reads: per period, its scopes (the aggregates, then the
    month's agencies) and indicators (every indicator of the overview for this month and
    the last; the shown one for the other trend months)."""
    indicators = list(ctx.indicators.values())
    members = catalogs.agencies.valid_between(month.start, month.end)
    months = trend_months(month)
    prev = previous_month(month)
    out = []
    for period in months if prev in months else [prev, *months]:
        scopes: list[Scope] = [ctx.scope(s, catalogs, period) for s in AGGREGATES]
        scopes += [ctx.scope(a.agency_code, catalogs, period) for a in members]
        out.append((period, scopes, indicators if period in (month, prev) else [indicator]))
    return out


async def page_fingerprint(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> bytes:
    """A digest of every bucket the page reads, computed in Redis (``figures_digest``):
    with the route's key and the catalog version, equal fingerprints, equal pages."""
    reads = [
        (sorted({c for s in scopes for c in s.codes}), wanted, period)
        for period, scopes, wanted in page_reads(ctx, catalogs, month, indicator)
    ]
    return await figures_digest(ctx.store, reads)


async def read_page(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> PageFigures:
    """Reads each period once: every member agency's figures (``scope_figures``), the
    periods concurrently."""

    async def read_period(
        scopes: list[Scope], wanted: list[Indicator], period: Period
    ) -> tuple[list[Scope], PeriodFigures]:
        return scopes, await scope_figures(ctx.store, catalogs, scopes, wanted, period)

    plan = page_reads(ctx, catalogs, month, indicator)
    read = await asyncio.gather(*(read_period(s, w, p) for p, s, w in plan))
    figures = {p.label: r for (p, _, _), r in zip(plan, read, strict=True)}
    return PageFigures(
        month,
        previous_month(month),
        trend_months(month),
        catalogs.agencies.valid_between(month.start, month.end),
        indicator,
        list(ctx.indicators.values()),
        figures,
    )


async def public_results(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> PublicResults:
    """The page's figures read, its values built off the event loop."""
    page = await read_page(ctx, catalogs, month, indicator)
    return await off_loop(build_results, ctx, page)


def build_results(ctx: ApiContext, page: PageFigures) -> PublicResults:
    """The page's values from the periods' figures: ``IndicatorValue``s (the API's shape,
    judged by the read model) for this month and the last, values for the trends."""
    month, prev, months, members = page.month, page.previous, page.months, page.members
    indicator, indicators, figures = page.indicator, page.indicators, page.figures
    target_set = ctx.target_set(None)
    # period → scope → indicator → value (this month and the last)
    values: dict[str, dict[str, dict[str, IndicatorValue]]] = {}
    trends: dict[str, list[TrendPoint]] = {}
    for period in (month, prev):
        scopes, figs = figures[period.label]
        values[period.label] = {
            scope.id: {
                ind.indicator: value_of_reading(
                    ind,
                    scope,
                    period,
                    read(
                        ctx.targets,
                        ind.indicator,
                        scope,
                        period.year,
                        figs[scope.id][ind.indicator],
                        target_set,
                    ),
                )
                for ind in (indicators if scope.kind != "agency" else [indicator])
            }
            for scope in scopes
        }
    for period in months:
        scopes, figs = figures[period.label]
        for scope in scopes:
            value = value_of(figs[scope.id][indicator.indicator])
            trends.setdefault(scope.id, []).append(TrendPoint(period.label, value))

    def shown(scope_id: str, name: str) -> Shown:
        trend = trends[scope_id]
        return Shown(
            scope_id,
            name,
            values[month.label][scope_id][indicator.indicator],
            values[prev.label][scope_id][indicator.indicator],
            trend,
        )

    groups = []
    for group, scope_id in GROUP_SCOPES.items():
        rows = [shown(a.agency_code, a.name) for a in members if a.group is group]
        rows.sort(key=_sort_key)
        name = scope_name(scope_id, month.end)
        groups.append(GroupSection(scope_id, name, shown(scope_id, ""), rows))
    return PublicResults(
        month=month,
        previous=prev,
        indicator=indicator,
        indicators=indicators,
        target_set=target_set,
        overview={s: values[month.label][s] for s in AGGREGATES},
        overview_previous={s: values[prev.label][s] for s in AGGREGATES},
        province=shown("province", scope_name("province", month.end)),
        groups=groups,
        months=[p.label for p in months],
    )
