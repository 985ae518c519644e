"""Redis state of the indicators: the idempotent apply script and the period reads.

The calculator applies a batch with one script call per agency
(``shared/lua/apply_batch.lua``): for each event the script checks the event id against
the entity's seen ids, updates the dossier's lifecycle state (§4a) and moves the counts
that the state change implies between day/month/year buckets; counter increments are
summed over the batch. The API reads bucket counters and sums them; it never recomputes
from raw events.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from importlib import resources

import orjson
from redis.asyncio import Redis

from shared import redis_keys
from shared.counting import (
    INTAKE_BIT,
    PROCEDURE_ITEM,
    Occurrence,
    entity_key,
    intake_items,
    marks_for,
)
from shared.events import (
    DossierDueChanged,
    DossierIntakeRejected,
    DossierPayment,
    DossierRated,
    DossierReceived,
    DossierResolved,
    DossierReturned,
    DossierWithdrawn,
    Event,
    PaymentMethod,
    Satisfaction,
)
from shared.periods import decompose

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

# One call applies a batch of one agency's events (§4, §4a): see the script's header.
APPLY_BATCH_LUA = (
    resources.files("shared.lua")
    .joinpath("apply_batch.lua")
    .read_text("utf-8")
    .replace("--BUMP_VERSION--", BUMP_VERSION_LUA.strip())
)

# Events per script call: bounds the script's run time and Lua's unpack sizes.
MAX_SCRIPT_BATCH = 500


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


# Asia/Ho_Chi_Minh has kept +07:00 without daylight saving since 1975 (events start in
# 2015): fixed-offset arithmetic, 5× cheaper than a ZoneInfo conversion per event.
_LOCAL_OFFSET_S = 7 * 3600


def occurrence(ts: datetime) -> Occurrence:
    ms = (ts - _EPOCH) // _MS
    local = time.gmtime(ms // 1000 + _LOCAL_OFFSET_S)
    year = f"{local.tm_year:04d}"
    month = f"{year}{local.tm_mon:02d}"
    return Occurrence(ts=ms, day=f"{month}{local.tm_mday:02d}", month=month, year=year)


def _epoch_s(ts: datetime) -> str:
    return repr(ts.timestamp())


def _flag(value: bool) -> str:
    return "1" if value else "0"


def id_hash(event_id: str) -> str:
    """4 bytes (8 hex digits) of the event id: its idempotency key in the entity's state."""
    return hashlib.blake2b(event_id.encode(), digest_size=4).hexdigest()


def event_args(event: Event) -> list[str]:
    """The script arguments of one event (see ``shared/lua/apply_batch.lua``)."""
    occ = occurrence(event.occurred_at)
    head = [
        id_hash(event.event_id),
        event.event_id,
        str(occ.ts),
        occ.day,
        occ.month,
        occ.year,
        event.entity_id,
    ]
    match event:
        case DossierReceived():
            bits = 0
            procedures: list[str] = []
            for item in intake_items(event):
                if item.startswith(PROCEDURE_ITEM):
                    procedures.append(item.removeprefix(PROCEDURE_ITEM))
                else:
                    bits |= INTAKE_BIT[item]
            due = _epoch_s(event.due_at)
            return ["R", *head, due, str(bits), str(len(procedures)), *procedures]
        case DossierResolved():
            return ["S", *head, _flag(event.occurred_at <= event.due_at)]
        case DossierReturned():
            return ["T", *head, _flag(event.result_electronic)]
        case DossierRated():
            satisfied = event.satisfaction is not Satisfaction.unsatisfied
            return ["Q", *head, _flag(satisfied)]
        case DossierPayment():
            online = event.method is PaymentMethod.online
            return ["P", *head, _flag(online), event.procedure_code]
        case DossierDueChanged():
            due = _epoch_s(event.due_at) if event.due_at is not None else ""
            return ["C", *head, due]
        case DossierWithdrawn():
            return ["W", *head]
        case DossierIntakeRejected():
            return ["X", *head]
    marks = marks_for(event)
    return ["G", *head, str(len(marks)), *marks]


Offsets = Mapping[tuple[str, int], int]


