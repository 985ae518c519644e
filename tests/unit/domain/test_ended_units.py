"""Ended units behave as ended, on the packaged catalog in time (domain README §4a.6, §9):
the districts are members of ``level:huyen`` until 2025-06-30 and of nothing after; a scope
with no members in a period has no target and no verdict; events are valid on their own
date only. (The alert rules: ``tests/unit/services/alerts/test_alert_rules.py``.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.domain.periods import parse_period
from shared.domain.scopes import parse_scope
from shared.domain.targets import load_targets
from shared.readmodel.figures import Figure, read
from tests.factories import received

CATALOG = load_agencies()
BOOK = load_targets()
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def members(scope: str, period: str) -> set[str]:
    p = parse_period(period)
    return set(parse_scope(scope, CATALOG, p.start, p.end).codes)


def test_level_huyen_has_its_11_districts_until_june_2025_and_none_after() -> None:
    assert len(members("level:huyen", "2024")) == 11
    assert len(members("level:huyen", "2025-06")) == 11
    assert len(members("level:huyen", "2025")) == 11  # valid at some time in the year
    assert members("level:huyen", "2025-07") == set()
    assert members("level:huyen", "2026") == set()
    # the local group of 2026 is the communes, no district among them
    local = members("group:dia_phuong", "2026")
    assert len(local) == 102 and "H01.187" in local and "ubnd-an-phu" not in local


@pytest.mark.parametrize("indicator", ["work_file_online_rate", "full_online_rate"])
def test_a_scope_without_members_has_no_target_and_no_verdict(indicator: str) -> None:
    y2026 = parse_period("2026")
    huyen = parse_scope("level:huyen", CATALOG, y2026.start, y2026.end)
    assert huyen.members == ()
    # level:huyen has a work-file row of its own (nq17-2025), in force in 2026: not used
    assert BOOK.resolve(indicator, huyen, 2026) is None
    reading = read(BOOK, indicator, huyen, 2026, Figure(0, 0, evaluated=False))
    assert reading.target is None and reading.verdict is None and not reading.judged
    # while it had members, it was judged
    y2025 = parse_period("2025")
    judged_2025 = parse_scope("level:huyen", CATALOG, y2025.start, y2025.end)
    assert BOOK.resolve(indicator, judged_2025, 2025) is not None


def test_events_are_valid_on_their_own_date_under_the_packaged_catalog() -> None:
    def ok(agency: str, at: str) -> bool:
        result = validate_event(received(agency=agency, at=at), agencies=CATALOG, now=NOW)
        return not isinstance(result, list)

    assert ok("H01.187", "2026-03-04T08:15:00+07:00")  # xã Đông Thái
    assert ok("ubnd-an-phu", "2025-06-30T23:59:00+07:00")  # its last day, sent late
    assert not ok("ubnd-an-phu", "2026-03-04T08:15:00+07:00")
    assert ok("so-tttt", "2024-05-02T09:00:00+07:00")  # the 2024 units in 2024
    assert not ok("so-tttt", "2025-03-01T00:00:00+07:00")
    assert ok("so-khcn-2025", "2025-03-01T00:00:00+07:00")
    assert not ok("so-khcn-2025", "2025-07-01T08:00:00+07:00")
    assert ok("H01.05", "2025-07-01T08:00:00+07:00")
    assert ok("vp-ubnd-tinh", "2026-03-04T08:15:00+07:00")  # continues, no portal code
