"""What the ICT department's live board shows, read through the same functions as the API:
firing alerts (the alert store behind ``GET /v1/alerts?state=firing``), open and overdue
dossiers per agency (``GET /v1/dossiers/open``), today's and the year's figures of the
province and its groups (the read model's readings, as ``GET /v1/indicators/{indicator}``
makes them), and the last messages of the local mail sink."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from services.api.context import ApiContext
from services.api.public.results import AGGREGATES
from services.api.routes import reports as report_routes
from shared.domain.alerts import Alert, Severity
from shared.domain.calendar import local_date, now_utc
from shared.domain.periods import Period, PeriodKind
from shared.platform.mailbox import MailEntry, recent
from shared.readmodel.figures import read_scopes
from shared.readmodel.indicator_query import IndicatorValue, value_of_reading
from shared.store.alert_commands import firing_alerts

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
    )


