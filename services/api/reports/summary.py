"""The leaders' one-page summary for a month: how many agencies meet the target, the best
and worst five, and the change since the previous month. Each month's province holds the
agencies valid in that month (§4a.6)."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel

from services.api.reports.rankings import RankedAgency, ranking
from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind, month_end
from shared.domain.scopes import Scope, scope_in
from shared.domain.targets import TargetBook
from shared.readmodel.display import pct, points
from shared.readmodel.indicator_query import Verdict, scope_values
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore


class Mover(BaseModel):
    agency_code: str
    agency_name: str
    value: float
    previous: float
    change_points: float


class LeadersSummary(BaseModel):
    month: str
    indicator: str
    name_vi: str
    target_set: str | None
    province_value: float | None
    province_previous: float | None
    province_change_points: float | None
    agencies_meeting: int
    agencies_below: int
    agencies_not_evaluated: int
    best: list[RankedAgency]
    worst: list[RankedAgency]
    movers: list[Mover]
    text: str


def _month(year: int, month: int) -> Period:
    return Period(
        PeriodKind.month, date(year, month, 1), month_end(year, month), f"{year}-{month:02d}"
    )


async def leaders_summary(
    store: IndicatorStore,
    catalogs: Catalogs,
    targets: TargetBook,
    indicator: Indicator,
    province: Scope,
    year: int,
    month: int,
    target_set: str | None,
) -> LeadersSummary:
    this = _month(year, month)
    last_day = this.start - timedelta(days=1)
    prev = _month(last_day.year, last_day.month)
    now_scope = scope_in(province, catalogs.agencies, this.start, this.end)
    prev_scope = scope_in(province, catalogs.agencies, prev.start, prev.end)
    now_rank = await ranking(store, catalogs, targets, indicator, now_scope, this, target_set, 5)
    prev_rank = await ranking(store, catalogs, targets, indicator, prev_scope, prev, target_set, 5)
    (now_p,) = await scope_values(
        store, catalogs, targets, [indicator], now_scope, this, target_set
    )
    (prev_p,) = await scope_values(
        store, catalogs, targets, [indicator], prev_scope, prev, target_set
    )
    before = {r.agency_code: r.value for r in prev_rank.agencies}
    movers = sorted(
        (
            Mover(
                agency_code=r.agency_code,
                agency_name=r.agency_name,
                value=r.value,
                previous=p,
                change_points=r.value - p,
            )
            for r in now_rank.agencies
            if r.value is not None and (p := before.get(r.agency_code)) is not None
        ),
        key=lambda m: -abs(m.change_points),
    )[:5]
    verdicts = [r.verdict for r in now_rank.agencies]
    meeting = verdicts.count(Verdict.meets)
    below = verdicts.count(Verdict.below)
    change = None if now_p.value is None or prev_p.value is None else now_p.value - prev_p.value

    lines = [
        f"{indicator.name_vi} — tháng {month:02d}/{year}",
        f"Toàn tỉnh: {pct(now_p.value)} (tháng trước {pct(prev_p.value)}"
        + ("" if change is None else f", {points(change)}")
        + ")",
        f"Đạt chỉ tiêu: {meeting} cơ quan; chưa đạt: {below}; "
        f"không đánh giá: {len(verdicts) - meeting - below}",
        "Biểu dương: " + "; ".join(f"{r.agency_name} {pct(r.value)}" for r in now_rank.best),
        "Phê bình: " + "; ".join(f"{r.agency_name} {pct(r.value)}" for r in now_rank.worst),
    ]
    return LeadersSummary(
        month=this.label,
        indicator=indicator.indicator,
        name_vi=indicator.name_vi,
        target_set=target_set,
        province_value=now_p.value,
        province_previous=prev_p.value,
        province_change_points=change,
        agencies_meeting=meeting,
        agencies_below=below,
        agencies_not_evaluated=len(verdicts) - meeting - below,
        best=now_rank.best,
        worst=now_rank.worst,
        movers=movers,
        text="\n".join(lines) + "\n",
    )
