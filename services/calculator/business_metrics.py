"""Business metrics for Prometheus: every indicator of every agency and aggregate scope,
for the current month and year to date, with its target; open and overdue dossiers per
agency; the number of agencies meeting every target.

Cardinality is bounded by the catalogs: (agencies + 6 aggregate scopes) × 14 indicators
× 2 period kinds per metric — about 1,000 series for this province's 31 agencies.
"""

from __future__ import annotations

import contextlib
from datetime import date

from prometheus_client import Gauge

from shared.catalog_store import Catalogs
from shared.figures import Reading, Verdict, read_scopes
from shared.indicators import Indicator
from shared.periods import Period, PeriodKind
from shared.scopes import Scope, parse_scope
from shared.scorecard import scorecard
from shared.store import IndicatorStore
from shared.targets import TargetBook
from shared.timeutil import LOCAL_TZ, now_utc

LABELS = ["scope", "indicator", "period"]
VALUE = Gauge("egov_indicator_value_percent", "Indicator value (percent)", LABELS)
NUMERATOR = Gauge("egov_indicator_numerator", "Indicator numerator", LABELS)
DENOMINATOR = Gauge("egov_indicator_denominator", "Indicator denominator", LABELS)
TARGET = Gauge(
    "egov_indicator_target_percent",
    "Target in force (percent)",
    ["scope", "indicator", "target_set"],
)
MEETS = Gauge(
    "egov_indicator_meets_target",
    "1 Đạt, 0 Chưa đạt against the target in force; no series when not evaluated or no target",
    LABELS,
)
OPEN = Gauge("egov_dossiers_open", "Open dossiers", ["agency"])
OVERDUE = Gauge("egov_dossiers_overdue", "Open dossiers past due_at", ["agency"])
DUE_SOON = Gauge("egov_dossiers_due_24h", "Open dossiers due within 24 hours", ["agency"])
MEETING = Gauge(
    "egov_agencies_meeting_all_targets",
    "Agencies meeting every target that applies to them (year to date)",
)
JUDGED = Gauge("egov_agencies_judged", "Agencies with at least one judged target (year to date)")

AGGREGATES = (
    "province",
    "group:so_nganh",
    "group:dia_phuong",
    "level:tinh",
    "level:huyen",
    "level:xa",
)


def _scopes(catalogs: Catalogs, period: Period) -> list[Scope]:
    """The agencies valid at some time in the period and the aggregates of those (§4a.6)."""
    valid = catalogs.agencies.valid_between(period.start, period.end)
    ids = [*(a.agency_code for a in valid), *AGGREGATES]
    return [parse_scope(i, catalogs.agencies, period.start, period.end) for i in ids]


def set_reading(kind: str, reading: Reading) -> None:
    """The series of one reading of the read model (no value, no verdict: no series)."""
    labels = (reading.scope, reading.indicator, kind)
    NUMERATOR.labels(*labels).set(reading.figure.numerator)
    DENOMINATOR.labels(*labels).set(reading.figure.denominator)
    if reading.value is None:
        with contextlib.suppress(KeyError):  # not evaluated: no series
            VALUE.remove(*labels)
    else:
        VALUE.labels(*labels).set(reading.value)
    if reading.judged:
        MEETS.labels(*labels).set(1 if reading.verdict is Verdict.meets else 0)
    else:
        with contextlib.suppress(KeyError):
            MEETS.remove(*labels)
    if kind == "year" and reading.target is not None:
        target = reading.target
        TARGET.labels(reading.scope, reading.indicator, target.target_set).set(target.min_percent)


async def export(
    store: IndicatorStore, catalogs: Catalogs, targets: TargetBook, indicators: list[Indicator]
) -> None:
    now = now_utc()
    today = now.astimezone(LOCAL_TZ).date()
    periods = {
        "month": Period(PeriodKind.month, today.replace(day=1), today, f"{today:%Y-%m}"),
        "year": Period(PeriodKind.year, date(today.year, 1, 1), today, str(today.year)),
    }
    codes = list(catalogs.agencies.agencies)
    for kind, period in periods.items():
        scopes = _scopes(catalogs, period)
        readings = await read_scopes(store, catalogs, targets, scopes, indicators, period)
        for scope in scopes:
            for ind in indicators:
                set_reading(kind, readings[scope.id][ind.indicator])
    card = await scorecard(
        store,
        catalogs,
        targets,
        indicators,
        parse_scope("province", catalogs.agencies, periods["year"].start, periods["year"].end),
        periods["year"],
        None,
    )
    MEETING.set(card.agencies_meeting_all)
    JUDGED.set(card.agencies_judged)
    counts = await store.open_counts(codes, now)
    for code, (n_open, overdue, soon) in counts.items():
        OPEN.labels(code).set(n_open)
        OVERDUE.labels(code).set(overdue)
        DUE_SOON.labels(code).set(soon)
