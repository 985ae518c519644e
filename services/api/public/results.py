"""The monthly public results (Kế hoạch 1205: "định kỳ hằng tháng công khai kết quả đánh
giá trên Cổng Thông tin điện tử tỉnh"): closed months only, aggregated figures only.

Every figure is an :class:`IndicatorValue` made by ``value_of_reading`` from the read
model's readings (``shared.readmodel.figures.read``): the very object
``GET /v1/indicators/{indicator}?scope=&period=`` serialises for the same scope and month,
never a recomputation; a trend point is the read model's value (``value_of``) of the same
figure. Each period is read once for every scope (``scope_figures``), and the values built
off the event loop. A month's aggregates hold the agencies valid in that month (§4a.6),
as the API's scopes do.

What the page adds to the API's values is how it shows them: the verdict as a page says it
(``shown_verdict``: "Chưa đủ số liệu" under ``EGOV_PUBLIC_MIN_DENOMINATOR`` dossiers), the
units of each group in four orders (by value, name, verdict, change: the same order with and
without the page's script), each target's document as a numbered note (and "chuyển tiếp từ
<year>" for a target carried over), and the month the territory changed when the trend
crosses it (domain README §9).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property

from cachetools import LRUCache

from services.api.context import ApiContext
from services.api.exceptions import MonthNotClosed
from services.api.gc_pauses import freeze_long_lived
from services.api.public.sparkline import TrendPoint
from shared.domain.calendar import today_local
from shared.domain.catalog import Agency, AgencyGroup
from shared.domain.indicators import Indicator
from shared.domain.periods import MIN_YEAR, Period, PeriodKind, month_end
from shared.domain.scopes import LAST_DAY_OF_DISTRICTS, Scope, scope_name
from shared.domain.targets import Target
from shared.platform.off_loop import off_loop
from shared.readmodel.display import ShownVerdict, fold, shown_verdict
from shared.readmodel.figures import (
    EVENT_SOURCES,
    Figure,
    figures_digest,
    read,
    scope_figures,
    value_of,
)
from shared.readmodel.indicator_query import IndicatorValue, value_of_reading
from shared.store.catalogs import Catalogs
from shared.store.keys import period_version_fields

TREND_MONTHS = 12
PICKER_MONTHS = 24
AGGREGATES = ("province", "group:so_nganh", "group:dia_phuong")
GROUP_SCOPES = {AgencyGroup.so_nganh: "group:so_nganh", AgencyGroup.dia_phuong: "group:dia_phuong"}
# the first month of the merged province without districts (domain README §9)
_NEW_TERRITORY = LAST_DAY_OF_DISTRICTS + timedelta(days=1)
TERRITORY_CHANGE = f"{_NEW_TERRITORY.year}-{_NEW_TERRITORY.month:02d}"
# the orders a group's units are listed in (the default first), as the page names them
SORTS = {
    "value": "Tỷ lệ, cao xuống thấp",
    "name": "Tên, A → Z",
    "verdict": "Kết quả: chưa đạt trước",
    "change": "Thay đổi so với tháng trước",
}
_VERDICT_ORDER = {
    ShownVerdict.below: 0,
    ShownVerdict.meets: 1,
    ShownVerdict.too_few: 2,
    ShownVerdict.not_evaluated: 3,
    None: 4,
}
# a commune-level unit is "UBND xã/phường/đặc khu <name>": listed by <name>
_LOCAL_PREFIXES = (
    "ubnd xa ",
    "ubnd phuong ",
    "ubnd dac khu ",
    "ubnd thi xa ",
    "ubnd thanh pho ",
    "ubnd huyen ",
)


def name_key(name: str) -> str:
    """How a unit sorts by name: folded (``fold``), a local unit by its own name."""
    folded = fold(name)
    for prefix in _LOCAL_PREFIXES:
        if folded.startswith(prefix):
            return folded.removeprefix(prefix)
    return folded


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
    """One scope's figure for the month, with last month's, the 12-month trend and the
    verdict the page shows (``shown_verdict``)."""

    scope: str
    name: str
    value: IndicatorValue
    previous: IndicatorValue
    trend: list[TrendPoint]
    verdict: ShownVerdict | None = None

    @property
    def change(self) -> float | None:
        now, before = self.value.value, self.previous.value
        return None if now is None or before is None else now - before

    @property
    def search(self) -> str:
        """What a search matches: the folded name and the unit's code."""
        return f"{fold(self.name)} {self.scope.casefold()}"


