"""Targets of the merged province (domain README §6, §9; issue 18 item 5): Nghị quyết
188/NQ-CP's 70 % full-online for the province as a whole in 2025, carried over into 2026
with the other 2025 plan targets (and said so), and no target for ``level:huyen`` once the
district level has no member — on the catalog of An Giang in time
(``shared/domain/data/agencies-an-giang.csv``), loaded explicitly."""

from __future__ import annotations

from importlib import resources

import pytest

from shared.domain.catalog import parse_agencies_csv
from shared.domain.indicators import load_indicators
from shared.domain.periods import Period, parse_period
from shared.domain.scopes import parse_scope
from shared.domain.targets import Target, TargetBook, load_targets
from shared.readmodel.figures import Figure, Verdict, read
from shared.readmodel.indicator_query import value_of_reading

CATALOG = parse_agencies_csv(
    resources.files("shared.domain.data").joinpath("agencies-an-giang.csv").read_text("utf-8")
)
BOOK = load_targets()
NQ188 = "nq188-2025"


def resolve(indicator: str, scope: str, period: str) -> Target | None:
    p = parse_period(period)
    return BOOK.resolve(indicator, parse_scope(scope, CATALOG, p.start, p.end), p.year)


def test_nq_188_is_data_with_its_document() -> None:
    (row,) = [t for t in BOOK.targets if t.target_set == NQ188]
    assert (row.indicator, row.applies_to, row.period, row.min_percent, row.kind) == (
        "full_online_rate",
        "province",
        2025,
        70,
        "plan",
    )
    assert "Nghị quyết 188/NQ-CP" in row.source and "Công văn 112/UBND-TH" in row.source


@pytest.mark.parametrize("period", ["2025", "2025-03", "2025-09", "2026", "2026-11"])
def test_the_province_is_judged_on_nq_188_in_2025_and_2026(period: str) -> None:
    got = resolve("full_online_rate", "province", period)
    assert got is not None and (got.target_set, got.min_percent) == (NQ188, 70)
    assert got.carried_over(parse_period(period).year) is (period[:4] == "2026")


def test_nq_188_is_for_the_province_as_a_whole_not_for_each_unit() -> None:
    # a unit keeps its group's target: 85 for a department, 70 for a commune (kh-1205-2025)
    dept, commune = (
        resolve("full_online_rate", "H01.01", "2026"),
        resolve("full_online_rate", "H01.187", "2026"),
    )
    assert dept is not None and (dept.target_set, dept.min_percent) == ("kh-1205-2025", 85)
    assert commune is not None and (commune.target_set, commune.min_percent) == (
        "kh-1205-2025",
        70,
    )
    # and the province is not judged on it in 2024 (the appendix's evaluation set is)
    y2024 = resolve("full_online_rate", "province", "2024")
    assert y2024 is not None and y2024.target_set == "cv-112-eval-2024"


@pytest.mark.parametrize("period", ["2025-07", "2025-12", "2026", "2026-11"])
def test_level_huyen_has_no_member_and_no_target_after_june_2025(period: str) -> None:
    p = parse_period(period)
    assert parse_scope("level:huyen", CATALOG, p.start, p.end).members == ()
    for indicator in ("work_file_online_rate", "full_online_rate", "online_rate"):
        assert resolve(indicator, "level:huyen", period) is None, indicator


def test_level_huyen_keeps_its_target_while_it_has_districts() -> None:
    for period in ("2025", "2025-06"):
        got = resolve("work_file_online_rate", "level:huyen", period)
        assert got is not None and (got.target_set, got.min_percent) == ("nq17-2025", 80)
    # the communes of the merged province get theirs (carried over in 2026)
    xa = resolve("work_file_online_rate", "level:xa", "2026")
    assert xa is not None and (xa.min_percent, xa.carried_over(2026)) == (65, True)


def _value(scope: str, period: Period, fig: Figure) -> tuple[float | None, object, object]:
    ind = load_indicators()["full_online_rate"]
    sc = parse_scope(scope, CATALOG, period.start, period.end)
    v = value_of_reading(ind, sc, period, read(BOOK, ind.indicator, sc, period.year, fig))
    return v.target, (v.target_set, v.target_year, v.target_carried_over), v.verdict


def test_the_api_value_says_which_year_a_target_comes_from() -> None:
    fig = Figure(69, 100)
    y2025, y2026 = parse_period("2025-11"), parse_period("2026-11")
    assert _value("province", y2025, fig) == (70, (NQ188, 2025, False), Verdict.below)
    assert _value("province", y2026, Figure(71, 100)) == (70, (NQ188, 2025, True), Verdict.meets)
    assert _value("group:dia_phuong", y2026, fig) == (
        70,
        ("kh-1205-2025", 2025, True),
        Verdict.below,
    )
    # a district scope of 2026 has no member: no target, no verdict
    assert _value("level:huyen", y2026, Figure(0, 0)) == (None, (None, None, False), None)


def test_carried_over_is_for_plan_rows_of_earlier_years_only() -> None:
    plan = Target(
        target_set="p",
        indicator="x",
        applies_to="all",
        period=2025,
        min_percent=50,
        source="s",
    )
    assert not plan.carried_over(2025) and plan.carried_over(2026) and plan.carried_over(2031)
    evaluation = plan.model_copy(update={"kind": "evaluation"})
    assert not evaluation.carried_over(2026)
    assert TargetBook([plan]).resolve("x", parse_scope("H01.101", CATALOG), 2027) == plan
