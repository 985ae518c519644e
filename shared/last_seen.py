"""When each agency and each emitting source last sent an event (processing time).

The calculator records it per batch; the alerts service reads it to flag silent sources.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from redis.asyncio import Redis

LAST_SEEN_SOURCES = "lastseen:source"
LAST_SEEN_AGENCIES = "lastseen:agency"


async def record_last_seen(
    redis: Redis, agencies: Iterable[str], sources: Iterable[str], at: datetime
) -> None:
    stamp = at.timestamp()
    pipe = redis.pipeline(transaction=False)
    if agency_map := dict.fromkeys(agencies, stamp):
        pipe.hset(LAST_SEEN_AGENCIES, mapping=agency_map)  # type: ignore[arg-type]
    if source_map := dict.fromkeys(sources, stamp):
        pipe.hset(LAST_SEEN_SOURCES, mapping=source_map)  # type: ignore[arg-type]
    await pipe.execute()
