"""Target resolution per scope, year and target set (domain README §6, issue 11 item 3).

Expectations are derived by hand from ``shared/domain/data/targets.csv``:
``kh-1205-2024`` (plan): so_nganh 70, dia_phuong 50; ``kh-1205-2025`` (plan): so_nganh 85,
dia_phuong 70; ``nq188-2025`` (plan): the province as a whole 70; ``cv-112-eval-2024``
(evaluation, 2024 only): all 70. The rules are checked on the catalog of the 2024 reports
(``tests/fixtures/agencies-2024.csv``, no dates): 20 so_nganh agencies at level tinh, 11
dia_phuong at level huyen and none at level xa. (The packaged catalog is the province in
time, whose scopes change with the period.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.domain.catalog import (
    Agency,
    AgencyCatalog,
    AgencyGroup,
    AgencyLevel,
    parse_agencies_csv,
)
from shared.domain.scopes import Scope, ScopeKind, parse_scope
from shared.domain.targets import Target, TargetBook, load_targets
from tests.fixtures import AGENCIES_2024

CATALOG = parse_agencies_csv(AGENCIES_2024.read_text(encoding="utf-8"))
BOOK = load_targets()

DEPT = "so-tttt"  # so_nganh, level tinh
DISTRICT = "ubnd-an-phu"  # dia_phuong, level huyen
SCOPES = [
    DEPT,
    DISTRICT,
    "group:so_nganh",
    "group:dia_phuong",
    "level:tinh",
    "level:huyen",
    "level:xa",
    "province",
]

Expected = tuple[float, str] | None
EVAL = "cv-112-eval-2024"
KH24 = "kh-1205-2024"
KH25 = "kh-1205-2025"
NQ188 = "nq188-2025"
# an aggregate with no members has no target: whether the packaged catalog has communes
XA_MEMBERS = bool(parse_scope("level:xa", CATALOG).members)

# full_online_rate: scope -> target_set -> (2024, 2025, 2026)
DEPT_LIKE: dict[str | None, tuple[Expected, Expected, Expected]] = {
    # plan group row beats the `all` evaluation row in 2024; 2025 plan stays in force in 2026
    None: ((70, KH24), (85, KH25), (85, KH25)),
    # the evaluation set judges 2024 only
    EVAL: ((70, EVAL), None, None),
    # a 2025 plan is not in force in 2024
    KH25: (None, (85, KH25), (85, KH25)),
}
DISTRICT_LIKE: dict[str | None, tuple[Expected, Expected, Expected]] = {
    None: ((50, KH24), (70, KH25), (70, KH25)),
    EVAL: ((70, EVAL), None, None),
    KH25: (None, (70, KH25), (70, KH25)),
}
NOTHING: dict[str | None, tuple[Expected, Expected, Expected]] = {
    None: (None, None, None),
    EVAL: (None, None, None),
    KH25: (None, None, None),
}
FULL_ONLINE: dict[str, dict[str | None, tuple[Expected, Expected, Expected]]] = {
    DEPT: DEPT_LIKE,
    DISTRICT: DISTRICT_LIKE,
    # no row of their own: the value their members share
    "group:so_nganh": DEPT_LIKE,
    "group:dia_phuong": DISTRICT_LIKE,
    "level:tinh": DEPT_LIKE,
    "level:huyen": DISTRICT_LIKE,
    # no row, no members
    "level:xa": NOTHING,
    # `all` names the province: its own row in 2024 (evaluation); from 2025 its own row of
    # Nghị quyết 188 (carried over in 2026); inside kh-1205-2025 its members disagree
    "province": {
        None: ((70, EVAL), (70, NQ188), (70, NQ188)),
        EVAL: ((70, EVAL), None, None),
        KH25: (None, None, None),
    },
}


def _pair(target: Target | None) -> Expected:
    return None if target is None else (target.min_percent, target.target_set)


@pytest.mark.parametrize("scope_text", SCOPES)
@pytest.mark.parametrize("target_set", [None, EVAL, KH25])
@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_full_online_rate_per_scope_year_and_set(
    scope_text: str, target_set: str | None, year: int
) -> None:
    scope = parse_scope(scope_text, CATALOG)
    expected = FULL_ONLINE[scope_text][target_set][year - 2024]
    assert _pair(BOOK.resolve("full_online_rate", scope, year, target_set)) == expected


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_kh_1205_2024_named_stays_in_force_inside_its_set(year: int) -> None:
    # with the set named, only its rows count: nothing of it replaces the 2024 plan
    dept, district = parse_scope(DEPT, CATALOG), parse_scope(DISTRICT, CATALOG)
    assert _pair(BOOK.resolve("full_online_rate", dept, year, KH24)) == (70, KH24)
    assert _pair(BOOK.resolve("full_online_rate", district, year, KH24)) == (50, KH24)
    province = parse_scope("province", CATALOG)
    assert BOOK.resolve("full_online_rate", province, year, KH24) is None  # 70 vs 50


def test_level_tinh_and_group_so_nganh_agree() -> None:
    # the issue: level:tinh got 70 (the 2024 evaluation) while group:so_nganh got 85
    for year in (2025, 2026):
        level = BOOK.resolve("full_online_rate", parse_scope("level:tinh", CATALOG), year)
        group = BOOK.resolve("full_online_rate", parse_scope("group:so_nganh", CATALOG), year)
        assert level is not None and group is not None
        assert level.min_percent == group.min_percent == 85


ONLINE: dict[int, Expected] = {
    2024: None,  # nq17-2025 is not in force before 2025, ctr553-2030 not before 2030
    2025: (50, "nq17-2025"),
    2026: (50, "nq17-2025"),  # the 2030 goal does not replace it before 2030
    2029: (50, "nq17-2025"),
    2030: (60, "ctr553-2030"),
    2031: (60, "ctr553-2030"),
}


@pytest.mark.parametrize("scope_text", [s for s in SCOPES if s != "level:xa"])
@pytest.mark.parametrize("year", sorted(ONLINE))
def test_online_rate_all_row(scope_text: str, year: int) -> None:
    scope = parse_scope(scope_text, CATALOG)
    assert _pair(BOOK.resolve("online_rate", scope, year)) == ONLINE[year]


def test_online_rate_named_sets() -> None:
    dept = parse_scope(DEPT, CATALOG)
    assert BOOK.resolve("online_rate", dept, 2026, "ctr553-2030") is None
    assert _pair(BOOK.resolve("online_rate", dept, 2030, "ctr553-2030")) == (60, "ctr553-2030")
    assert _pair(BOOK.resolve("online_rate", dept, 2026, "nq17-2025")) == (50, "nq17-2025")
    assert BOOK.resolve("online_rate", parse_scope("level:xa", CATALOG), 2026) is None


WORK_FILE: dict[str, dict[int, Expected]] = {
    DEPT: {
        2024: None,
        2025: (90, "nq17-2025"),
        2026: (90, "nq17-2025"),
        2030: (100, "ctr553-2030"),
    },
    DISTRICT: {
        2024: None,
        2025: (80, "nq17-2025"),
        2026: (80, "nq17-2025"),
        2030: (100, "ctr553-2030"),
    },
    # groups: no row of their own; their members share their level's value
    "group:so_nganh": {2024: None, 2025: (90, "nq17-2025"), 2026: (90, "nq17-2025")},
    "group:dia_phuong": {2024: None, 2025: (80, "nq17-2025"), 2026: (80, "nq17-2025")},
    "level:tinh": {2024: None, 2025: (90, "nq17-2025"), 2026: (90, "nq17-2025")},
    "level:huyen": {2024: None, 2025: (80, "nq17-2025"), 2026: (80, "nq17-2025")},
    # a level with no members has no target, even with a row of its own (nothing to judge)
    "level:xa": {2024: None, 2025: None, 2026: None, 2030: None},
    # tinh 90 vs huyen 80 disagree: no target for the province
    "province": {2024: None, 2025: None, 2026: None},
}


@pytest.mark.parametrize(
    ("scope_text", "year"), [(s, y) for s, by_year in WORK_FILE.items() for y in by_year]
)
def test_work_file_online_rate_by_level(scope_text: str, year: int) -> None:
    scope = parse_scope(scope_text, CATALOG)
    got = BOOK.resolve("work_file_online_rate", scope, year)
    assert _pair(got) == WORK_FILE[scope_text][year]


def test_equal_values_from_different_rows_give_the_first_members_target() -> None:
    # in 2030 tinh and huyen both have 100, from two rows: the province shares 100 and
    # gets the target of its first member
    province = parse_scope("province", CATALOG)
    got = BOOK.resolve("work_file_online_rate", province, 2030)
    assert got is not None and (got.min_percent, got.target_set) == (100, "ctr553-2030")
    first = Scope(province.members[0].agency_code, ScopeKind.agency, province.members[:1])
    assert got == BOOK.resolve("work_file_online_rate", first, 2030)
    assert got.applies_to == f"level:{province.members[0].level}"


@pytest.mark.parametrize("scope_text", [s for s in SCOPES if s != "level:xa"])
def test_satisfaction_rate(scope_text: str) -> None:
    scope = parse_scope(scope_text, CATALOG)
    got = {y: _pair(BOOK.resolve("satisfaction_rate", scope, y)) for y in (2024, 2025, 2026, 2030)}
    assert got == {
        2024: None,
        2025: (80, "ctr553-2025"),
        2026: (80, "ctr553-2025"),
        2030: (90, "ctr553-2030"),
    }
    assert BOOK.resolve("satisfaction_rate", parse_scope("level:xa", CATALOG), 2026) is None


def test_reference_file_kinds() -> None:
    kinds = {t.target_set: t.kind for t in BOOK.targets}
    assert kinds[EVAL] == "evaluation"
    assert {k for s, k in kinds.items() if s != EVAL} == {"plan"}


# ---- edge cases on a hand-made catalog and book ----------------------------------------


def _agency(code: str, group: AgencyGroup, level: AgencyLevel) -> Agency:
    return Agency(agency_code=code, name=code, group=group, level=level)


SMALL = AgencyCatalog(
    [
        _agency("a", AgencyGroup.so_nganh, AgencyLevel.tinh),
        _agency("b", AgencyGroup.dia_phuong, AgencyLevel.tinh),
        _agency("c", AgencyGroup.dia_phuong, AgencyLevel.huyen),
    ]
)


def _t(target_set: str, applies_to: str, period: int, value: float, kind: str = "plan") -> Target:
    return Target.model_validate(
        {
            "target_set": target_set,
            "indicator": "x",
            "applies_to": applies_to,
            "period": period,
            "min_percent": value,
            "kind": kind,
            "source": "test",
        }
    )


def _resolve(book: TargetBook, scope: str, year: int, target_set: str | None = None) -> Expected:
    return _pair(book.resolve("x", parse_scope(scope, SMALL), year, target_set))


def test_level_whose_members_disagree_has_no_target() -> None:
    book = TargetBook([_t("p", "group:so_nganh", 2025, 80), _t("p", "group:dia_phuong", 2025, 60)])
    assert _resolve(book, "a", 2025) == (80, "p")
    assert _resolve(book, "b", 2025) == (60, "p")
    assert _resolve(book, "level:tinh", 2025) is None  # a 80, b 60
    assert _resolve(book, "level:huyen", 2025) == (60, "p")  # c alone
    assert _resolve(book, "group:dia_phuong", 2025) == (60, "p")  # its own row
    assert _resolve(book, "province", 2025) is None


def test_member_without_target_breaks_sharing() -> None:
    book = TargetBook([_t("p", "group:so_nganh", 2025, 80)])
    assert _resolve(book, "b", 2025) is None
    assert _resolve(book, "level:tinh", 2025) is None  # a has 80, b has none
    assert _resolve(book, "group:so_nganh", 2025) == (80, "p")
    assert _resolve(book, "level:xa", 2025) is None  # no members
    empty = Scope("level:tinh", ScopeKind.level, ())
    assert book.resolve("x", empty, 2025) is None


def test_shared_value_from_different_rows_is_the_first_members() -> None:
    book = TargetBook([_t("p", "a", 2025, 75), _t("q", "group:dia_phuong", 2025, 75)])
    got = book.resolve("x", parse_scope("province", SMALL), 2025)
    assert got is not None and (got.target_set, got.applies_to) == ("p", "a")
    reordered = Scope("province", ScopeKind.province, tuple(reversed(SMALL.agencies.values())))
    got = book.resolve("x", reordered, 2025)
    assert got is not None and (got.target_set, got.applies_to) == ("q", "group:dia_phuong")


def test_specificity_wins_over_a_later_less_specific_row() -> None:
    book = TargetBook(
        [
            _t("old", "group:so_nganh", 2024, 70),
            _t("new", "all", 2025, 90),
            _t("own", "a", 2023, 55),
        ]
    )
    # agency code > group/level > all, whatever their years
    assert _resolve(book, "a", 2026) == (55, "own")
    assert _resolve(book, "b", 2026) == (90, "new")
    assert _resolve(book, "a", 2022) is None
    # the province's own row is `all`
    assert _resolve(book, "province", 2026) == (90, "new")
    assert _resolve(book, "group:so_nganh", 2026) == (70, "old")
    # level:tinh has no row: a 55 vs b 90
    assert _resolve(book, "level:tinh", 2026) is None


def test_plan_rows_replace_earlier_ones_for_the_same_scope_only() -> None:
    book = TargetBook(
        [
            _t("p24", "group:so_nganh", 2024, 70),
            _t("p25", "group:so_nganh", 2025, 85),
            _t("goal", "group:so_nganh", 2030, 100),
            _t("lvl", "level:tinh", 2024, 60),
        ]
    )
    assert _resolve(book, "group:so_nganh", 2024) == (70, "p24")
    assert _resolve(book, "group:so_nganh", 2025) == (85, "p25")
    assert _resolve(book, "group:so_nganh", 2029) == (85, "p25")
    assert _resolve(book, "group:so_nganh", 2030) == (100, "goal")
    # a: group and level rows both apply (equal specificity): the later year wins
    assert _resolve(book, "a", 2024) == (70, "p24")  # same year: first in the file
    assert _resolve(book, "a", 2026) == (85, "p25")
    assert _resolve(book, "b", 2026) == (60, "lvl")
    # named: only that set's rows, and a future row is never in force
    assert _resolve(book, "a", 2026, "p24") == (70, "p24")
    assert _resolve(book, "a", 2026, "goal") is None
    assert _resolve(book, "a", 2023, "p24") is None


def test_evaluation_rows_apply_to_their_year_only() -> None:
    book = TargetBook(
        [
            _t("plan", "all", 2023, 50),
            _t("eval", "all", 2024, 70, "evaluation"),
            _t("eval-a", "a", 2024, 40, "evaluation"),
        ]
    )
    assert _resolve(book, "b", 2023) == (50, "plan")
    # default: plan rows plus the evaluation rows of that year; the later same-scope row wins
    assert _resolve(book, "b", 2024) == (70, "eval")
    assert _resolve(book, "a", 2024) == (40, "eval-a")  # more specific
    assert _resolve(book, "province", 2024) == (70, "eval")
    # an evaluation replaces nothing after its year
    assert _resolve(book, "b", 2025) == (50, "plan")
    assert _resolve(book, "a", 2025) == (50, "plan")
    assert _resolve(book, "province", 2025) == (50, "plan")
    # named, still its own year only
    assert _resolve(book, "b", 2024, "eval") == (70, "eval")
    assert _resolve(book, "b", 2025, "eval") is None
    assert _resolve(book, "b", 2023, "eval") is None
    assert _resolve(book, "level:tinh", 2024, "eval") == (70, "eval")  # members share it
    assert _resolve(book, "level:tinh", 2024) is None  # a 40, b 70


def test_same_year_same_specificity_evaluation_beats_plan() -> None:
    book = TargetBook([_t("plan", "all", 2024, 50), _t("eval", "all", 2024, 70, "evaluation")])
    assert _resolve(book, "a", 2024) == (70, "eval")
    assert _resolve(book, "province", 2024) == (70, "eval")
    assert _resolve(book, "a", 2025) == (50, "plan")


def test_cache_follows_scope_members() -> None:
    book = TargetBook([_t("p", "group:so_nganh", 2025, 80), _t("p", "group:dia_phuong", 2025, 60)])
    a, b, _ = SMALL.agencies.values()
    assert book.resolve("x", Scope("level:tinh", ScopeKind.level, (a, b)), 2025) is None
    got = book.resolve("x", Scope("level:tinh", ScopeKind.level, (a,)), 2025)
    assert _pair(got) == (80, "p")
    # the same code in another group (e.g. after a reorganisation) resolves afresh
    moved = a.model_copy(update={"group": AgencyGroup.dia_phuong})
    assert _pair(book.resolve("x", Scope("a", ScopeKind.agency, (moved,)), 2025)) == (60, "p")
    assert _pair(book.resolve("x", Scope("a", ScopeKind.agency, (a,)), 2025)) == (80, "p")


def test_kind_defaults_to_plan_and_is_checked() -> None:
    base = {
        "target_set": "s",
        "indicator": "x",
        "applies_to": "all",
        "period": 2024,
        "min_percent": 70,
        "source": "s",
    }
    assert Target.model_validate(base).kind == "plan"
    assert Target.model_validate({**base, "kind": ""}).kind == "plan"
    assert Target.model_validate({**base, "kind": "evaluation"}).kind == "evaluation"
    with pytest.raises(ValidationError):
        Target.model_validate({**base, "kind": "goal"})


def test_a_csv_without_kind_still_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "targets.csv"
    old.write_text(
        'target_set,indicator,applies_to,period,min_percent,source\np,x,all,2024,70,"a, source"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("EGOV_TARGETS_CSV", str(old))
    load_targets.cache_clear()
    try:
        book = load_targets()
        assert [t.kind for t in book.targets] == ["plan"]
        assert _resolve(book, "c", 2026) == (70, "p")
    finally:
        load_targets.cache_clear()
