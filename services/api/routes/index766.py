"""The Decision 766 index (domain README §8): a scope's score, and the units of a group
ranked by it.

- ``GET /v1/index766?scope=&period=`` — a unit, ``group:so_nganh``, ``group:dia_phuong``,
  a level or ``province``; a month, a quarter or a year (to date while it runs).
- ``GET /v1/index766/rankings?group=so_nganh|dia_phuong&period=`` — the group's units
  valid in the period, by total (equal totals by code), with band and rank.

Figures of a closed period are judged at its end, those of the running one at the current
second; responses are cached until the figures behind them change (and, for the running
period, per second: the scores behind them are kept for as long as their inputs hold,
``services/api/reports/score_windows.py``).
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.api.context import ApiContext, Ctx, Reader
from services.api.errors import ERROR_RESPONSES, bad_parameter
from services.api.reports.index766 import (
    Index766Ranking,
    Index766Value,
    rank_units,
    ranking_of,
    scores_from,
    totals_from,
    value_of,
)
from shared.domain.calendar import today_local
from shared.domain.catalog import AgencyGroup
from shared.domain.exceptions import PeriodError
from shared.domain.index766 import ScoringTable
from shared.domain.periods import Period
from shared.domain.scopes import agency_scope
from shared.readmodel.index766_inputs import Evaluation, index_evaluation, units_raws
from shared.store.index766_reads import holds_until

router = APIRouter(prefix="/v1", tags=["index766"], responses=ERROR_RESPONSES)

ScopeQ = Annotated[
    str,
    Query(
        description="Agency code, group:so_nganh|dia_phuong, level:tinh|huyen|xa or province",
        examples=["province"],
    ),
]
PeriodQ = Annotated[
    str | None,
    Query(
        description="YYYY-MM, YYYY-Qn or YYYY (year to date while it runs); default: this year",
        examples=["2026-10"],
    ),
]
GroupQ = Annotated[str, Query(description="so_nganh or dia_phuong", examples=["dia_phuong"])]


def index_period(
    ctx: ApiContext, text: str | None, now_s: float | None = None
) -> tuple[Evaluation, ScoringTable]:
    """The evaluation of a month, quarter or year (default: this year) and the scoring table
    in force then (400 naming ``period`` otherwise)."""
    period: Period = ctx.period(text or str(today_local().year))
    try:
        return index_evaluation(period, time.time() if now_s is None else now_s)
    except PeriodError as exc:
        raise bad_parameter("period", str(exc)) from None


@router.get(
    "/index766",
    response_model=Index766Value,
    summary="Chỉ số phục vụ theo QĐ 766 — the Decision 766 index of a scope and period",
)
async def get_index766(
    ctx: Ctx, _: Reader, scope: ScopeQ = "province", period: PeriodQ = None
) -> Response:
    catalogs = await ctx.catalogs.current()
    ev, table = index_period(ctx, period)
    parsed = ctx.scope(scope, catalogs, ev.period)

    async def compute() -> Index766Value:
        # versions before the figures (a write meanwhile: its scores never reused)
        versions = tuple(await ctx.store.data_versions(parsed.codes))
        key = (parsed.id, ev.period.label, table.version, catalogs.version)
        scored = ctx.index766_scores.get(key, versions, ev)
        if scored is None:
            raws = await units_raws(ctx.store, sorted(set(parsed.codes)), ev)
            scored = scores_from(catalogs, table, ev, [parsed], raws)[0][parsed.id]
            ctx.index766_scores.put(key, versions, ev, holds_until(raws), scored)
        return value_of(parsed, catalogs.agencies, ev, scored)

    return await ctx.responses.respond(
        ("index766", parsed.id, ev.period.label, ev.instant_s, table.version),
        catalogs.version,
        parsed.codes,
        compute,
        family=("index766", parsed.id, ev.period.label, table.version),
    )


@router.get(
    "/index766/rankings",
    response_model=Index766Ranking,
    summary="Xếp hạng QĐ 766 trong khối — the units of a group ranked by the 766 index",
)
async def get_index766_rankings(
    ctx: Ctx, _: Reader, group: GroupQ = "so_nganh", period: PeriodQ = None
) -> Response:
    try:
        chosen = AgencyGroup(group)
    except ValueError:
        allowed = ", ".join(g.value for g in AgencyGroup)
        raise bad_parameter("group", f"unknown group {group!r}; allowed: {allowed}") from None
    catalogs = await ctx.catalogs.current()
    ev, table = index_period(ctx, period)
    members = ctx.scope(f"group:{chosen.value}", catalogs, ev.period).members
    units = [agency_scope(a) for a in members]

    async def compute() -> Index766Ranking:
        codes = [u.id for u in units]
        versions = tuple(await ctx.store.data_versions(codes))
        key = (chosen.value, ev.period.label, table.version, catalogs.version)
        totals = ctx.index766_totals.get(key, versions, ev)
        if totals is None:
            raws = await units_raws(ctx.store, codes, ev)
            totals = totals_from(catalogs, table, ev, raws)
            ctx.index766_totals.put(key, versions, ev, holds_until(raws), totals)
        ranked = rank_units(units, {code: t.total for code, t in totals.items()})
        return ranking_of(chosen.value, ev, table, ranked, totals)

    return await ctx.responses.respond(
        ("index766-rankings", chosen.value, ev.period.label, ev.instant_s, table.version),
        catalogs.version,
        [u.id for u in units],
        compute,
        family=("index766-rankings", chosen.value, ev.period.label, table.version),
    )
