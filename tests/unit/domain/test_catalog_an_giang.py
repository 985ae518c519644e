"""The catalog of An Giang in time (shared/domain/data/agencies-an-giang.csv, the packaged
catalog; domain README §9): the 2024 units end on their dates, the departments merged on
2025-03-01 exist from then to 2025-06-30, and the merged province's 117 units (15
provincial, 102 commune-level) start on 2025-07-01 under their national portal codes, each
new department folding in the 2024 units it continues."""

from __future__ import annotations

from datetime import date
from importlib import resources

import pytest

from shared.domain.catalog import (
    PACKAGED_AGENCIES,
    AgencyCatalog,
    AgencyGroup,
    AgencyLevel,
    load_agencies,
    parse_agencies_csv,
)
from tests.fixtures import AGENCIES_2024

TEXT = resources.files("shared.domain.data").joinpath("agencies-an-giang.csv").read_text("utf-8")
CATALOG = parse_agencies_csv(TEXT)
# the 31 units of the 2024 reports, as the product shipped them before (no dates)
OLD = parse_agencies_csv(AGENCIES_2024.read_text(encoding="utf-8"))
MERGED_ON_MARCH_1 = {
    "so-khcn-2025": {"so-khcn", "so-tttt"},
    "so-tai-chinh-2025": {"so-tai-chinh", "so-khdt"},
    "so-noi-vu-2025": {"so-noi-vu", "so-ldtbxh"},
    "so-xay-dung-2025": {"so-xay-dung", "so-gtvt"},
    "so-nnmt-2025": {"so-nnptnt", "so-tnmt"},
    "so-dttg-2025": {"ban-dan-toc"},
}


def test_the_catalog_in_time_is_the_packaged_default() -> None:
    assert PACKAGED_AGENCIES == "agencies-an-giang.csv"
    assert load_agencies().agencies == CATALOG.agencies
    # one source of truth: no second agency catalog in the package
    data = [f.name for f in resources.files("shared.domain.data").iterdir()]
    assert [n for n in data if n.startswith("agencies")] == ["agencies-an-giang.csv"]
    assert not resources.files("shared.domain.data").joinpath("examples").is_dir()


def codes(catalog: AgencyCatalog, day: date) -> set[str]:
    return {a.agency_code for a in catalog.valid_on(day)}


@pytest.mark.parametrize("day", [date(2025, 7, 1), date(2026, 11, 30)])
def test_the_merged_province_has_117_units_and_the_peoples_committee_office(day: date) -> None:
    valid = CATALOG.valid_on(day)
    portal = [a for a in valid if a.agency_code.startswith("H01.")]
    assert len(portal) == 117
    assert {a.agency_code for a in valid} - {a.agency_code for a in portal} == {"vp-ubnd-tinh"}
    provincial = [a for a in portal if a.group is AgencyGroup.so_nganh]
    communes = [a for a in portal if a.group is AgencyGroup.dia_phuong]
    assert len(provincial) == 15 and all(a.level is AgencyLevel.tinh for a in provincial)
    assert len(communes) == 102 and all(a.level is AgencyLevel.xa for a in communes)
    kinds = [a.name.split()[1] for a in communes]  # "UBND xã …", "UBND phường …", "UBND đặc khu …"
    assert (kinds.count("xã"), kinds.count("phường"), kinds.count("đặc")) == (85, 14, 3)
    gso = [a.gso_code for a in communes]
    assert all(gso) and len(set(gso)) == 102
    assert not CATALOG.at_level(AgencyLevel.huyen) or all(
        not a.valid_on(day) for a in CATALOG.at_level(AgencyLevel.huyen)
    )
    assert "H01.14" not in CATALOG  # not on the portal's list; never invented


def test_2024_units_end_on_their_dates() -> None:
    assert codes(CATALOG, date(2025, 2, 28)) == set(OLD.codes)
    march = codes(CATALOG, date(2025, 3, 1))
    assert set(MERGED_ON_MARCH_1) <= march
    assert not march & set().union(*MERGED_ON_MARCH_1.values())
    june = codes(CATALOG, date(2025, 6, 30))
    assert june == march
    july = codes(CATALOG, date(2025, 7, 1))
    assert july & set(OLD.codes) == {"vp-ubnd-tinh"}
    assert not july & set(MERGED_ON_MARCH_1)
    for a in CATALOG.agencies.values():  # nothing of 2024 had a start date: it was there
        if a.agency_code in OLD:
            assert a.valid_from is None


@pytest.mark.parametrize(
    ("unit", "folds_in"),
    [
        ("H01.01", {"so-noi-vu-2025", "so-noi-vu", "so-ldtbxh"}),
        ("H01.02", {"so-tai-chinh-2025", "so-tai-chinh", "so-khdt"}),
        ("H01.03", {"so-nnmt-2025", "so-nnptnt", "so-tnmt"}),
        ("H01.05", {"so-khcn-2025", "so-khcn", "so-tttt"}),
        ("H01.07", {"so-dttg-2025", "ban-dan-toc"}),
        ("H01.09", {"so-xay-dung-2025", "so-xay-dung", "so-gtvt"}),
        ("H01.10", {"so-y-te"}),
        ("H01.15", set()),  # from Kiên Giang: no 2024 unit of this catalog
        ("H01.187", set()),  # a commune: figures start on 2025-07-01
    ],
)
def test_a_new_unit_folds_in_every_unit_it_continues(unit: str, folds_in: set[str]) -> None:
    assert {a.agency_code for a in CATALOG.predecessors(unit)} == folds_in


def test_every_ended_unit_has_its_successor_or_is_listed_as_having_none() -> None:
    without = {
        a.agency_code
        for a in CATALOG.agencies.values()
        if a.valid_to is not None and a.successor_code is None
    }
    districts = {a.agency_code for a in OLD.at_level(AgencyLevel.huyen)}
    assert len(districts) == 11
    assert without == districts | {"so-ngoai-vu"}
    for a in CATALOG.agencies.values():
        if a.successor_code:
            nxt = CATALOG.get(a.successor_code)
            assert nxt is not None and a.valid_to is not None
            assert nxt.valid_from is not None and (nxt.valid_from - a.valid_to).days == 1


def test_the_catalog_round_trips_with_its_commune_codes() -> None:
    again = parse_agencies_csv(CATALOG.to_csv_text())
    assert again.agencies == CATALOG.agencies
    assert again.get("H01.187") is not None and again.get("H01.187").gso_code  # type: ignore[union-attr]