def _order_key(sort: str, row: Shown) -> tuple[object, ...]:
    value, change, name = row.value.value, row.change, name_key(row.name)
    if sort == "name":
        return (name, row.name, row.scope)
    if sort == "change":
        return (change is None, -(change or 0.0), name, row.scope)
    if sort == "verdict":
        return (_VERDICT_ORDER[row.verdict], value is None, -(value or 0.0), name, row.scope)
    return (value is None, -(value or 0.0), name, row.scope)


@dataclass(frozen=True)
class GroupSection:
    """One group's total and its units (by value: the default order)."""

    scope: str
    title: str
    total: Shown
    agencies: list[Shown]

    @property
    def group(self) -> str:
        return self.scope.removeprefix("group:")

    def ordered(self, sort: str) -> list[Shown]:
        """The units in one of :data:`SORTS` (unknown: by value)."""
        return sorted(self.agencies, key=lambda row: _order_key(sort, row))

    @cached_property
    def positions(self) -> dict[str, dict[str, int]]:
        """sort → unit code → position (0-based): what the script sorts by, so a sort
        without reloading gives the server's order."""
        return {sort: {row.scope: i for i, row in enumerate(self.ordered(sort))} for sort in SORTS}

    @cached_property
    def ranks(self) -> dict[str, int]:
        """Rank by value (1 = highest) of each unit that has one."""
        ranked = [row for row in self.ordered("value") if row.value.value is not None]
        return {row.scope: i for i, row in enumerate(ranked, start=1)}

    def count(self, verdict: ShownVerdict | None) -> int:
        return sum(row.verdict is verdict for row in self.agencies)


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
    min_denominator: int = 0
    # every target a figure on the page is judged on, in order of first appearance
    targets: list[Target] = field(default_factory=list)

    @property
    def agencies(self) -> list[Shown]:
        return [row for g in self.groups for row in g.agencies]

    def verdict_count(self, verdict: ShownVerdict | None) -> int:
        return sum(r.verdict is verdict for r in self.agencies)

    @property
    def territory(self) -> str | None:
        """The month the territory changed, when the trend months cross it."""
        return TERRITORY_CHANGE if self.months[0] < TERRITORY_CHANGE <= self.months[-1] else None

    def verdict_of(self, value: IndicatorValue) -> ShownVerdict | None:
        """The verdict the page shows for any of its values (the overview's too)."""
        counted = next(
            (i.source in EVENT_SOURCES for i in self.indicators if i.indicator == value.indicator),
            False,
        )
        return shown_verdict(value.verdict, value.denominator, counted, self.min_denominator)

    def note(self, value: IndicatorValue) -> int | None:
        """The number (from 1) of the note naming the document of ``value``'s target."""
        if value.target is None:
            return None
        for n, t in enumerate(self.targets, start=1):
            key = (t.target_set, t.source, t.min_percent)
            if key == (value.target_set, value.target_source, value.target):
                return n
        return None

    def carried_over(self, target: Target) -> bool:
        return target.carried_over(self.month.year)


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


PageReads = list[tuple[Period, list[Scope], list[Indicator]]]
# page_reads per (catalogs read, month, indicator), with the catalogs they were resolved in:
# resolving ~1,400 scopes took half of a page's fingerprint (the check after every write)
_PAGE_READS: LRUCache[Hashable, tuple[Catalogs, PageReads]] = LRUCache(maxsize=64)


