"""What the ICT department's live board shows, read through the same functions as the API:
firing alerts (the alert store behind ``GET /v1/alerts?state=firing``), open and overdue
dossiers per agency (``GET /v1/dossiers/open``: an ended unit's under its successor, "chuyển
từ …"), the orphaned open dossiers of ended units without one (``GET /v1/dossiers/orphaned``,
"Hồ sơ mồ côi"), today's and the year's figures of the
province and its groups (the read model's readings, as ``GET /v1/indicators/{indicator}``
makes them), every unit valid today with its year's full-online rate and its dossiers, in
its group (the merged province: 15 provincial units and 102 commune-level units), and the
last messages of the local mail sink.

The units are listed in every order the board offers (``UNIT_SORTS``, positions in
``data-order-*``), so its script switches group, searches and sorts without asking the
server; a unit counted on fewer than ``EGOV_PUBLIC_MIN_DENOMINATOR`` dossiers says "Chưa
đủ số liệu" instead of a verdict, as on the public page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path

from services.api.context import ApiContext
from services.api.public.results import (
    AGGREGATES,
    GROUP_SCOPES,
    TERRITORY_CHANGE,
    month_period,
    name_key,
)
from services.api.routes import reports as report_routes
from shared.domain.alerts import Alert, Severity
from shared.domain.calendar import local_date, now_utc
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import scope_name
from shared.platform.mailbox import MailEntry, recent
from shared.readmodel.display import ShownVerdict, fold, shown_verdict
from shared.readmodel.figures import EVENT_SOURCES, read, scope_figures
from shared.readmodel.index766_inputs import (
    catalog_facts,
    evaluation,
    table_for,
    unit_pairs,
    units_raws,
    without_open_overdue,
)
from shared.readmodel.indicator_query import IndicatorValue, value_of_reading
from shared.readmodel.open_holders import DueDossier
from shared.store.alert_commands import firing_alerts
from shared.store.catalogs import Catalogs
from shared.store.index766_reads import OPEN_KINDS

BOARD_USER = "board"
MAIL_SHOWN = 8
ORPHAN_IDS_SHOWN = 50  # dossier ids listed per ended unit under "Hồ sơ mồ côi"
UNIT_INDICATOR = "full_online_rate"  # the figure the province and its units are judged on
UNIT_SORTS = {
    "value": "Tỷ lệ toàn trình, cao xuống thấp",
    "name": "Tên, A → Z",
    "verdict": "Kết quả: chưa đạt trước",
    "overdue": "Hồ sơ quá hạn, nhiều trước",
}
_VERDICT_ORDER = {
    ShownVerdict.below: 0,
    ShownVerdict.meets: 1,
    ShownVerdict.too_few: 2,
    ShownVerdict.not_evaluated: 3,
    None: 4,
}


@dataclass(frozen=True)
class UnitRow:
    """One unit valid today: the year's figure of ``UNIT_INDICATOR`` and its dossiers now."""

    agency_code: str
    name: str
    value: IndicatorValue
    verdict: ShownVerdict | None
    open: int
    overdue: int

    @property
    def search(self) -> str:
        return f"{fold(self.name)} {self.agency_code.casefold()}"

    def order(self, sort: str) -> tuple[object, ...]:
        value, name = self.value.value, name_key(self.name)
        if sort == "name":
            return (name, self.name, self.agency_code)
        if sort == "verdict":
            return (_VERDICT_ORDER[self.verdict], value is None, -(value or 0.0), name)
        if sort == "overdue":
            return (-self.overdue, -self.open, name, self.agency_code)
        return (value is None, -(value or 0.0), name, self.agency_code)


@dataclass(frozen=True)
class UnitGroup:
    group: str
    title: str
    rows: list[UnitRow]  # by value

    @cached_property
    def positions(self) -> dict[str, dict[str, int]]:
        return {
            sort: {
                r.agency_code: i
                for i, r in enumerate(sorted(self.rows, key=lambda r: r.order(sort)))
            }
            for sort in UNIT_SORTS
        }

    def count(self, verdict: ShownVerdict | None) -> int:
        return sum(r.verdict is verdict for r in self.rows)


@dataclass(frozen=True)
class MovedNote:
    """Open dossiers of an ended unit counted in a row: "chuyển từ <unit>" (§4b)."""

    from_code: str
    marker: str
    open: int
    overdue: int


