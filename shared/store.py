"""Redis state of the indicators: the idempotent apply script and the period reads.

The calculator applies a batch with one script call per agency: for each event the script
checks the event id against the entity's seen ids, and for each mark keeps the earliest
occurrence, moving the count between day/month/year buckets when an earlier event
arrives late; counter increments are summed over the batch. The API
reads bucket counters and sums them; it never recomputes from raw events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime

import orjson
from redis.asyncio import Redis

from shared import redis_keys
from shared.counting import Occurrence, entity_key, marks_for, open_effect, set_members
from shared.events import Event
from shared.periods import decompose
from shared.timeutil import LOCAL_TZ

# Raises an agency's data version ('ver:' .. tag) to max(current + 1, server clock in µs):
# monotonic even across a deleted key or a flushed database, so a cached figure can never
# be mistaken for current (see redis_keys.data_version).
BUMP_VERSION_LUA = """
local vk = 'ver:' .. tag
local now = redis.call('TIME')
local v = tonumber(now[1]) * 1000000 + tonumber(now[2])
local cur = tonumber(redis.call('GET', vk) or '0')
if cur >= v then v = cur + 1 end
redis.call('SET', vk, string.format('%d', v))
"""

# Raises the data version of each agency tag in ARGV (after a rebuild deleted the figures).
BUMP_VERSIONS_LUA = (
    "for _, tag in ipairs(ARGV) do\n" + BUMP_VERSION_LUA.strip() + "\nend\nreturn #ARGV"
)

# One call applies a batch of one agency's events (all keys share the agency hash tag).
# KEYS: one entity hash per event. ARGV[1]: agency tag "{code}"; ARGV[2]: a JSON array,
# per event: event id, ts, day, month, year, n marks, marks..., n set members,
# (set, member)..., open op ("open"|"close"|"none"), due epoch, dossier id. (One JSON
# argument instead of thousands: redis-py's per-argument encoding dominated the apply.)
# Returns one flag per event: 1 applied, 0 event id already applied.
# Counter increments are summed over the batch and written once per (key, field).
APPLY_BATCH_LUA = """
local tag = ARGV[1]
local cnt = 'cnt:' .. tag .. ':'
local setp = 'set:' .. tag .. ':'
local open = 'open:' .. tag
local inc, incn = {}, {}
local function add(key, field, n)
  local h = inc[key]
  if not h then h = {}; inc[key] = h; incn[#incn + 1] = key end
  h[field] = (h[field] or 0) + n
end
local function bump(d, m, y, mark, n)
  add(cnt .. 'D' .. d, mark, n)
  add(cnt .. 'M' .. m, mark, n)
  add(cnt .. 'Y' .. y, mark, n)
end
local sadds, saddn = {}, {}
local function sadd(key, member)
  local s = sadds[key]
  if not s then s = {}; sadds[key] = s; saddn[#saddn + 1] = key end
  s[#s + 1] = member
end
local out = {}
local changed = false
local A = cjson.decode(ARGV[2])
local i = 1
for k = 1, #KEYS do
  local ent = KEYS[k]
  local eid, tss, d, m, y = A[i], A[i + 1], A[i + 2], A[i + 3], A[i + 4]
  local nm = tonumber(A[i + 5])
  local mi = i + 6
  local si = mi + nm
  local ns = tonumber(A[si])
  local oi = si + 1 + 2 * ns
  i = oi + 3
  if redis.call('HSETNX', ent, 'e:' .. eid, 1) == 1 then
    out[k] = 1
    changed = true
    local ts = tonumber(tss)
    if nm > 0 then
      local fields = {}
      for j = 1, nm do fields[j] = 'm:' .. A[mi + j - 1] end
      local cur = redis.call('HMGET', ent, unpack(fields))
      local newv = tss .. '|' .. d .. '|' .. m .. '|' .. y
      local upd = {}
      for j = 1, nm do
        local mark, c = A[mi + j - 1], cur[j]
        if not c then
          upd[#upd + 1] = fields[j]; upd[#upd + 1] = newv
          bump(d, m, y, mark, 1)
        else
          local ots, od, om, oy = string.match(c, '^(%d+)|(%d+)|(%d+)|(%d+)$')
          if ts < tonumber(ots) then
            upd[#upd + 1] = fields[j]; upd[#upd + 1] = newv
            if od ~= d then
              bump(od, om, oy, mark, -1)
              bump(d, m, y, mark, 1)
            end
          end
        end
      end
      if #upd > 0 then redis.call('HSET', ent, unpack(upd)) end
    end
    for j = 0, ns - 1 do
      local base = setp .. A[si + 1 + 2 * j] .. ':'
      local member = A[si + 2 + 2 * j]
      sadd(base .. 'D' .. d, member)
      sadd(base .. 'M' .. m, member)
      sadd(base .. 'Y' .. y, member)
    end
    local op = A[oi]
    if op == 'open' then
      if redis.call('HEXISTS', ent, 'closed') == 0 then
        local ot = redis.call('HGET', ent, 'ot')
        if not ot or ts < tonumber(ot) then
          redis.call('HSET', ent, 'ot', tss)
          redis.call('ZADD', open, tonumber(A[oi + 1]), A[oi + 2])
        end
      end
    elseif op == 'close' then
      redis.call('HSET', ent, 'closed', 1)
      redis.call('ZREM', open, A[oi + 2])
    end
  else
    out[k] = 0
  end
end
for _, key in ipairs(incn) do
  for field, n in pairs(inc[key]) do
    if n ~= 0 then redis.call('HINCRBY', key, field, n) end
  end
end
for _, key in ipairs(saddn) do
  redis.call('SADD', key, unpack(sadds[key]))
end
if changed then
  BUMP_VERSION
end
return out
""".replace("BUMP_VERSION", BUMP_VERSION_LUA.strip())

# Events per script call: bounds the script's run time and Lua's unpack sizes.
MAX_SCRIPT_BATCH = 500


def occurrence(ts: datetime) -> Occurrence:
    local = ts.astimezone(LOCAL_TZ)
    year = f"{local.year:04d}"
    month = f"{year}{local.month:02d}"
    return Occurrence(ts=int(ts.timestamp()), day=f"{month}{local.day:02d}", month=month, year=year)


def event_args(event: Event) -> list[str | int | float]:
    """The script arguments of one event (see ``APPLY_BATCH_LUA``)."""
    occ = occurrence(event.occurred_at)
    marks = marks_for(event)
    members = set_members(event)
    args: list[str | int | float] = [
        event.event_id,
        occ.ts,
        occ.day,
        occ.month,
        occ.year,
        len(marks),
        *marks,
        len(members),
    ]
    for name, member in members:
        args += [name, member]
    effect = open_effect(event)
    if effect is None:
        args += ["none", 0, ""]
    else:
        args += [effect[0], effect[1], event.entity_id]
    return args


class IndicatorStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._apply = redis.register_script(APPLY_BATCH_LUA)
        self._bump = redis.register_script(BUMP_VERSIONS_LUA)

    async def apply(self, event: Event) -> bool:
        """Apply one event; False when its id was already applied."""
        return (await self.apply_many([event]))[0]

    async def apply_many(self, events: Sequence[Event]) -> list[bool]:
        """Apply events in one round trip: one atomic script call per agency and chunk.

        Returns, per event, whether it was applied (False: its id was seen before).
        """
        groups: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            groups.setdefault(event.agency_code, []).append(index)
        calls: list[list[int]] = []
        pipe = self.redis.pipeline(transaction=False)
        for agency, indexes in groups.items():
            tag = redis_keys.tag(agency)
            for start in range(0, len(indexes), MAX_SCRIPT_BATCH):
                chunk = indexes[start : start + MAX_SCRIPT_BATCH]
                keys = [redis_keys.entity(agency, entity_key(events[i])) for i in chunk]
                flat: list[str | int | float] = []
                for i in chunk:
                    flat += event_args(events[i])
                await self._apply(keys=keys, args=[tag, orjson.dumps(flat)], client=pipe)
                calls.append(chunk)
        flags = [False] * len(events)
        if calls:
            for chunk, result in zip(calls, await pipe.execute(), strict=True):
                for i, flag in zip(chunk, result, strict=True):
                    flags[i] = bool(flag)
        return flags

    async def data_versions(self, agencies: Iterable[str]) -> list[int]:
        """The agencies' data versions (0: never written); equal versions, equal figures."""
        keys = [redis_keys.data_version(code) for code in agencies]
        return [int(v) if v is not None else 0 for v in await self.redis.mget(keys)] if keys else []

    async def bump_data_versions(
        self, agencies: Iterable[str], *, every_written: bool = False
    ) -> None:
        """Mark the agencies' figures changed — with ``every_written`` also every agency that
        has a version (after a rebuild deleted all figures)."""
        tags = {redis_keys.tag(code) for code in agencies}
        if every_written:
            prefix = redis_keys.DATA_VERSION_PREFIX
            tags |= {
                key.decode().removeprefix(prefix)
                async for key in self.redis.scan_iter(f"{prefix}*")
            }
        if tags:
            await self._bump(args=sorted(tags))

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
        return (
            [f"Y{y}" for y in buckets.years]
            + [f"M{y}{m:02d}" for y, m in buckets.months]
            + [f"D{d:%Y%m%d}" for d in buckets.days]
        )

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
        return {
            code: {m.decode() if isinstance(m, bytes) else m for m in members}
            for code, members in zip(codes, results, strict=True)
        }

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
        return {
            code: (int(flat[3 * i]), int(flat[3 * i + 1]), int(flat[3 * i + 2]))
            for i, code in enumerate(codes)
        }

    async def overdue_dossiers(self, agency: str, now: datetime, limit: int = 100) -> list[str]:
        raw = await self.redis.zrangebyscore(
            redis_keys.open_dossiers(agency), "-inf", f"({now.timestamp()}", start=0, num=limit
        )
        return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]
