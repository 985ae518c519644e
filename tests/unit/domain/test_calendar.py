"""The calendar's fast fixed-offset arithmetic agrees with the zone database on every day the
product can see (events from 2015; the simulator runs to 2040)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from shared.domain.calendar import DAY_S, LOCAL_OFFSET, LOCAL_TZ, local_date, local_day_number


def test_fixed_offset_equals_the_zone_database_2015_to_2040() -> None:
    day = date(2015, 1, 1)
    while day < date(2041, 1, 1):
        midnight = datetime(day.year, day.month, day.day, tzinfo=LOCAL_TZ)
        assert midnight.utcoffset() == LOCAL_OFFSET, day
        for second in (0, DAY_S - 1):  # the first and the last second of the local day
            instant = midnight + timedelta(seconds=second)
            assert local_date(instant) == day
            assert local_day_number(instant.timestamp()) == day.toordinal() - 719163
        day += timedelta(days=1)


def test_local_date_is_the_provinces_day_not_utcs() -> None:
    # 2024-12-31T17:00Z is already 2025-01-01 in Asia/Ho_Chi_Minh
    assert local_date(datetime(2024, 12, 31, 17, 0, tzinfo=UTC)) == date(2025, 1, 1)
    assert local_date(datetime(2024, 12, 31, 16, 59, 59, tzinfo=UTC)) == date(2024, 12, 31)
