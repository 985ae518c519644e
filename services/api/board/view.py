"""What the ICT department's live board shows, read through the same functions as the API:
firing alerts (the alert store behind ``GET /v1/alerts?state=firing``), open and overdue
dossiers per agency (``GET /v1/dossiers/open``), today's and the year's figures of the
province and its groups (the read model's readings, as ``GET /v1/indicators/{indicator}``
makes them), and the last messages of the local mail sink."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from services.api.context import ApiContext
from services.api.public.results import AGGREGATES, month_period
from services.api.routes import reports as report_routes
from shared.domain.alerts import Alert, Severity
from shared.domain.calendar import local_date, now_utc
from shared.domain.periods import Period, PeriodKind
from shared.platform.mailbox import MailEntry, recent
from shared.readmodel.figures import read_scopes
from shared.readmodel.index766_inputs import (
    catalog_facts,
    evaluation,
    table_for,
    unit_pairs,
    units_raws,
    without_open_overdue,
)
from shared.readmodel.indicator_query import IndicatorValue, value_of_reading
from shared.store.alert_commands import firing_alerts
from shared.store.catalogs import Catalogs
from shared.store.index766_reads import OPEN_KINDS

BOARD_USER = "board"
MAIL_SHOWN = 8


@dataclass(frozen=True)
class OpenRow:
    agency_code: str
    name: str
    open: int
    overdue: int
    due_within_24h: int


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
    month: Period | None = None  # the month of ``index766`` (None: no scoring table)
    index766: tuple[Unit766, ...] = ()  # by cost, then total, then code


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
        )
        for r in report.agencies
        if r.open or r.overdue
    ]
    rows.sort(key=lambda r: (-r.overdue, -r.due_within_24h, -r.open, r.name))
    indicators = list(ctx.indicators.values())
    target_set = ctx.target_set(None)
    figures: dict[str, dict[str, dict[str, IndicatorValue]]] = {}
    for period in (today, year):
        # the three aggregates at once: each member agency is read once
        scopes = [ctx.scope(scope_id, catalogs, period) for scope_id in AGGREGATES]
        readings = await read_scopes(
            ctx.store, catalogs, ctx.targets, scopes, indicators, period, target_set
        )
        figures[period.label] = {
            scope.id: {
                i.indicator: value_of_reading(i, scope, period, readings[scope.id][i.indicator])
                for i in indicators
            }
            for scope in scopes
        }
    month, units = await month_index766(ctx, catalogs, now)
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
        month=month,
        index766=units,
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