class IndicatorStore:
    """Reads and writes the figures of one keyspace: a fixed one (``keyspace=``, e.g. the
    fresh keyspace a rebuild derives into) or the current one (``keyspace:current``,
    re-read at most every ``keyspace_ttl_s``)."""

    def __init__(
        self, redis: Redis, keyspace: str | None = None, keyspace_ttl_s: float = 1.0
    ) -> None:
        self.redis = redis
        self._apply = redis.register_script(APPLY_BATCH_LUA)
        self._bump = redis.register_script(BUMP_VERSIONS_LUA)
        self._fixed = keyspace
        self._ttl = keyspace_ttl_s
        self._ks: str | None = None
        self._ks_at = 0.0

    async def keyspace(self) -> str:
        if self._fixed is not None:
            return self._fixed
        now = time.monotonic()
        if self._ks is None or now - self._ks_at >= self._ttl:
            raw = await self.redis.get(redis_keys.KEYSPACE_CURRENT)
            self._ks = raw.decode() if isinstance(raw, bytes) else (raw or "")
            self._ks_at = now
        return self._ks

    async def apply(self, event: Event) -> bool:
        """Apply one event; False when its id was already applied."""
        return (await self.apply_many([event]))[0]

    async def apply_many(
        self, events: Sequence[Event], offsets: Offsets | None = None
    ) -> list[bool]:
        """Apply events in one round trip: one atomic script call per agency and chunk.

        ``offsets`` ((topic, partition) → offset of the batch's last record) are raised in
        the keyspace's applied offsets by the last call, atomically with its figures.
        Returns, per event, whether it was applied (False: its id was seen before).
        """
        ks = await self.keyspace()
        groups: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            groups.setdefault(event.agency_code, []).append(index)
        plan: list[tuple[str, list[int]]] = []
        for agency, indexes in groups.items():
            for start in range(0, len(indexes), MAX_SCRIPT_BATCH):
                plan.append((agency, indexes[start : start + MAX_SCRIPT_BATCH]))
        offsets_arg = (
            orjson.dumps({f"{t}:{p}": o for (t, p), o in offsets.items()}) if offsets else b""
        )
        pipe = self.redis.pipeline(transaction=False)
        for n, (agency, chunk) in enumerate(plan):
            keys = [redis_keys.entity(agency, entity_key(events[i]), ks) for i in chunk]
            flat: list[str] = []
            for i in chunk:
                flat += event_args(events[i])
            last = offsets_arg if n == len(plan) - 1 else b""
            args: list[str | bytes] = [redis_keys.tag(agency), orjson.dumps(flat), ks, last]
            await self._apply(keys=keys, args=args, client=pipe)
        if not plan and offsets_arg:
            await self._apply(keys=[], args=["{}", b"[]", ks, offsets_arg], client=pipe)
        flags = [False] * len(events)
        results = await pipe.execute() if plan or offsets_arg else []
        for (_, chunk), result in zip(plan, results, strict=False):
            for i, flag in zip(chunk, result, strict=True):
                flags[i] = bool(flag)
        return flags

    async def applied_events(self, agencies: Iterable[str]) -> dict[str, int]:
        """Per agency, how many distinct event ids its figures hold (events counted)."""
        ks = await self.keyspace()
        codes = list(agencies)
        pipe = self.redis.pipeline(transaction=False)
        for code in codes:
            pipe.hget(redis_keys.stats(code, ks), "events")
        values = await pipe.execute() if codes else []
        return {c: int(v or 0) for c, v in zip(codes, values, strict=True)}

    async def applied_offsets(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → offset of the last record whose effects are in Redis."""
        raw = await self.redis.hgetall(redis_keys.applied_offsets(await self.keyspace()))
        out: dict[tuple[str, int], int] = {}
        for field, value in raw.items():
            topic, _, partition = (
                field.decode() if isinstance(field, bytes) else field
            ).rpartition(":")
            out[(topic, int(partition))] = int(value)
        return out

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
        ks = await self.keyspace()
        pipe = self.redis.pipeline(transaction=False)
        plan: list[str] = []
        for code in codes:
            prefix = redis_keys.counters_prefix(code, ks)
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
        ks = await self.keyspace()
        pipe = self.redis.pipeline(transaction=False)
        counted = name in redis_keys.COUNTED_SETS
        for code in codes:
            if counted:
                prefix = redis_keys.counted_set_prefix(code, name, ks)
                for suffix in suffixes:
                    pipe.hkeys(prefix + suffix)
            else:
                prefix = redis_keys.set_prefix(code, name, ks)
                pipe.sunion([prefix + s for s in suffixes])
        results = await pipe.execute() if codes else []
        per_code = len(suffixes) if counted else 1
        out: dict[str, set[str]] = {}
        for n, code in enumerate(codes):
            members: set[str] = set()
            for part in results[n * per_code : (n + 1) * per_code]:
                members.update(m.decode() if isinstance(m, bytes) else m for m in part)
            out[code] = members
        return out

    async def open_counts(
        self, agencies: Iterable[str], now: datetime, horizon_s: int = 86_400
    ) -> dict[str, tuple[int, int, int]]:
        """Per agency: (open, overdue at ``now``, due within ``horizon_s`` after ``now``)."""
        ts = now.timestamp()
        codes = list(agencies)
        ks = await self.keyspace()
        pipe = self.redis.pipeline(transaction=False)
        for code in codes:
            key = redis_keys.open_dossiers(code, ks)
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
            redis_keys.open_dossiers(agency, await self.keyspace()),
            "-inf",
            f"({now.timestamp()}",
            start=0,
            num=limit,
        )
        return [m.decode() if isinstance(m, bytes) else str(m) for m in raw]
