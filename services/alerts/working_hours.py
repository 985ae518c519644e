"""Working hours in Asia/Ho_Chi_Minh: how many working hours lie between two instants."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from shared.domain.calendar import LOCAL_TZ


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int] = field(default_factory=lambda: frozenset({0, 1, 2, 3, 4}))
    start_hour: int = 7
    end_hour: int = 17

    def hours_between(self, start: datetime, end: datetime) -> float:
        """Working hours in [start, end) — e.g. Friday 16:00 to Monday 08:00 is 2 hours."""
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(LOCAL_TZ).date()
        last = end.astimezone(LOCAL_TZ).date()
        while day <= last:
            if day.weekday() in self.days:
                open_at = datetime.combine(day, time(self.start_hour), LOCAL_TZ)
                close_at = datetime.combine(day, time(self.end_hour), LOCAL_TZ)
                lo, hi = max(open_at, start), min(close_at, end)
                if hi > lo:
                    total += (hi - lo).total_seconds() / 3600
            day += timedelta(days=1)
        return total
