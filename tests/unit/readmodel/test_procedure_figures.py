"""The per-procedure formulas (issue 18, item 5): shares of the dossiers received, a
procedure with none not evaluated, the ranking by volume, whole-month periods."""

from __future__ import annotations

import pytest

from shared.domain.periods import parse_period
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.readmodel.procedure_figures import COUNTED, figures_of, ranked, whole_months


def proc(code: str, level: str = "full_online") -> Procedure:
    return Procedure(
        procedure_code=code,
        agency_code="H01.05",
        name=f"Thủ tục {code}",
        service_level=level,
        eligible_full_online=True,
        fee_required=False,
    )


def counts(**per_set: dict[str, int]) -> dict[str, dict[str, int]]:
    return {name: per_set.get(name, {}) for name in COUNTED}


def test_shares_are_of_the_dossiers_received() -> None:
    c = counts(
        proc_received={"a": 8},
        proc_online={"a": 6},
        proc_full_online={"a": 2},
        proc_returned_e={"a": 4},
    )
    fig = figures_of("a", c, proc("a"))
    assert (fig.received, fig.online, fig.full_online, fig.returned_electronic) == (8, 6, 2, 4)
    assert (fig.online_rate, fig.full_online_rate, fig.returned_electronic_rate) == (
        75.0,
        25.0,
        50.0,
    )
    assert fig.name == "Thủ tục a" and fig.service_level == "full_online"


def test_no_dossiers_is_not_evaluated_and_an_uncatalogued_code_has_no_name() -> None:
    fig = figures_of("zz", counts(), None)
    assert (fig.received, fig.full_online_rate, fig.online_rate) == (0, None, None)
    assert fig.name is None and fig.agency_code is None


def test_ranking_by_volume_then_code_with_catalog_procedures_at_zero() -> None:
    catalog = ProcedureCatalog([proc("a"), proc("b"), proc("c", "in_person_only")])
    c = counts(proc_received={"b": 5, "a": 5, "x": 10}, proc_full_online={"a": 5})
    total, n, items = ranked(c, catalog, ["a", "b", "c"], None)
    assert (total, n) == (20, 4)
    assert [(i.rank, i.procedure_code) for i in items] == [(1, "x"), (2, "a"), (3, "b"), (4, "c")]
    assert [i.share_of_scope for i in items] == [50.0, 25.0, 25.0, 0.0]
    assert items[1].full_online_rate == 100.0 and items[3].full_online_rate is None
    _, n, top = ranked(c, catalog, ["a", "b", "c"], 2)
    assert n == 4 and [i.procedure_code for i in top] == ["x", "a"]
    assert ranked(counts(), catalog, [], None) == (0, 0, [])


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("2026", True),
        ("2026-Q3", True),
        ("2026-10", True),
        ("2026-10-05", False),
        ("2026-01-01..2026-02-28", True),
        ("2026-01-01..2026-02-27", False),
    ],
)
def test_whole_months(text: str, whole: bool) -> None:
    assert whole_months(parse_period(text)) is whole
