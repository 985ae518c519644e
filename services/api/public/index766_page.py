"""The monthly publication of the Decision 766 index (Kế hoạch 1205: "định kỳ hằng tháng
công khai kết quả đánh giá"): for a closed month, or the year to that month's end, the
province, the two groups and every unit with total, band and the six groups; the units
ranked within their group with the change since last month; the metrics of one chosen
scope with numerator and denominator.

Every score is the one ``GET /v1/index766`` answers for the same scope and period (the same
read model and scoring: ``services.api.reports.index766``); one read of every unit per
period, aggregates as summed counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from services.api.public.results import GROUP_SCOPES, previous_month, trend_months
from services.api.public.sparkline import TrendPoint
from services.api.reports.index766 import Index766Value, rank_units, scope_scores, value_of
from shared.domain.catalog import AgencyGroup
from shared.domain.index766 import ScoringTable, load_index766
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import Scope, agency_scope, parse_scope, scope_name
from shared.readmodel.index766_inputs import Evaluation, evaluation
from shared.store.catalogs import Catalogs
from shared.store.index766_reads import digest_766, local_midnight_s
from shared.store.indicator_store import IndicatorStore

AGGREGATES_766 = ("province", "group:so_nganh", "group:dia_phuong")


class View(StrEnum):
    month = "thang"  # the month
    year = "nam"  # the year to the month's end (lũy kế)


def year_to(month: Period) -> Period:
    """The year to date at the end of ``month`` (January to it)."""
    return Period(
        PeriodKind.range,
        date(month.start.year, 1, 1),
        month.end,
        f"{month.start.year}-01..{month.label}",
    )


def view_period(month: Period, view: View) -> Period:
    return month if view is View.month else year_to(month)


def previous_of(month: Period, view: View) -> Period | None:
    """The period the change is measured from: last month, or the year to last month's
    end (none in January: a year to date starts again)."""
    last = previous_month(month)
    if view is View.month:
        return last
    return year_to(last) if last.start.year == month.start.year else None


def closed_evaluation(period: Period) -> Evaluation:
    """A closed period's evaluation: at its end."""
    return evaluation(period, local_midnight_s(period.end) + 86_400)


@dataclass(frozen=True)
class Row:
    scope: str
    name: str
    rank: int | None  # within its group (units only)
    value: Index766Value
    previous: Index766Value | None
    trend: list[TrendPoint]  # the monthly totals of the 12 months to this one

    @property
    def change(self) -> float | None:
        if self.previous is None:
            return None
        return float(Decimal(str(self.value.total)) - Decimal(str(self.previous.total)))


@dataclass(frozen=True)
class GroupRows:
    scope: str
    title: str
    total: Row
    units: list[Row]


@dataclass(frozen=True)
class Page766:
    month: Period
    view: View
    period: Period
    previous: Period | None
    version: str
    overview: list[Row]
    groups: list[GroupRows]
    detail: Row
    trend_months: list[str]  # YYYY-MM, oldest first

    @property
    def rows(self) -> list[Row]:
        """Every row of the page: province, groups, then each group's units."""
        return self.overview + [u for g in self.groups for u in g.units]


def table_of(period: Period) -> ScoringTable | None:
    return load_index766().in_force(period.end)


def page_scopes(catalogs: Catalogs, period: Period) -> tuple[list[Scope], dict[str, list[Scope]]]:
    """The aggregates and, per group scope, its units valid in the period."""
    aggregates = [
        parse_scope(s, catalogs.agencies, period.start, period.end) for s in AGGREGATES_766
    ]
    units: dict[str, list[Scope]] = {}
    for group, scope_id in GROUP_SCOPES.items():
        members = catalogs.agencies.valid_between(period.start, period.end)
        units[scope_id] = [agency_scope(a) for a in members if a.group is group]
    return aggregates, units


def cache_codes(catalogs: Catalogs, month: Period, view: View) -> list[str]:
    """The units whose figures the page sums (this period's and the previous one's)."""
    previous = previous_of(month, view)
    lo = view_period(month, view).start if previous is None else previous.start
    return sorted(a.agency_code for a in catalogs.agencies.valid_between(lo, month.end))


