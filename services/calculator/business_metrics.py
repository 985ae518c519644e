"""Business metrics for Prometheus: every indicator of every agency and aggregate scope,
for the current month and year to date, with its target; open and overdue dossiers per
agency (an ended unit's under the unit that continues it: shared/readmodel/open_holders.py);
the number of agencies meeting every target; the Decision 766 index of every unit
(``index766_metrics``).

Cardinality is bounded by the catalogs: (agencies valid in the period + the aggregate
scopes with members) × 14 indicators × 2 period kinds per metric — about 3,400 series for
the merged province's 118 units (117 on the national portal and the People's Committee's
office).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from datetime import date

import faust
from prometheus_client import REGISTRY, Gauge
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from services.calculator import index766_metrics, metrics
from shared.domain.calendar import local_date, now_utc
from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import Scope, parse_scope
from shared.domain.targets import TargetBook
from shared.platform.faust_app import on_leadership
from shared.readmodel.figures import Reading, Verdict, read_scopes
from shared.readmodel.open_holders import held_open
from shared.readmodel.scorecard import scorecard
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore

LABELS = ["scope", "indicator", "period"]
# Registered through LeaderOnly (below): only the group's leader exports them.
VALUE = Gauge("egov_indicator_value_percent", "Indicator value (percent)", LABELS, registry=None)
NUMERATOR = Gauge("egov_indicator_numerator", "Indicator numerator", LABELS, registry=None)
DENOMINATOR = Gauge("egov_indicator_denominator", "Indicator denominator", LABELS, registry=None)
TARGET = Gauge(
    "egov_indicator_target_percent",
    "Target in force (percent)",
    ["scope", "indicator", "target_set"],
    registry=None,
)
MEETS = Gauge(
    "egov_indicator_meets_target",
    "1 Đạt, 0 Chưa đạt against the target in force; no series when not evaluated or no target",
    LABELS,
    registry=None,
)
OPEN = Gauge("egov_dossiers_open", "Open dossiers", ["agency"], registry=None)
OVERDUE = Gauge("egov_dossiers_overdue", "Open dossiers past due_at", ["agency"], registry=None)
DUE_SOON = Gauge(
    "egov_dossiers_due_24h", "Open dossiers due within 24 hours", ["agency"], registry=None
)
MEETING = Gauge(
    "egov_agencies_meeting_all_targets",
    "Agencies meeting every target that applies to them (year to date)",
    registry=None,
)
JUDGED = Gauge(
    "egov_agencies_judged",
    "Agencies with at least one judged target (year to date)",
    registry=None,
)
# With the consumer lag of the whole group: every calculator would export the same.
GAUGES = (
    VALUE,
    NUMERATOR,
    DENOMINATOR,
    TARGET,
    MEETS,
    OPEN,
    OVERDUE,
    DUE_SOON,
    MEETING,
    JUDGED,
    *index766_metrics.GAUGES,
    metrics.CONSUMER_LAG,
)


class LeaderOnly(Collector):
    """The group's gauges, exported only by the group's leader.

    Every calculator reads the same figures from Redis and the same group lag from Kafka;
    exported by N of them, a sum over the group would count each figure N times. The
    leader alone exports them (its timer runs ``on_leader``), once it has set them since
    it became leader; the others export none — not even the unlabelled gauges' 0 — and
    forget what they had set."""

    def __init__(self, gauges: Iterable[Gauge]) -> None:
        self.gauges = tuple(gauges)
        self.is_leader: Callable[[], bool] = lambda: True  # the app's, once ``follow``ed
        self.fresh = True  # set since the last change of leadership

    def leading(self) -> bool:
        try:
            return self.is_leader()
        except Exception:  # the consumer not started (yet), or stopped: not leading
            return False

    def collect(self) -> Iterable[Metric]:
        if self.fresh and self.leading():
            for gauge in self.gauges:
                yield from gauge.collect()

    def describe(self) -> Iterable[Metric]:
        for gauge in self.gauges:
            yield from gauge.describe()


EXPORTED = LeaderOnly(GAUGES)
REGISTRY.register(EXPORTED)


def set_leader(leader: bool) -> None:
    """After a rebalance: the leader exports again after its next export; the others
    forget their values."""
    EXPORTED.fresh = False
    if not leader:
        for gauge in EXPORTED.gauges:
            if gauge in (MEETING, JUDGED):
                gauge.set(0)
            else:
                gauge.clear()


def follow(app: faust.App) -> None:
    """Export the group's gauges only while ``app`` is the group's leader."""
    EXPORTED.is_leader = app.is_leader
    EXPORTED.fresh = False
    on_leadership(app, set_leader)


AGGREGATES = (
    "province",
    "group:so_nganh",
    "group:dia_phuong",
    "level:tinh",
    "level:huyen",
    "level:xa",
)


def _scopes(catalogs: Catalogs, period: Period) -> list[Scope]:
    """The agencies valid at some time in the period and the aggregates of those (§4a.6);
    an aggregate with no member in the period (``level:huyen`` after 2025-06-30) has nothing
    to judge and no series."""
    valid = catalogs.agencies.valid_between(period.start, period.end)
    ids = [*(a.agency_code for a in valid), *AGGREGATES]
    scopes = [parse_scope(i, catalogs.agencies, period.start, period.end) for i in ids]
    return [s for s in scopes if s.members]


# the scope ids exported last time, per period kind: when they change (a new year, a
# reorganisation loaded), the series of the scopes gone are dropped
_EXPORTED_SCOPES: dict[str, frozenset[str]] = {}
_PER_SCOPE = (VALUE, NUMERATOR, DENOMINATOR, MEETS, TARGET)


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
    today = local_date(now)
    periods = {
        "month": Period(PeriodKind.month, today.replace(day=1), today, f"{today:%Y-%m}"),
        "year": Period(PeriodKind.year, date(today.year, 1, 1), today, str(today.year)),
    }
    read: dict[str, tuple[list[Scope], dict[str, dict[str, Reading]]]] = {}
    for kind, period in periods.items():
        scopes = _scopes(catalogs, period)
        read[kind] = (
            scopes,
            await read_scopes(store, catalogs, targets, scopes, indicators, period),
        )
    # no await from here on: a scrape sees the old series or the new ones, never a mix
    exported = {kind: frozenset(s.id for s in scopes) for kind, (scopes, _) in read.items()}
    if exported != _EXPORTED_SCOPES:
        for gauge in _PER_SCOPE:
            gauge.clear()
        _EXPORTED_SCOPES.clear()
        _EXPORTED_SCOPES.update(exported)
    for kind, (scopes, readings) in read.items():
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
    # an ended unit's open dossiers under the unit that continues it (domain README §4b)
    for code, held in (await held_open(store, catalogs.agencies, now)).items():
        total = held.total
        OPEN.labels(code).set(total.open)
        OVERDUE.labels(code).set(total.overdue)
        DUE_SOON.labels(code).set(total.due_soon)
    EXPORTED.fresh = True
