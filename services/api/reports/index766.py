"""The Decision 766 index as the API and the publication page answer it: per scope the
scoring version, total, band, the six groups and every metric (numerator, denominator,
ratio, points, max); rankings of a group's units by total.

The counts are the read model's (``shared.readmodel.index766_inputs``); every scope of one
answer is computed from one read of its units, aggregates as summed counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import AgencyCatalog
from shared.domain.index766 import Band, Counts, IndexScore, ScoringTable
from shared.domain.scopes import Scope, ScopeKind, scope_name
from shared.readmodel.index766_inputs import (
    Evaluation,
    aggregate,
    catalog_facts,
    unit_counts,
    unit_pairs,
    units_raws,
)
from shared.store.catalogs import Catalogs
from shared.store.index766_reads import Raw766
from shared.store.indicator_store import IndicatorStore


class MetricValue(BaseModel):
    metric: str = Field(examples=["ON_TIME"])
    name: str = Field(description="Tên chỉ tiêu (Vietnamese)")
    group: str = Field(examples=["TDGQ"])
    method: str = Field(description="linear, threshold or monitor")
    numerator: int
    denominator: int
    ratio: float | None = Field(description="percent; null when 0/0")
    points: float | None = Field(description="null: a monitor metric (shown, never scored)")
    max: float


class GroupValue(BaseModel):
    group: str = Field(examples=["CKMB"])
    name: str
    points: float
    max: float


class Index766Value(BaseModel):
    scope: str
    scope_name: str
    period: str
    evaluated_at: datetime = Field(description="the evaluation instant (period end, or now)")
    closed: bool = Field(description="false while the period runs (figures so far)")
    agencies: int = Field(description="units summed (1 for a unit)")
    version: str = Field(description="the scoring table's version")
    total: float
    band: str = Field(description="Xếp loại: Xuất sắc, Tốt, Khá, Trung bình, Yếu")
    groups: list[GroupValue]
    metrics: list[MetricValue]


class RankedUnit(BaseModel):
    rank: int
    agency_code: str
    agency_name: str
    total: float
    band: str
    groups: list[GroupValue]


class Index766Ranking(BaseModel):
    group: str
    period: str
    evaluated_at: datetime
    closed: bool
    version: str
    units: list[RankedUnit]


def instant(ev: Evaluation) -> datetime:
    return datetime.fromtimestamp(ev.instant_s, UTC).astimezone(LOCAL_TZ)


def groups_of(scored: IndexScore) -> list[GroupValue]:
    return [
        GroupValue(group=g.group, name=g.name, points=float(g.points), max=float(g.max))
        for g in scored.groups
    ]


def value_of(
    scope: Scope, catalog: AgencyCatalog, ev: Evaluation, scored: IndexScore
) -> Index766Value:
    return Index766Value(
        scope=scope.id,
        scope_name=scope_name(scope.id, ev.period.end, catalog),
        period=ev.period.label,
        evaluated_at=instant(ev),
        closed=ev.closed,
        agencies=len(scope.members),
        version=scored.version,
        total=float(scored.total),
        band=scored.band.value,
        groups=groups_of(scored),
        metrics=[
            MetricValue(
                metric=m.metric,
                name=m.name,
                group=m.group,
                method=m.method.value,
                numerator=m.numerator,
                denominator=m.denominator,
                ratio=None if m.ratio is None else round(m.ratio, 2),
                points=None if m.points is None else float(m.points),
                max=float(m.max),
            )
            for m in scored.metrics
        ],
    )


async def scope_scores(
    store: IndicatorStore,
    catalogs: Catalogs,
    table: ScoringTable,
    ev: Evaluation,
    scopes: Sequence[Scope],
) -> tuple[dict[str, IndexScore], dict[str, dict[str, Counts]]]:
    """The index of each scope (and each unit's counts), from one read of their units."""
    codes = sorted({c for s in scopes for c in s.codes})
    return scores_from(catalogs, table, ev, scopes, await units_raws(store, codes, ev))


def scores_from(
    catalogs: Catalogs,
    table: ScoringTable,
    ev: Evaluation,
    scopes: Sequence[Scope],
    raws: Mapping[str, Raw766],
) -> tuple[dict[str, IndexScore], dict[str, dict[str, Counts]]]:
    """:func:`scope_scores` of the inputs read (``units_raws`` of the scopes' units)."""
    per_unit = {
        code: unit_counts(raw, catalog_facts(catalogs.procedures, code, ev.day))
        for code, raw in raws.items()
    }
    out: dict[str, IndexScore] = {}
    for scope in scopes:
        counts: Mapping[str, Counts] = (
            per_unit[scope.id]
            if scope.kind is ScopeKind.agency
            else aggregate(per_unit, scope.codes)
        )
        out[scope.id] = table.score(counts)
    return out, per_unit


def rank_units(units: Sequence[Scope], totals: Mapping[str, Decimal]) -> list[tuple[int, Scope]]:
    """Units by total, best first, equal totals by code (ranks 1, 2, 3…)."""
    ordered = sorted(units, key=lambda u: (-totals[u.id], u.id))
    return [(i + 1, unit) for i, unit in enumerate(ordered)]


@dataclass(frozen=True)
class Totals:
    """A unit's total, band and group points (``ScoringTable.totals``)."""

    total: Decimal
    band: Band
    groups: dict[str, Decimal]


async def unit_totals(
    store: IndicatorStore,
    catalogs: Catalogs,
    table: ScoringTable,
    ev: Evaluation,
    units: Sequence[Scope],
) -> dict[str, Totals]:
    """Each unit's total, band and groups, from one read (no per-metric model: a ranking)."""
    return totals_from(catalogs, table, ev, await units_raws(store, [u.id for u in units], ev))


def totals_from(
    catalogs: Catalogs, table: ScoringTable, ev: Evaluation, raws: Mapping[str, Raw766]
) -> dict[str, Totals]:
    """:func:`unit_totals` of the inputs read (``units_raws`` of the units)."""
    return {
        code: Totals(
            *table.totals(unit_pairs(raw, catalog_facts(catalogs.procedures, code, ev.day)))
        )
        for code, raw in raws.items()
    }


def light_groups(table: ScoringTable, points: Mapping[str, Decimal]) -> list[GroupValue]:
    meta: dict[str, tuple[str, Decimal]] = {}
    for rule in table.rules:
        meta.setdefault(rule.group, (rule.group_name, rule.group_max))
    return [
        GroupValue(group=g, name=name, points=float(points[g]), max=float(top))
        for g, (name, top) in meta.items()
    ]


def ranking_of(
    group: str,
    ev: Evaluation,
    table: ScoringTable,
    ranked: Sequence[tuple[int, Scope]],
    totals: Mapping[str, Totals],
) -> Index766Ranking:
    return Index766Ranking(
        group=group,
        period=ev.period.label,
        evaluated_at=instant(ev),
        closed=ev.closed,
        version=table.version,
        units=[
            RankedUnit(
                rank=rank,
                agency_code=unit.id,
                agency_name=unit.members[0].name,
                total=float(totals[unit.id].total),
                band=totals[unit.id].band.value,
                groups=light_groups(table, totals[unit.id].groups),
            )
            for rank, unit in ranked
        ],
    )
