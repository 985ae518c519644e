"""Calendar periods in Asia/Ho_Chi_Minh (domain README §4, §7).

A period string is ``YYYY``, ``YYYY-Qn``, ``YYYY-MM``, ``YYYY-MM-DD``, ``FROM..TO``
(dates, inclusive) or ``rolling:Nd`` (N days ending today). Reads decompose a period
into whole years, whole months and single days, the buckets the calculator counts in.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from shared.domain.calendar import today_local
from shared.domain.exceptions import PeriodError


class PeriodKind(StrEnum):
    year = "year"
    quarter = "quarter"
    month = "month"
    day = "day"
    range = "range"
    rolling = "rolling"


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date
    end: date  # inclusive
    label: str

    @property
    def year(self) -> int:
        """The year whose targets judge this period (the year it ends in)."""
        return self.end.year

    def days(self) -> int:
        return (self.end - self.start).days + 1


_YEAR = re.compile(r"^(\d{4})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_ROLLING = re.compile(r"^rolling:(\d{1,4})d$")

PERIOD_FORMATS = "YYYY, YYYY-Qn, YYYY-MM, YYYY-MM-DD, YYYY-MM-DD..YYYY-MM-DD or rolling:Nd"


def month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _parse_date(text: str) -> date:
    if not _DAY.match(text):
        raise PeriodError(f"{text!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise PeriodError(f"{text!r} is not a valid date") from exc


MIN_YEAR, MAX_YEAR = 2015, 2100  # events before 2015 are rejected by the contract


def parse_period(text: str, *, today: date | None = None) -> Period:
    period = _parse_period(text.strip(), today)
    if period.start.year < MIN_YEAR or period.end.year > MAX_YEAR:
        raise PeriodError(f"{text!r} is outside {MIN_YEAR}..{MAX_YEAR}")
    return period


def _parse_period(text: str, today: date | None) -> Period:
    try:
        return _parse(text, today)
    except PeriodError:
        raise
    except ValueError as exc:  # e.g. year 0000: no such date
        raise PeriodError(f"{text!r} is not a valid period: {exc}") from None


def _parse(text: str, today: date | None) -> Period:
    if m := _YEAR.match(text):
        y = int(m[1])
        return Period(PeriodKind.year, date(y, 1, 1), date(y, 12, 31), text)
    if m := _QUARTER.match(text):
        y, q = int(m[1]), int(m[2])
        return Period(PeriodKind.quarter, date(y, 3 * q - 2, 1), month_end(y, 3 * q), text)
    if m := _MONTH.match(text):
        y, mo = int(m[1]), int(m[2])
        if not 1 <= mo <= 12:
            raise PeriodError(f"month {mo} is not 01..12")
        return Period(PeriodKind.month, date(y, mo, 1), month_end(y, mo), text)
    if _DAY.match(text):
        d = _parse_date(text)
        return Period(PeriodKind.day, d, d, text)
    if ".." in text:
        left, _, right = text.partition("..")
        start, end = _parse_date(left), _parse_date(right)
        if end < start:
            raise PeriodError("range end is before its start")
        if (end - start).days > 3660:
            raise PeriodError("range is longer than 10 years")
        return Period(PeriodKind.range, start, end, text)
    if m := _ROLLING.match(text):
        n = int(m[1])
        if not 1 <= n <= 3660:
            raise PeriodError("rolling window must be 1..3660 days")
        end = today or today_local()
        return Period(PeriodKind.rolling, end - timedelta(days=n - 1), end, text)
    raise PeriodError(f"{text!r} is not a period; expected {PERIOD_FORMATS}")


@dataclass(frozen=True)
class Buckets:
    years: tuple[int, ...]
    months: tuple[tuple[int, int], ...]
    days: tuple[date, ...]


def decompose(start: date, end: date) -> Buckets:
    """Cover [start, end] with the fewest whole years, whole months and days."""
    years: list[int] = []
    months: list[tuple[int, int]] = []
    days: list[date] = []
    cur = start
    while cur <= end:
        year_end = date(cur.year, 12, 31)
        if cur.month == 1 and cur.day == 1 and year_end <= end:
            years.append(cur.year)
            cur = year_end + timedelta(days=1)
            continue
        m_end = month_end(cur.year, cur.month)
        if cur.day == 1 and m_end <= end:
            months.append((cur.year, cur.month))
            cur = m_end + timedelta(days=1)
            continue
        days.append(cur)
        cur += timedelta(days=1)
    return Buckets(tuple(years), tuple(months), tuple(days))