def page_reads(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> PageReads:
    """What a page of ``month`` reads: per period, its scopes (the aggregates, then the
    month's agencies) and indicators (every indicator of the overview for this month and
    the last; the shown one for the other trend months). Resolved once per catalogs read
    (the entry holds them: their id is not reused while it lives)."""
    key = (id(catalogs), id(ctx), month, indicator.indicator)
    found = _PAGE_READS.get(key)
    if found is None or found[0] is not catalogs:
        found = _PAGE_READS[key] = (catalogs, _page_reads(ctx, catalogs, month, indicator))
        freeze_long_lived()  # ~1,400 scopes kept while the catalogs last: out of the GC
    return found[1]


def _page_reads(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> PageReads:
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


def page_version_fields(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> list[str]:
    """The period-version fields of every bucket the page reads (``keys.period_versions``):
    its months, all closed, so today's writes leave its cache key as it is."""
    periods = [p for p, _, _ in page_reads(ctx, catalogs, month, indicator)]
    return period_version_fields(min(p.start for p in periods), max(p.end for p in periods))


# page_cache_keys per (catalogs read, month, indicator), like _PAGE_READS: every view of a
# page (each request, hits included) needs them, and resolving them cost ~15 % of a hit
_PAGE_KEYS: LRUCache[Hashable, tuple[Catalogs, tuple[list[str], list[str]]]] = LRUCache(maxsize=64)


def page_cache_keys(
    ctx: ApiContext, catalogs: Catalogs, month: Period, indicator: Indicator
) -> tuple[list[str], list[str]]:
    """The agencies a page of ``month`` sums (:func:`cache_codes`) and its period-version
    fields (:func:`page_version_fields`), resolved once per catalogs read."""
    key = (id(catalogs), id(ctx), month, indicator.indicator)
    found = _PAGE_KEYS.get(key)
    if found is None or found[0] is not catalogs:
        keys = (cache_codes(catalogs, month), page_version_fields(ctx, catalogs, month, indicator))
        found = _PAGE_KEYS[key] = (catalogs, keys)
    return found[1]


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
    min_denominator = ctx.settings.public_min_denominator
    counted = indicator.source in EVENT_SOURCES
    # period → scope → indicator → value (this month and the last)
    values: dict[str, dict[str, dict[str, IndicatorValue]]] = {}
    trends: dict[str, list[TrendPoint]] = {}
    # the month's targets: the shown indicator's first (its rows), then the overview's
    used: dict[tuple[str, str, float], Target] = {}
    for period in (month, prev):
        scopes, figs = figures[period.label]
        values[period.label] = {}
        for scope in scopes:
            wanted = indicators if scope.kind != "agency" else [indicator]
            per: dict[str, IndicatorValue] = {}
            for ind in sorted(wanted, key=lambda i: i.indicator != indicator.indicator):
                reading = read(
                    ctx.targets,
                    ind.indicator,
                    scope,
                    period.year,
                    figs[scope.id][ind.indicator],
                    target_set,
                )
                target = reading.target
                if period is month and target is not None:
                    used.setdefault((target.target_set, target.source, target.min_percent), target)
                per[ind.indicator] = value_of_reading(ind, scope, period, reading)
            values[period.label][scope.id] = per
    for period in months:
        scopes, figs = figures[period.label]
        for scope in scopes:
            value = value_of(figs[scope.id][indicator.indicator])
            trends.setdefault(scope.id, []).append(TrendPoint(period.label, value))

    def shown(scope_id: str, name: str) -> Shown:
        trend = trends[scope_id]
        value = values[month.label][scope_id][indicator.indicator]
        return Shown(
            scope_id,
            name,
            value,
            values[prev.label][scope_id][indicator.indicator],
            trend,
            shown_verdict(value.verdict, value.denominator, counted, min_denominator),
        )

    groups = []
    for group, scope_id in GROUP_SCOPES.items():
        rows = [shown(a.agency_code, a.name) for a in members if a.group is group]
        rows.sort(key=lambda row: _order_key("value", row))
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
        min_denominator=min_denominator,
        targets=list(used.values()),
    )


class ResultsCache:
    """A page's :class:`PublicResults` (its figures read and its values built), kept so that
    every view of it — a group, an order, a search — renders from them without reading
    Redis again. Keyed like the response cache: by the data versions of what the page sums
    (``full_key``), and by the fingerprint of the buckets it reads (``named``: route key and
    catalog version), so a write elsewhere (today's events) costs one digest, not a read;
    concurrent misses of one key share one computation. Bounded: a search text never grows
    it (searches are views, not keys)."""

    def __init__(self, maxsize: int = 64) -> None:
        self._by_key: LRUCache[Hashable, PublicResults] = LRUCache(maxsize=maxsize)
        self._by_fingerprint: LRUCache[Hashable, PublicResults] = LRUCache(maxsize=maxsize)
        self._pending: dict[Hashable, asyncio.Future[PublicResults]] = {}

    async def get(
        self,
        full_key: Hashable,
        named: Hashable,
        fingerprint: Callable[[], Awaitable[bytes]],
        compute: Callable[[], Awaitable[PublicResults]],
    ) -> PublicResults:
        found = self._by_key.get(full_key)
        if found is not None:
            return found
        pending = self._pending.get(full_key)
        if pending is None:
            pending = asyncio.ensure_future(self._compute(full_key, named, fingerprint, compute))
            self._pending[full_key] = pending
        return await asyncio.shield(pending)

    async def _compute(
        self,
        full_key: Hashable,
        named: Hashable,
        fingerprint: Callable[[], Awaitable[bytes]],
        compute: Callable[[], Awaitable[PublicResults]],
    ) -> PublicResults:
        try:
            before = await fingerprint()
            results = self._by_fingerprint.get((named, before))
            if results is None:
                results = await compute()
                if await fingerprint() == before:
                    self._by_fingerprint[(named, before)] = results
            self._by_key[full_key] = results
            return results
        finally:
            self._pending.pop(full_key, None)
