"""When each agency and each emitting source last had an event — by the events' own time
(their newest ``occurred_at``, never later than when the calculator saw them), not by when
the calculator got round to them: a backlog replayed after an outage does not make anyone
look silent, nor does it make anyone look live who sent nothing.

The calculator records it per batch; the alerts service reads it to flag silent sources.
A stamp only ever moves forward (a late event does not move it back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from shared.store.client import RedisClient

# One hash tag: the script updates both hashes (one cluster slot).
LAST_SEEN_SOURCES = "lastseen:{lastseen}:source"
LAST_SEEN_AGENCIES = "lastseen:{lastseen}:agency"

# KEYS: the two hashes; ARGV: n_agencies, then name, stamp pairs (agencies, then sources).
_KEEP_NEWEST = """
local n = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local key = KEYS[2]
  if (i - 2) / 2 < n then key = KEYS[1] end
  local have = redis.call('HGET', key, ARGV[i])
  if not have or tonumber(have) < tonumber(ARGV[i + 1]) then
    redis.call('HSET', key, ARGV[i], ARGV[i + 1])
  end
end
return 0
"""


class TimedEvent(Protocol):
    @property
    def agency_code(self) -> str: ...

    @property
    def source(self) -> str | None: ...

    @property
    def occurred_at(self) -> datetime: ...


async def record_stamps(
    redis: RedisClient, agencies: Mapping[str, float], sources: Mapping[str, float]
) -> None:
    """Keep the newest stamp (epoch seconds) per agency and per source."""
    if not agencies and not sources:
        return
    argv: list[str | int | float] = [len(agencies)]
    for name, stamp in [*agencies.items(), *sources.items()]:
        argv += [name, repr(float(stamp))]
    await redis.eval(_KEEP_NEWEST, 2, LAST_SEEN_AGENCIES, LAST_SEEN_SOURCES, *argv)


async def record_event_times(
    redis: RedisClient, events: Sequence[TimedEvent], now: datetime
) -> None:
    """The newest ``occurred_at`` per agency and source of a batch, capped at ``now`` (a
    source's clock running ahead must not hide a later silence)."""
    # the newest instant first (compared as datetimes), made a stamp once per name: a
    # calculator's batch has thousands of events and a few hundred names
    agencies: dict[str, datetime] = {}
    sources: dict[str, datetime] = {}
    for event in events:
        ts = event.occurred_at
        have = agencies.get(event.agency_code)
        if have is None or ts > have:
            agencies[event.agency_code] = ts
        if source := event.source:
            have = sources.get(source)
            if have is None or ts > have:
                sources[source] = ts
    cap = now.timestamp()
    await record_stamps(
        redis,
        {name: min(cap, ts.timestamp()) for name, ts in agencies.items()},
        {name: min(cap, ts.timestamp()) for name, ts in sources.items()},
    )


async def record_last_seen(
    redis: RedisClient, agencies: Iterable[str], sources: Iterable[str], at: datetime
) -> None:
    """Every one of ``agencies`` and ``sources`` had an event at ``at``."""
    stamp = at.timestamp()
    await record_stamps(redis, dict.fromkeys(agencies, stamp), dict.fromkeys(sources, stamp))