async def page_fingerprint(
    store: IndicatorStore, catalogs: Catalogs, month: Period, view: View
) -> bytes:
    """A digest, computed in Redis, of every input :func:`read_page` reads (this period's
    and the previous one's): equal digests, equal pages (with the same catalogs)."""
    parts: list[bytes] = []
    periods = [view_period(month, view), previous_of(month, view)]
    periods += [m for m in trend_months(month) if view is View.year or m.label != month.label]
    for period in periods:
        if period is None or table_of(period) is None:
            parts.append(b"-")
            continue
        codes = sorted(
            a.agency_code for a in catalogs.agencies.valid_between(period.start, period.end)
        )
        ev = closed_evaluation(period)
        parts.append(await digest_766(store, codes, period.start, period.end, ev.instant_s))
    return b"/".join(parts)


async def _scores(
    store: IndicatorStore, catalogs: Catalogs, period: Period
) -> tuple[Evaluation, ScoringTable, dict[str, Index766Value]] | None:
    table = table_of(period)
    if table is None:
        return None
    ev = closed_evaluation(period)
    aggregates, units = page_scopes(catalogs, period)
    scopes = aggregates + [u for group in units.values() for u in group]
    scores, _ = await scope_scores(store, catalogs, table, ev, scopes)
    by_id = {s.id: s for s in scopes}
    return (
        ev,
        table,
        {sid: value_of(by_id[sid], catalogs.agencies, ev, sc) for sid, sc in scores.items()},
    )


async def read_page(
    store: IndicatorStore, catalogs: Catalogs, month: Period, view: View, detail: str
) -> Page766 | None:
    """The page of a closed month (None: before the index's first scoring table)."""
    period = view_period(month, view)
    now = await _scores(store, catalogs, period)
    if now is None:
        return None
    _, table, values = now
    prev_period = previous_of(month, view)
    before = await _scores(store, catalogs, prev_period) if prev_period is not None else None
    previous = before[2] if before is not None else {}
    aggregates, units = page_scopes(catalogs, period)
    months = trend_months(month)
    monthly: dict[str, dict[str, Index766Value]] = {}
    for m in months:
        if view is View.month and m.label == month.label:
            monthly[m.label] = values
        elif view is View.month and prev_period is not None and m.label == prev_period.label:
            monthly[m.label] = previous
        else:
            found = await _scores(store, catalogs, m)
            monthly[m.label] = found[2] if found is not None else {}

    def trend(scope_id: str) -> list[TrendPoint]:
        points = []
        for m in months:
            shown = monthly[m.label].get(scope_id)
            points.append(TrendPoint(m.label, None if shown is None else shown.total))
        return points

    def row(scope: Scope, rank: int | None = None) -> Row:
        return Row(
            scope.id,
            scope_name(scope.id, period.end, catalogs.agencies),
            rank,
            values[scope.id],
            previous.get(scope.id),
            trend(scope.id),
        )

    overview = [row(s) for s in aggregates]
    groups: list[GroupRows] = []
    for group, scope_id in GROUP_SCOPES.items():
        totals = {u.id: Decimal(str(values[u.id].total)) for u in units[scope_id]}
        ranked = rank_units(units[scope_id], totals)
        groups.append(
            GroupRows(
                scope_id,
                _group_title(group, period),
                next(r for r in overview if r.scope == scope_id),
                [row(u, rank) for rank, u in ranked],
            )
        )
    shown = next((r for r in overview if r.scope == detail), None)
    if shown is None:
        shown = next((u for g in groups for u in g.units if u.scope == detail), overview[0])
    return Page766(
        month,
        view,
        period,
        prev_period,
        table.version,
        overview,
        groups,
        shown,
        [m.label for m in months],
    )


def _group_title(group: AgencyGroup, period: Period) -> str:
    return scope_name(GROUP_SCOPES[group], period.end)
