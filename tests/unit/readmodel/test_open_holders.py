"""Who holds an ended unit's open dossiers (domain README §4b), on the packaged catalog of
An Giang in time: along the successor chain to the unit valid on the day, or nobody."""

from __future__ import annotations

from datetime import date

import pytest

from shared.domain.catalog import load_agencies
from shared.readmodel.open_holders import holder_on


@pytest.mark.parametrize(
    ("code", "day", "holder"),
    [
        ("so-tnmt", date(2025, 2, 28), "so-tnmt"),  # its last day: still its own
        ("so-tnmt", date(2025, 3, 1), "so-nnmt-2025"),  # merged on 1 March
        ("so-tnmt", date(2025, 7, 1), "H01.03"),  # along the chain after 30 June
        ("so-nnptnt", date(2026, 12, 3), "H01.03"),  # a merger: both predecessors there
        ("so-nnmt-2025", date(2026, 12, 3), "H01.03"),
        ("H01.03", date(2026, 12, 3), "H01.03"),
        ("vp-ubnd-tinh", date(2026, 12, 3), "vp-ubnd-tinh"),  # continues
        ("ubnd-an-phu", date(2025, 6, 30), "ubnd-an-phu"),
        ("ubnd-an-phu", date(2025, 7, 1), None),  # a district: no successor, orphaned
        ("so-ngoai-vu", date(2026, 12, 3), None),
        ("H01.187", date(2025, 6, 1), "H01.187"),  # not started yet: its own (empty) set
    ],
)
def test_holder_on(code: str, day: date, holder: str | None) -> None:
    found = holder_on(load_agencies(), code, day)
    assert (found.agency_code if found else None) == holder
