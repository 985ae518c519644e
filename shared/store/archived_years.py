"""The archived years (``egov years archive``, services/ops/years.py): which closed years'
entity states were moved out of Redis to a file, and the rule that follows for the event
log — an event dated (``occurred_at``, local year) in an archived year is not counted.

Its year's published figures are frozen, and the states it could be de-duplicated
against (its dossier's applied event ids) are no longer in Redis: counted, a late
duplicate ``received`` of an archived dossier would be a second receipt. The calculator
dead-letters such an event with the reason ``year_archived`` (the entry's error names the
year); the replays that share its decoding (gap filling, the tail of ``egov restore``)
skip it, as the live calculator did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection

import orjson
from pydantic import BaseModel

from shared.contract.fastevents import AnyEvent
from shared.contract.validation import FieldError
from shared.platform.logs import get_logger
from shared.store import keys as redis_keys
from shared.store.client import REDIS_UNAVAILABLE, RedisClient
from shared.store.indicator_store import local_year

_log = get_logger("archived_years")

YEAR_ARCHIVED = "year_archived"  # the dead-letter reason


class ArchivedYear(BaseModel):
    """What ``years:archived`` records for one year."""

    year: int
    file: str
    sha256: str
    states: int
    archived_at: str


async def read_archived_years(redis: RedisClient) -> dict[int, ArchivedYear]:
    """Every archived year and its record (``{}``: none)."""
    raw = await redis.hgetall(redis_keys.ARCHIVED_YEARS)
    return {
        int(year): ArchivedYear.model_validate(orjson.loads(value)) for year, value in raw.items()
    }


async def mark_archived(redis: RedisClient, record: ArchivedYear) -> None:
    await redis.hset(redis_keys.ARCHIVED_YEARS, str(record.year), record.model_dump_json())


async def unmark_archived(redis: RedisClient, year: int) -> None:
    await redis.hdel(redis_keys.ARCHIVED_YEARS, str(year))


def archived_event(event: AnyEvent, years: Collection[int]) -> FieldError | None:
    """The dead letter's error when ``event`` is dated in one of ``years``, else ``None``."""
    if not years:
        return None
    year = int(local_year(event.occurred_at))
    if year not in years:
        return None
    return FieldError(
        field="occurred_at",
        reason=f"year {year} is archived: its figures are frozen (egov years restore to reopen)",
        code=YEAR_ARCHIVED,
    )


class ArchivedYearsCache:
    """The archived years, re-read from Redis every ``refresh_s`` (one HKEYS): cheap on the
    calculator's hot path. With Redis not answering, the last copy; before any copy, it
    retries until Redis answers (``CatalogCache(wait=True)``'s choice: records wait in
    Kafka rather than be judged without the list). `egov years archive` waits
    :data:`SETTLE_S` after marking a year so every calculator has seen it before a state
    is removed."""

    def __init__(
        self, redis: RedisClient, refresh_s: float = 2.0, max_delay_s: float = 5.0
    ) -> None:
        self.redis = redis
        self.refresh_s = refresh_s
        self.max_delay_s = max_delay_s
        self._years: frozenset[int] | None = None
        self._checked = 0.0

    async def current(self) -> frozenset[int]:
        now = time.monotonic()
        if self._years is not None and now - self._checked < self.refresh_s:
            return self._years
        delay = 0.2
        while True:
            try:
                fields = await self.redis.hkeys(redis_keys.ARCHIVED_YEARS)
            except REDIS_UNAVAILABLE as exc:
                if self._years is not None:
                    return self._years
                _log.warning("archived_years_wait", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay_s)
                continue
            self._years = frozenset(int(f) for f in fields)
            self._checked = time.monotonic()
            return self._years


# How long `egov years archive` waits between marking a year and removing its states: two
# refreshes of every calculator's cache plus a batch in flight prepared just before.
SETTLE_S = 5.0
