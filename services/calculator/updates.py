"""Coalesced indicator updates: at most one message per agency and year per interval."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from shared.indicators import Indicator, ratio_percent
from shared.store import IndicatorStore


class IndicatorFigures(BaseModel):
    numerator: int
    denominator: int
    value: float | None


class IndicatorUpdate(BaseModel):
    """One message on the indicator-updates topic: an agency's year-to-date figures."""

    agency_code: str
    period: str
    indicators: dict[str, IndicatorFigures]
    published_at: datetime


class Coalescer:
    def __init__(self) -> None:
        self._pending: set[tuple[str, int]] = set()

    def touch(self, agency: str, year: int) -> None:
        self._pending.add((agency, year))

    def drain(self) -> list[tuple[str, int]]:
        pending, self._pending = sorted(self._pending), set()
        return pending


async def build_update(
    store: IndicatorStore,
    indicators: dict[str, Indicator],
    agency: str,
    year: int,
    now: datetime,
) -> IndicatorUpdate:
    marks = sorted({m for i in indicators.values() for m in (i.numerator, i.denominator)})
    sums = (await store.sum_marks([agency], date(year, 1, 1), date(year, 12, 31), marks))[agency]
    figures = {
        i.indicator: IndicatorFigures(
            numerator=sums[i.numerator],
            denominator=sums[i.denominator],
            value=ratio_percent(sums[i.numerator], sums[i.denominator]),
        )
        for i in indicators.values()
    }
    return IndicatorUpdate(
        agency_code=agency, period=str(year), indicators=figures, published_at=now
    )
