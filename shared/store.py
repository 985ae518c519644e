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
from shared.counting import Occurrence, entity_key, marks_for, open_effect, set_members
from shared.events import Event
from shared.periods import decompose
from shared.timeutil import LOCAL_TZ

# KEYS[1] entity hash. ARGV: event id, agency tag ("{code}"), ts, day, month, year,
# n marks, marks..., n set members, (set, member)..., open op ("open"|"close"|"none"),
# due epoch, dossier id. Returns 1 when applied, 0 for an event id already applied.
APPLY_LUA = """
if redis.call('HSETNX', KEYS[1], 'e:' .. ARGV[1], 1) == 0 then
  return 0
end
local tag, ts, d, m, y = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6]
local cnt = 'cnt:' .. tag .. ':'
local function bump(bd, bm, by, mark, n)
  redis.call('HINCRBY', cnt .. 'D' .. bd, mark, n)
  redis.call('HINCRBY', cnt .. 'M' .. bm, mark, n)
  redis.call('HINCRBY', cnt .. 'Y' .. by, mark, n)
end
local i = 7
local n = tonumber(ARGV[i])
local new = ARGV[3] .. '|' .. d .. '|' .. m .. '|' .. y
for j = 1, n do
  local mark = ARGV[i + j]
  local field = 'm:' .. mark
  local cur = redis.call('HGET', KEYS[1], field)
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
i = i + n + 1
n = tonumber(ARGV[i])
for j = 0, n - 1 do
  local base = 'set:' .. tag .. ':' .. ARGV[i + 1 + 2 * j] .. ':'
  local member = ARGV[i + 2 + 2 * j]
  redis.call('SADD', base .. 'D' .. d, member)
  redis.call('SADD', base .. 'M' .. m, member)
  redis.call('SADD', base .. 'Y' .. y, member)
end
i = i + 2 * n + 1
local op, due, dossier = ARGV[i], ARGV[i + 1], ARGV[i + 2]
local open = 'open:' .. tag
if op == 'open' then
  if redis.call('HEXISTS', KEYS[1], 'closed') == 0 then
    local ot = redis.call('HGET', KEYS[1], 'ot')
    if not ot or ts < tonumber(ot) then
      redis.call('HSET', KEYS[1], 'ot', ARGV[3])
      redis.call('ZADD', open, tonumber(due), dossier)
    end
  end
elseif op == 'close' then
  redis.call('HSET', KEYS[1], 'closed', 1)
  redis.call('ZREM', open, dossier)
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
    marks = marks_for(event)
    members = set_members(event)
    args: list[str | int] = [event.event_id, redis_keys.tag(event.agency_code),
                             occ.ts, occ.day, occ.month, occ.year, len(marks), *marks,
                             len(members)]
    for name, member in members:
        args += [name, member]
    effect = open_effect(event)
    if effect is None:
        args += ["none", 0, ""]
    else:
        args += [effect[0], effect[1], event.entity_id]
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

    def _bucket_suffixes(self, start: date, end: date) -> list[str]:
        buckets = decompose(start, end)
        return ([f"Y{y}" for y in buckets.years]
                + [f"M{y}{m:02d}" for y, m in buckets.months]
                + [f"D{d:%Y%m%d}" for d in buckets.days])

    async def set_union(
        self, agencies: Iterable[str], start: date, end: date, name: str
    ) -> dict[str, set[str]]:
        """Per agency, the members of a per-period distinct set over [start, end]."""
        suffixes = self._bucket_suffixes(start, end)
        codes = list(agencies)
        pipe = self.redis.pipeline(transaction=False)
        for code in codes:
            prefix = redis_keys.set_prefix(code, name)
            pipe.sunion([prefix + s for s in suffixes])
        results = await pipe.execute() if codes else []
        return {code: {m.decode() if isinstance(m, bytes) else m for m in members}
                for code, members in zip(codes, results, strict=True)}

    async def open_counts(
        self, agencies: Iterable[str], now: datetime, horizon_s: int = 86_400
    ) -> dict[str, tuple[int, int, int]]:
        """Per agency: (open, overdue at ``now``, due within ``horizon_s`` after ``now``)."""
        ts = now.timestamp()
        codes = list(agencies)
        pipe = self.redis.pipeline(transaction=False)
        for code in codes:
            key = redis_keys.open_dossiers(code)
            pipe.zcard(key)
            pipe.zcount(key, "-inf", f"({ts}")
            pipe.zcount(key, ts, ts + horizon_s)
        flat = await pipe.execute() if codes else []
        return {code: (int(flat[3 * i]), int(flat[3 * i + 1]), int(flat[3 * i + 2]))
                for i, code in enumerate(codes)}

    async def overdue_dossiers(self, agency: str, now: datetime, limit: int = 100) -> list[str]:
        raw = await self.redis.zrangebyscore(
            redis_keys.open_dossiers(agency), "-inf", f"({now.timestamp()}", start=0, num=limit
        )
        return [m.decode() if isinstance(m, bytes) else m for m in raw]


