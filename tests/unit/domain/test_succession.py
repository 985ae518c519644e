"""The successor chains of the packaged catalog as transfers (``shared.domain.succession``):
the hops a reorganisation implies, dated at the successor's first day."""

from __future__ import annotations

from datetime import datetime

from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import load_agencies
from shared.domain.succession import HOP_TIE, Succession, succession_of


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=LOCAL_TZ).timestamp()) * 1000


MARCH = _ms("2025-03-01T00:00:00")
JULY = _ms("2025-07-01T00:00:00")


def test_a_merged_department_is_continued_twice() -> None:
    chain = Succession(load_agencies()).descendants("so-tnmt")
    assert [code for code, _ in chain] == ["so-nnmt-2025", "H01.03"]
    assert chain[-1][1] == [
        (MARCH, HOP_TIE, b"so-tnmt", b"so-nnmt-2025"),
        (JULY, HOP_TIE, b"so-nnmt-2025", b"H01.03"),
    ]


def test_a_unit_finds_every_unit_it_continues_with_the_hops_from_there() -> None:
    found = dict(Succession(load_agencies()).ancestors("H01.03"))
    assert found["so-nnmt-2025"] == [(JULY, HOP_TIE, b"so-nnmt-2025", b"H01.03")]
    assert found["so-tnmt"] == [
        (MARCH, HOP_TIE, b"so-tnmt", b"so-nnmt-2025"),
        (JULY, HOP_TIE, b"so-nnmt-2025", b"H01.03"),
    ]
    assert "so-nnptnt" in found  # the other department merged into it


def test_the_districts_have_no_successor_and_the_units_of_2024_no_predecessor() -> None:
    catalog = load_agencies()
    succession = succession_of(catalog)
    assert succession is succession_of(catalog)  # built once per catalog object
    districts = [a for a in catalog.agencies.values() if a.level.value == "huyen"]
    assert districts and not any(succession.has_successor(a.agency_code) for a in districts)
    assert not succession.has_predecessors("so-tttt")
    assert succession.has_successor("so-tttt")
