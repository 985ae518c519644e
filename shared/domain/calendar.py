"""The province's calendar, owned here and nowhere else: Asia/Ho_Chi_Minh, every calendar
period and "today" in it. The zone has kept +07:00 without daylight saving since 1975 (events
start in 2015), so hot paths use the fixed offset (``LOCAL_OFFSET_S``: integer arithmetic,
5× cheaper than a ZoneInfo conversion per event); everything else uses ``LOCAL_TZ``.
A test checks the two agree on every day the product can see."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LOCAL_OFFSET = timedelta(hours=7)
LOCAL_OFFSET_S = 7 * 3600
DAY_S = 86_400


def now_utc() -> datetime:
    return datetime.now(UTC)


def local_date(ts: datetime) -> date:
    """The calendar day in the province that contains the instant ``ts``."""
    return ts.astimezone(LOCAL_TZ).date()


def local_day_number(epoch_s: float) -> int:
    """Days since 1970-01-01 of the local day containing an epoch second (fixed offset)."""
    return int((epoch_s + LOCAL_OFFSET_S) // DAY_S)


def today_local() -> date:
    return local_date(now_utc())