@dataclass(frozen=True)
class OpenRow:
    agency_code: str
    name: str
    open: int
    overdue: int
    due_within_24h: int
    moved: tuple[MovedNote, ...] = ()


@dataclass(frozen=True)
class OrphanRow:
    """An ended unit's open dossiers that no unit continues: "Hồ sơ mồ côi" (§4b)."""

    agency_code: str
    name: str
    valid_to: date | None
    open: int
    overdue: int
    dossiers: tuple[DueDossier, ...]


@dataclass(frozen=True)
class Unit766:
    """A unit's Decision 766 score so far this month, and what its open overdue dossiers
    cost: the score as if none of them were past due, minus the score."""

    agency_code: str
    name: str
    group: str
    total: float
    band: str
    overdue: int  # open dossiers of this month's cohort past their due time now
    cost: float  # points


@dataclass(frozen=True)
class BoardData:
    now: datetime
    today: Period
    year: Period
    alerts: list[Alert]
    open_total: int
    overdue_total: int
    due_total: int
    open_rows: list[OpenRow]
    # period label → scope id → indicator → value
    figures: dict[str, dict[str, dict[str, IndicatorValue]]]
    indicators: list[str]
    mail: list[MailEntry]
    mail_dir: str | None
    units: list[UnitGroup]
    min_denominator: int
    # verdicts of the aggregates as the board shows them: period → scope → indicator
    verdicts: dict[str, dict[str, dict[str, ShownVerdict | None]]]
    month: Period | None = None  # the month of ``index766`` (None: no scoring table)
    index766: tuple[Unit766, ...] = ()  # by cost, then total, then code
    orphans: tuple[OrphanRow, ...] = ()  # the most overdue first

    @property
    def unit_count(self) -> int:
        return sum(len(g.rows) for g in self.units)

    @property
    def territory(self) -> str | None:
        return year_territory(self.year)


def year_territory(year: Period) -> str | None:
    """The month the territory changed, when ``year`` crosses it (2025)."""
    first, last = f"{year.start:%Y-%m}", f"{year.end:%Y-%m}"
    return TERRITORY_CHANGE if first < TERRITORY_CHANGE <= last else None


def mail_dir(ctx: ApiContext) -> Path | None:
    return Path(ctx.settings.mail_dir) if ctx.settings.mail_dir else None


def _alert_order(alert: Alert) -> tuple[int, float]:
    severity = 0 if alert.severity is Severity.critical else 1
    return (severity, -alert.last_seen.timestamp())


