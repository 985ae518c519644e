from __future__ import annotations

from datetime import date

import pytest

from shared.domain.catalog import load_agencies
from shared.domain.exceptions import PeriodError, ScopeError
from shared.domain.periods import PeriodKind, decompose, parse_period
from shared.domain.scopes import parse_scope
from shared.domain.targets import load_targets

CATALOG = load_agencies()


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("2024", PeriodKind.year, date(2024, 1, 1), date(2024, 12, 31)),
        ("2024-Q1", PeriodKind.quarter, date(2024, 1, 1), date(2024, 3, 31)),
        ("2024-Q4", PeriodKind.quarter, date(2024, 10, 1), date(2024, 12, 31)),
        ("2024-02", PeriodKind.month, date(2024, 2, 1), date(2024, 2, 29)),
        ("2024-12-31", PeriodKind.day, date(2024, 12, 31), date(2024, 12, 31)),
        ("2024-01-15..2024-03-10", PeriodKind.range, date(2024, 1, 15), date(2024, 3, 10)),
    ],
)
def test_parse_period(text: str, kind: PeriodKind, start: date, end: date) -> None:
    p = parse_period(text)
    assert (p.kind, p.start, p.end) == (kind, start, end)


def test_rolling_ends_today() -> None:
    p = parse_period("rolling:7d", today=date(2026, 3, 3))
    assert (p.start, p.end) == (date(2026, 2, 25), date(2026, 3, 3))


@pytest.mark.parametrize(
    "bad",
    [
        "24",
        "2024-13",
        "2024-Q5",
        "2024-02-30",
        "2024-03-01..2024-01-01",
        "rolling:0d",
        "last-week",
        "",
    ],
)
def test_bad_periods(bad: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(bad)


def test_decompose_uses_whole_years_and_months() -> None:
    b = decompose(date(2023, 12, 30), date(2025, 2, 2))
    assert b.years == (2024,)
    assert b.months == ((2025, 1),)
    assert b.days == (date(2023, 12, 30), date(2023, 12, 31), date(2025, 2, 1), date(2025, 2, 2))


def test_decompose_covers_every_day_once() -> None:
    start, end = date(2024, 1, 17), date(2024, 11, 3)
    b = decompose(start, end)
    covered = (
        len(b.days)
        + sum((date(y + (m == 12), m % 12 + 1, 1) - date(y, m, 1)).days for y, m in b.months)
        + sum(366 if y % 4 == 0 else 365 for y in b.years)
    )
    assert covered == (end - start).days + 1


def test_scopes() -> None:
    assert len(parse_scope("province", CATALOG).members) == len(CATALOG)
    # the province of 2024: 20 provincial units, 11 districts
    y2024 = (date(2024, 1, 1), date(2024, 12, 31))
    assert len(parse_scope("group:dia_phuong", CATALOG, *y2024).members) == 11
    assert len(parse_scope("level:tinh", CATALOG, *y2024).members) == 20
    assert len(parse_scope("level:huyen", CATALOG, *y2024).members) == 11
    # the merged province of 2026: 15 provincial units and the People's Committee's
    # office, 102 commune-level units, no district
    y2026 = (date(2026, 1, 1), date(2026, 12, 31))
    assert len(parse_scope("group:dia_phuong", CATALOG, *y2026).members) == 102
    assert len(parse_scope("level:tinh", CATALOG, *y2026).members) == 16
    assert parse_scope("level:huyen", CATALOG, *y2026).members == ()
    assert parse_scope("so-tttt", CATALOG).kind == "agency"
    assert parse_scope("H01.187", CATALOG).kind == "agency"
    for bad in ("group:x", "level:quoc_gia", "so-khong-co"):
        with pytest.raises(ScopeError):
            parse_scope(bad, CATALOG)


def test_targets_in_force_and_target_sets() -> None:
    book = load_targets()
    district = parse_scope("ubnd-an-phu", CATALOG)
    dept = parse_scope("so-tttt", CATALOG)
    assert book.resolve("full_online_rate", district, 2024).min_percent == 50  # type: ignore[union-attr]
    assert book.resolve("full_online_rate", dept, 2024).min_percent == 70  # type: ignore[union-attr]
    # the 2025 targets stay in force in 2026
    assert book.resolve("full_online_rate", dept, 2026).min_percent == 85  # type: ignore[union-attr]
    assert book.resolve("full_online_rate", district, 2026).min_percent == 70  # type: ignore[union-attr]
    # the evaluation set judges every agency at 70 %
    evaluated = book.resolve("full_online_rate", district, 2024, "cv-112-eval-2024")
    assert evaluated is not None and evaluated.min_percent == 70
    # a 2030 goal does not replace the yearly targets before 2030
    online = book.resolve("online_rate", dept, 2026)
    assert online is not None and online.min_percent == 50
    assert book.resolve("online_rate", dept, 2030).min_percent == 60  # type: ignore[union-attr]
    # levels select their own work-file targets
    commune_free = book.resolve("work_file_online_rate", district, 2025)
    assert commune_free is not None and commune_free.min_percent == 80
    assert book.resolve("full_online_rate", dept, 2023) is None


@pytest.mark.parametrize("bad", ["0000", "0000-01", "2014", "2101-Q1", "2014-12-31..2015-01-02"])
def test_periods_outside_the_contract_years_are_errors_not_crashes(bad: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(bad)
