"""Redis state of the indicators: the idempotent apply script and the period reads.

The calculator applies one event with one script call: the script checks the event id
against the entity's seen ids, and for each mark keeps the earliest occurrence, moving
the count between day/month/year buckets when an earlier event arrives late. The API
reads bucket counters and sums them; it never recomputes from raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from redis.asyncio import Redis

from shared import redis_keys
from shared.counting import Occurrence, entity_key, marks_for
from shared.events import Event
from shared.periods import decompose
from shared.timeutil import LOCAL_TZ

# KEYS[1] entity hash. ARGV[1] event id, ARGV[2] counter key prefix, then per mark:
# name, ts, day, month, year. Returns 1 when applied, 0 for a duplicate event id.
APPLY_LUA = """
if redis.call('HSETNX', KEYS[1], 'e:' .. ARGV[1], 1) == 0 then
  return 0
end
local prefix = ARGV[2]
local function bump(d, m, y, mark, by)
  redis.call('HINCRBY', prefix .. 'D' .. d, mark, by)
  redis.call('HINCRBY', prefix .. 'M' .. m, mark, by)
  redis.call('HINCRBY', prefix .. 'Y' .. y, mark, by)
end
for i = 3, #ARGV, 5 do
  local mark, ts, d, m, y = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local field = 'm:' .. mark
  local cur = redis.call('HGET', KEYS[1], field)
  local new = ARGV[i + 1] .. '|' .. d .. '|' .. m .. '|' .. y
  if not cur then
    redis.call('HSET', KEYS[1], field, new)
    bump(d, m, y, mark, 1)
  else
    local ots, od, om, oy = string.match(cur, '^(%d+)|(%d+)|(%d+)|(%d+)$')
    if ts < tonumber(ots) then
      redis.call('HSET', KEYS[1], field, new)
      if od ~= d then
        bump(od, om, oy, mark, -1)
        bump(d, m, y, mark, 1)
      end
    end
  end
end
return 1
"""


def occurrence(ts: datetime) -> Occurrence:
    local = ts.astimezone(LOCAL_TZ)
    return Occurrence(
        ts=int(ts.timestamp()),
        day=local.strftime("%Y%m%d"),
        month=local.strftime("%Y%m"),
        year=local.strftime("%Y"),
    )


def apply_args(event: Event) -> tuple[list[str], list[str | int]]:
    """Keys and arguments of the apply script for one event."""
    occ = occurrence(event.occurred_at)
    args: list[str | int] = [event.event_id, redis_keys.counters_prefix(event.agency_code)]
    for mark in marks_for(event):
        args += [mark, occ.ts, occ.day, occ.month, occ.year]
    return [redis_keys.entity(event.agency_code, entity_key(event))], args


class IndicatorStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._apply = redis.register_script(APPLY_LUA)

    async def apply(self, event: Event) -> bool:
        """Apply one event; False when its id was already applied."""
        keys, args = apply_args(event)
        return bool(await self._apply(keys=keys, args=args))

    async def apply_many(self, events: Sequence[Event]) -> list[bool]:
        """Apply a batch in one round trip; each script call stays atomic on its own."""
        if not events:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for event in events:
            keys, args = apply_args(event)
            await self._apply(keys=keys, args=args, client=pipe)
        return [bool(r) for r in await pipe.execute()]

    async def sum_marks(
        self, agencies: Iterable[str], start: date, end: date, marks: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """Per agency, the sum of each mark over [start, end] (local calendar days)."""
        buckets = decompose(start, end)
        codes = list(agencies)
        pipe = self.redis.pipeline(transaction=False)
        plan: list[str] = []
        for code in codes:
            prefix = redis_keys.counters_prefix(code)
            keys = [f"{prefix}Y{y}" for y in buckets.years]
            keys += [f"{prefix}M{y}{m:02d}" for y, m in buckets.months]
            keys += [f"{prefix}D{d:%Y%m%d}" for d in buckets.days]
            for key in keys:
                pipe.hmget(key, list(marks))
                plan.append(code)
        results = await pipe.execute() if plan else []
        totals: dict[str, dict[str, int]] = {code: dict.fromkeys(marks, 0) for code in codes}
        for code, values in zip(plan, results, strict=True):
            acc = totals[code]
            for mark, value in zip(marks, values, strict=True):
                if value is not None:
                    acc[mark] += int(value)
        return totals


@dataclass(frozen=True)
class Figures:
    numerator: int
    denominator: int