async def board_data(ctx: ApiContext) -> BoardData:
    catalogs = await ctx.catalogs.current()
    now = now_utc()
    day = local_date(now)
    today = Period(PeriodKind.day, day, day, day.isoformat())
    year = Period(
        PeriodKind.year, day.replace(month=1, day=1), day.replace(month=12, day=31), str(day.year)
    )
    alerts = sorted(await firing_alerts(ctx.redis), key=_alert_order)
    report = await report_routes.open_dossiers(ctx, BOARD_USER, scope="province", limit=0)
    names = {code: a.name for code, a in catalogs.agencies.agencies.items()}
    rows = [
        OpenRow(
            r.agency_code,
            names.get(r.agency_code, r.agency_code),
            r.open,
            r.overdue,
            r.due_within_24h,
            tuple(MovedNote(m.from_agency_code, m.marker, m.open, m.overdue) for m in r.moved_in),
        )
        for r in report.agencies
        if r.open or r.overdue
    ]
    rows.sort(key=lambda r: (-r.overdue, -r.due_within_24h, -r.open, r.name))
    orphaned = await report_routes.orphaned_dossiers(ctx, BOARD_USER, limit=ORPHAN_IDS_SHOWN)
    orphans = tuple(
        OrphanRow(
            o.agency_code,
            o.name,
            o.valid_to,
            o.open,
            o.overdue,
            tuple(DueDossier(d.dossier_id, d.due_at, d.overdue) for d in o.dossiers),
        )
        for o in orphaned.agencies
    )
    indicators = list(ctx.indicators.values())
    unit_indicator = ctx.indicators[UNIT_INDICATOR]
    target_set = ctx.target_set(None)
    min_denominator = ctx.settings.public_min_denominator
    counted = {i.indicator: i.source in EVENT_SOURCES for i in indicators}
    units_now = sorted(catalogs.agencies.valid_on(day), key=lambda a: a.agency_code)
    figures: dict[str, dict[str, dict[str, IndicatorValue]]] = {}
    verdicts: dict[str, dict[str, dict[str, ShownVerdict | None]]] = {}
    unit_values: dict[str, IndicatorValue] = {}
    for period in (today, year):
        # the three aggregates (and, for the year, every unit) at once: each member agency
        # is read once
        scopes = [ctx.scope(scope_id, catalogs, period) for scope_id in AGGREGATES]
        units = [ctx.scope(a.agency_code, catalogs, period) for a in units_now]
        figs = await scope_figures(
            ctx.store, catalogs, scopes + (units if period is year else []), indicators, period
        )
        figures[period.label], verdicts[period.label] = {}, {}
        for scope in scopes:
            per: dict[str, IndicatorValue] = {}
            for i in indicators:
                fig = figs[scope.id][i.indicator]
                reading = read(ctx.targets, i.indicator, scope, period.year, fig, target_set)
                per[i.indicator] = value_of_reading(i, scope, period, reading)
            figures[period.label][scope.id] = per
            verdicts[period.label][scope.id] = {
                name: shown_verdict(v.verdict, v.denominator, counted[name], min_denominator)
                for name, v in per.items()
            }
        if period is year:
            for scope in units:
                fig = figs[scope.id][UNIT_INDICATOR]
                reading = read(ctx.targets, UNIT_INDICATOR, scope, year.year, fig, target_set)
                unit_values[scope.id] = value_of_reading(unit_indicator, scope, year, reading)
    dossiers = {r.agency_code: r for r in report.agencies}
    unit_groups = []
    for group, group_scope in GROUP_SCOPES.items():
        members = []
        for a in units_now:
            if a.group is not group:
                continue
            v = unit_values[a.agency_code]
            d = dossiers.get(a.agency_code)
            members.append(
                UnitRow(
                    a.agency_code,
                    a.name,
                    v,
                    shown_verdict(
                        v.verdict, v.denominator, counted[UNIT_INDICATOR], min_denominator
                    ),
                    d.open if d else 0,
                    d.overdue if d else 0,
                )
            )
        members.sort(key=lambda r: r.order("value"))
        unit_groups.append(UnitGroup(group.value, scope_name(group_scope, day), members))
    month, units766 = await month_index766(ctx, catalogs, now)
    directory = mail_dir(ctx)
    return BoardData(
        now=now,
        today=today,
        year=year,
        alerts=alerts,
        open_total=report.open,
        overdue_total=report.overdue,
        due_total=report.due_within_24h,
        open_rows=rows,
        figures=figures,
        indicators=[i.indicator for i in indicators],
        mail=recent(directory, MAIL_SHOWN),
        mail_dir=str(directory) if directory else None,
        units=unit_groups,
        min_denominator=min_denominator,
        verdicts=verdicts,
        month=month,
        index766=units766,
        orphans=orphans,
    )


async def month_index766(
    ctx: ApiContext, catalogs: Catalogs, now: datetime
) -> tuple[Period | None, tuple[Unit766, ...]]:
    """Every unit valid today: its 766 score this month so far (judged now) and the points
    its open overdue dossiers cost; the costliest first."""
    day = local_date(now)
    month = month_period(day.year, day.month)
    ev = evaluation(month, now.timestamp())
    table = table_for(ev)
    if table is None:
        return None, ()
    agencies = catalogs.agencies.valid_on(day)
    raws = await units_raws(ctx.store, [a.agency_code for a in agencies], ev)
    rows: list[Unit766] = []
    for agency in agencies:
        raw = raws[agency.agency_code]
        procs = catalog_facts(catalogs.procedures, agency.agency_code, ev.day)
        total, band, _ = table.totals(unit_pairs(raw, procs))
        best = table.totals(unit_pairs(without_open_overdue(raw), procs))[0]
        rows.append(
            Unit766(
                agency.agency_code,
                agency.name,
                agency.group.value,
                float(total),
                band.value,
                raw.overdue(OPEN_KINDS[0]),
                float(max(best - total, Decimal(0))),
            )
        )
    rows.sort(key=lambda r: (-r.cost, r.total, r.agency_code))
    return month, tuple(rows)
