"""Reconciliation: an externally published figure (e.g. the national EMC system) beside
egov-monitor's own figure for the same indicator, scope and period, with the difference
and the counts behind it."""

from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.api.context import Admin, Ctx, Reader
from services.api.errors import ERROR_RESPONSES
from shared.domain.calendar import now_utc
from shared.readmodel.indicator_query import IndicatorValue, scope_values

router = APIRouter(prefix="/v1/reconciliations", tags=["reconciliation"], responses=ERROR_RESPONSES)
KEY = "recon:figures"


class ExternalFigure(BaseModel):
    indicator: str = Field(examples=["full_online_rate"])
    scope: str = Field(examples=["province"])
    period: str = Field(examples=["2024"])
    source: str = Field(min_length=1, max_length=64, examples=["EMC"])
    value: float = Field(ge=0, le=100, description="Published percent", examples=[23.43])
    numerator: int | None = Field(default=None, ge=0)
    denominator: int | None = Field(default=None, ge=0)
    note: str | None = Field(default=None, max_length=500)


class RecordedFigure(ExternalFigure):
    recorded_at: datetime
    recorded_by: str


class Reconciliation(BaseModel):
    external: RecordedFigure
    ours: IndicatorValue
    difference_points: float | None = Field(description="ours − external, percentage points")
    denominator_difference: int | None


def _field(f: ExternalFigure) -> str:
    return f"{f.indicator}|{f.scope}|{f.period}|{f.source}"


@router.post(
    "",
    response_model=Reconciliation,
    status_code=201,
    summary="Ghi nhận số liệu công bố bên ngoài — record an external figure",
)
async def record(ctx: Ctx, who: Admin, figure: ExternalFigure) -> Reconciliation:
    ours = await _ours(ctx, figure)  # validates indicator, scope and period first
    recorded = RecordedFigure(**figure.model_dump(), recorded_at=now_utc(), recorded_by=who)
    await ctx.redis.hset(KEY, _field(figure), recorded.model_dump_json())
    return _compare(recorded, ours)


@router.get(
    "",
    response_model=list[Reconciliation],
    summary="Đối chiếu số liệu — external figures beside egov-monitor's",
)
async def list_reconciliations(
    ctx: Ctx,
    _: Reader,
    indicator: Annotated[str | None, Query()] = None,
    scope: Annotated[str | None, Query()] = None,
    period: Annotated[str | None, Query()] = None,
) -> list[Reconciliation]:
    out = []
    for raw in (await ctx.redis.hgetall(KEY)).values():
        fig = RecordedFigure.model_validate(orjson.loads(raw))
        if (
            (indicator and fig.indicator != indicator)
            or (scope and fig.scope != scope)
            or (period and fig.period != period)
        ):
            continue
        out.append(_compare(fig, await _ours(ctx, fig)))
    return sorted(out, key=lambda r: _field(r.external))


async def _ours(ctx: Ctx, figure: ExternalFigure) -> IndicatorValue:
    catalogs = await ctx.catalogs.current()
    period = ctx.period(figure.period)
    values = await scope_values(
        ctx.store,
        catalogs,
        ctx.targets,
        [ctx.indicator(figure.indicator)],
        ctx.scope(figure.scope, catalogs, period),  # the agencies valid in the period
        period,
        None,
    )
    return values[0]


def _compare(external: RecordedFigure, ours: IndicatorValue) -> Reconciliation:
    diff = None if ours.value is None else ours.value - external.value
    den = None if external.denominator is None else ours.denominator - external.denominator
    return Reconciliation(
        external=external, ours=ours, difference_points=diff, denominator_difference=den
    )
