"""Local time of the province: every calendar period is in Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def now_utc() -> datetime:
    return datetime.now(UTC)


def local_date(ts: datetime) -> date:
    """The calendar day in the province that contains the instant ``ts``."""
    return ts.astimezone(LOCAL_TZ).date()


def today_local() -> date:
    return local_date(now_utc())
