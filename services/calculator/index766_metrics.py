"""The Decision 766 index for Prometheus (domain §8): each unit's total, this month so far
and year to date, with its group and band; the province and the two groups (scored on
their units' summed counts, never an average); how many units sit in each band.

Read with the same read model and scoring as ``GET /v1/index766`` (judged now: open
dossiers past due count late). Prometheus and Grafana are internal (the ICT department,
behind Grafana's login), like the running month's indicator series of
``business_metrics``: the public pages still show closed months only.

Cardinality: (units valid today + 3 aggregates) × 2 periods, one band each, plus
2 periods × 2 groups × 5 bands counts — about 250 series for the merged province.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from prometheus_client import Gauge

from shared.domain.calendar import local_date
from shared.domain.index766 import Band, ScoringTable
from shared.domain.periods import Period, PeriodKind, month_end
from shared.readmodel.index766_inputs import Pair, evaluation, table_for, units_pairs
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore

# Registered through business_metrics.LeaderOnly: only the group's leader exports them.
TOTAL = Gauge(
    "egov_index766_total_points",
    "Decision 766 index total (0..100) of a unit or aggregate, judged now; band: its xếp loại",
    ["scope", "group", "period", "band"],
    registry=None,
)
UNITS = Gauge(
    "egov_index766_units",
    "Units valid today in each Decision 766 band (xếp loại), by group",
    ["period", "group", "band"],
    registry=None,
)
GAUGES = (TOTAL, UNITS)
AGGREGATES = ("province", "group:so_nganh", "group:dia_phuong")
GROUPS = ("so_nganh", "dia_phuong")


@dataclass(frozen=True)
class Row:
    scope: str
    group: str
    period: str
    total: float
    band: Band


def _summed(per_unit: list[dict[str, Pair]]) -> dict[str, Pair]:
    out: dict[str, Pair] = {}
    for pairs in per_unit:
        for metric, (n, d) in pairs.items():
            n0, d0 = out.get(metric, (0, 0))
            out[metric] = (n0 + n, d0 + d)
    return out


def _period_rows(
    kind: str,
    table: ScoringTable,
    catalogs: Catalogs,
    pairs: dict[str, dict[str, Pair]],
    today: date,
) -> list[Row]:
    rows: list[Row] = []
    groups: dict[str, list[dict[str, Pair]]] = {g: [] for g in GROUPS}
    for code, unit in pairs.items():
        agency = catalogs.agencies.agencies[code]
        groups.setdefault(agency.group.value, []).append(unit)
        if agency.valid_on(today):
            total, band, _ = table.totals(unit)
            rows.append(Row(code, agency.group.value, kind, float(total), band))
    for scope in AGGREGATES:
        group = scope.removeprefix("group:")
        members = [
            p for g, units in groups.items() for p in units if scope == "province" or g == group
        ]
        if not members:
            continue
        total, band, _ = table.totals(_summed(members))
        rows.append(Row(scope, group, kind, float(total), band))
    return rows


async def read(store: IndicatorStore, catalogs: Catalogs, now: datetime) -> list[Row]:
    """Every unit's and aggregate's total this month so far and year to date (the units
    that exist at some time in the period; per-unit series only for those valid today)."""
    today = local_date(now)
    periods = {
        "month": Period(
            PeriodKind.month,
            today.replace(day=1),
            month_end(today.year, today.month),
            f"{today:%Y-%m}",
        ),
        "year": Period(
            PeriodKind.year, date(today.year, 1, 1), date(today.year, 12, 31), str(today.year)
        ),
    }
    rows: list[Row] = []
    for kind, period in periods.items():
        ev = evaluation(period, now.timestamp())
        table = table_for(ev)
        if table is None:
            continue  # before the index's first scoring table
        codes = [a.agency_code for a in catalogs.agencies.valid_between(period.start, ev.day)]
        pairs = await units_pairs(store, catalogs, codes, ev)
        rows += _period_rows(kind, table, catalogs, pairs, today)
    return rows


def publish(rows: list[Row]) -> None:
    """Replace the series (no await: a scrape sees the old ones or the new ones)."""
    TOTAL.clear()
    UNITS.clear()
    counts: dict[tuple[str, str, str], int] = {}
    for kind in {r.period for r in rows}:
        for group in GROUPS:
            for band in Band:
                counts[(kind, group, band.value)] = 0
    for row in rows:
        TOTAL.labels(row.scope, row.group, row.period, row.band.value).set(row.total)
        if row.scope not in AGGREGATES:
            key = (row.period, row.group, row.band.value)
            counts[key] = counts.get(key, 0) + 1
    for (kind, group, band_name), n in counts.items():
        UNITS.labels(kind, group, band_name).set(n)
