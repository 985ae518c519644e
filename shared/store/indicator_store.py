"""Redis state of the indicators: the apply path and the period reads.

The calculator applies a batch in three steps per agency: it reads the state of each
entity the batch touches (one script call per agency, all in one pipeline), applies the
lifecycle rules of §4a to them in Python (``shared/domain/lifecycle.py``: new states and
the counter changes they imply, summed over the batch), and writes it all with one short
script call per agency (``shared/store/lua/apply_batch.lua``) that first checks every
state is still what was read: all or nothing, else a conflict, and the calculator re-reads
that call's states and recomputes. With two batches in flight, the next batch applies its
events to the states the previous one is writing (an overlay kept here); the check turns
any miss into a retry, never a wrong figure. The API reads bucket counters and sums them;
it never recomputes from raw events.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Protocol, cast

import orjson
from redis.asyncio.cluster import RedisCluster

from shared.contract.fastevents import AnyEvent
from shared.domain.calendar import DAY_S, LOCAL_OFFSET_S
from shared.domain.counting import Occurrence
from shared.domain.periods import decompose
from shared.domain.succession import Succession
from shared.store import keys as redis_keys
from shared.store.apply_plan import (
    ApplyCall,
    Computed,
    _day_buckets,
    applied_flags,
    compute_call,
    known_states,
    plan_calls,
    remember,
)
from shared.store.bucket_reads import (
    HGETALL,
    HKEYS,
    HMGET,
    SMEMBERS,
    digest_groups,
    read_groups,
)
from shared.store.client import LuaScript, RedisClient
from shared.store.exceptions import RestoreInProgress
from shared.store.moved_dossiers import follow

# Raises an agency's data version (the key ``vk``) to max(current + 1, server clock in µs):
# monotonic even across a deleted key or a flushed database, so a cached figure can never
# be mistaken for current (see redis_keys.data_version).
BUMP_VERSION_LUA = """
local now = redis.call('TIME')
local v = tonumber(now[1]) * 1000000 + tonumber(now[2])
local cur = tonumber(redis.call('GET', vk) or '0')
if cur >= v then v = cur + 1 end
redis.call('SET', vk, string.format('%d', v))
"""

# Raises the data version KEYS[1] of one agency (one call per agency: one slot per call),
# and sets the field ``all`` of its period versions KEYS[2] to it (every period changed).
BUMP_VERSIONS_LUA = (
    "local vk = KEYS[1]\n"
    + BUMP_VERSION_LUA.strip()
    + "\nredis.call('HSET', KEYS[2], 'all', string.format('%d', v))\nreturn 1"
)

# Per key KEYS[i] (an agency's period versions), the largest of its fields ARGV (0: none).
PERIOD_MAX_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  local m = 0
  for _, v in ipairs(redis.call('HMGET', key, unpack(ARGV))) do
    if v then
      local n = tonumber(v)
      if n > m then m = n end
    end
  end
  out[i] = m
end
return out
"""

# Raises (never lowers) fields of the central hash KEYS[1] to the offsets of the JSON object
# ARGV[1] ("<tp>" and "<tp>|<agency>"), fenced by ARGV[2], "" or a JSON object "<tp>" ->
# the batch's gap floor (the offset before which everything must already be in Redis): a
# partition whose central offset + 1 is below it keeps all its fields (a Redis that lost
# writes since — restarted from a short AOF, a promoted replica — while the client retried
# the batch onto it): the gap check then finds the range and replays it. Returns the
# number of partitions refused.
RAISE_OFFSETS_LUA = """
local floor = (ARGV[2] and ARGV[2] ~= '') and cjson.decode(ARGV[2]) or {}
local refused, n = {}, 0
for tp, first in pairs(floor) do
  if tonumber(redis.call('HGET', KEYS[1], tp) or '-1') + 1 < first then
    refused[tp] = true
    n = n + 1
  end
end
for field, off in pairs(cjson.decode(ARGV[1])) do
  local bar = string.find(field, '|', 1, true)
  if not refused[bar and string.sub(field, 1, bar - 1) or field] then
    local cur = tonumber(redis.call('HGET', KEYS[1], field) or '-1')
    if off > cur then redis.call('HSET', KEYS[1], field, string.format('%d', off)) end
  end
end
return n
"""

# The states of one agency's entities: field ARGV[i] of the bucket hash KEYS[i] ("" if none).
READ_STATES_LUA = """
local out = {}
for i = 1, #KEYS do out[i] = redis.call('HGET', KEYS[i], ARGV[i]) or '' end
return out
"""

# Writes one agency's share of a batch if its states are still as read: see its header.
APPLY_BATCH_LUA = (
    resources.files("shared.store.lua")
    .joinpath("apply_batch.lua")
    .read_text("utf-8")
    .replace("--BUMP_VERSION--", BUMP_VERSION_LUA.strip())
)

# The apply script's arguments of a call that only raises offsets: no entity, counter,
# counted set, set, open change nor event.
NO_CHANGE = ("0",) * 7
# Entity states an IndicatorStore applies the next batch to without reading them: those it
# wrote last (~250 bytes each; a dossier's events come over days, so most entities of a
# batch were in a recent one).
KNOWN_STATES = 100_000
# A call that keeps meeting other writers' states gives up (the batch is retried whole).
MAX_CONFLICTS = 50


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


_LOCAL_OFFSET_S = LOCAL_OFFSET_S  # the calendar's fixed +07:00 (shared/domain/calendar.py)
_DAY_S = DAY_S


def _buckets(ms: int) -> tuple[str, str, str]:
    """The local day, month and year buckets of an instant (epoch milliseconds)."""
    return _day_buckets((ms // 1000 + _LOCAL_OFFSET_S) // _DAY_S)


def occurrence(ts: datetime) -> Occurrence:
    ms = (ts - _EPOCH) // _MS
    day, month, year = _buckets(ms)
    return Occurrence(ts=ms, day=day, month=month, year=year)


def local_year(ts: datetime) -> str:
    """The local year (YYYY) of an instant: ``occurrence(ts).year`` without the rest."""
    return _buckets((ts - _EPOCH) // _MS)[2]


Offsets = Mapping[tuple[str, int], int]


def _tp_field(tp: tuple[str, int]) -> str:
    return f"{tp[0]}:{tp[1]}"


def _parse_tp(field: str) -> tuple[str, int]:
    topic, _, partition = field.rpartition(":")
    return topic, int(partition)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


class ScriptTurn(Protocol):
    """A batch's turn among the batches in flight (``services.calculator.checkpoint``)."""

    async def wait_turn(self) -> None:
        """Return once the previous batch's script calls returned."""

    def scripts_returned(self) -> None:
        """This batch's script calls returned: the next batch's may run."""


class ComputePlace:
    """A batch's place among the batches computing on one store: it computes once the
    batch before it put its states in the overlay (or failed). Taken synchronously, in
    the order of the batches' turns; released once computed (or abandoned: the next
    batch then goes on)."""

    __slots__ = ("mine", "previous")

    def __init__(self, previous: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
        self.previous, self.mine = previous, mine

    @property
    def released(self) -> bool:
        return self.mine.done()

    def release(self) -> None:
        if not self.mine.done():
            self.mine.set_result(None)


@lru_cache(maxsize=4096)
def bucket_suffixes(start: date, end: date) -> tuple[str, ...]:
    """The bucket key suffixes covering [start, end]: the fewest years, months and days
    (``decompose``): ``Y2024``, ``M202401``, ``D20240131``."""
    buckets = decompose(start, end)
    return (
        tuple(f"Y{y}" for y in buckets.years)
        + tuple(f"M{y}{m:02d}" for y, m in buckets.months)
        + tuple(f"D{d:%Y%m%d}" for d in buckets.days)
    )


@dataclass(frozen=True)
class ApplyPlan:
    """The script calls of a batch of events in one keyspace (see :class:`ApplyCall`)."""

    keyspace: str
    calls: list[ApplyCall]


def _plan(events: Sequence[AnyEvent], ks: str) -> ApplyPlan:
    return ApplyPlan(ks, plan_calls(events, ks))


class IndicatorStore:
    """Reads and writes the figures of one keyspace: a fixed one (``keyspace=``, e.g. the
    fresh keyspace a rebuild derives into) or the current one (``keyspace:current``,
    re-read at most every ``keyspace_ttl_s``)."""

    def __init__(
        self,
        redis: RedisClient,
        keyspace: str | None = None,
        keyspace_ttl_s: float = 1.0,
        *,
        honour_fence: bool = True,
        known_states: int = KNOWN_STATES,
    ) -> None:
        self.redis = redis
        # whether a batch refuses to apply while `egov restore` holds its fence (False:
        # the restore's own replay)
        self.honour_fence = honour_fence
        self._apply = LuaScript(APPLY_BATCH_LUA)
        self._read_states = LuaScript(READ_STATES_LUA)
        self._bump = LuaScript(BUMP_VERSIONS_LUA)
        self._period_max = LuaScript(PERIOD_MAX_LUA)
        self._raise = LuaScript(RAISE_OFFSETS_LUA)
        # (keyspace, agency, (topic, partition)) → the offset this process knows the
        # agency reached there (its own claims, and the central hash as read by gaps()):
        # the apply script raises an agency's claim only from there on (see gaps())
        self._reached: dict[tuple[str, str, tuple[str, int]], int] = {}
        self._fixed = keyspace
        # keyspaces this store recorded its layout in (on its first write to each)
        self._marked: set[str] = set()
        self._ttl = keyspace_ttl_s
        self._ks: str | None = None
        self._ks_at = 0.0
        # an entity's place (``EntityEvents.place``) → the state a batch in flight is
        # writing, or the last one this store wrote: what the next batch applies its
        # events to without reading it (the script's check turns a stale one into a
        # retry); at most ``known_states``, the oldest forgotten first
        self._overlay: dict[str, bytes] = {}
        self.known_states = known_states
        # the calls of the batches computed and not yet written: their states are never
        # forgotten while they write, whatever ``known_states`` (the next batch computes
        # on them)
        self._writing: list[list[ApplyCall]] = []
        self.known = 0  # entities a batch applied to without reading them
        self.new = 0  # … guessed new: a dossier whose events in the batch start with its receipt
        self.unknown = 0  # … read first
        # resolved once the last batch to take its place has put its states in the
        # overlay (take_place)
        self._computed: asyncio.Future[None] | None = None
        # the catalog's successor chains: a reorganisation links a dossier's records in the
        # units it went through (``moved_dossiers.successions``); None: not followed
        self.succession: Succession | None = None
        self.conflicts = 0  # script calls that met a state other than the one read
        self.fenced = 0  # central raises refused: Redis was behind the batch's gap floor
        self.shared = 0  # records a moved dossier's sharing wrote (moved_dossiers)

    async def keyspace(self) -> str:
        if self._fixed is not None:
            return self._fixed
        now = time.monotonic()
        if self._ks is None or now - self._ks_at >= self._ttl:
            raw = await self.redis.get(redis_keys.KEYSPACE_CURRENT)
            self._ks = raw.decode() if isinstance(raw, bytes) else (raw or "")
            self._ks_at = now
        return self._ks

    async def apply(self, event: AnyEvent) -> bool:
        """Apply one event; False when its id was already applied."""
        return (await self.apply_many([event]))[0]

    async def plan(self, events: Sequence[AnyEvent]) -> ApplyPlan:
        """The script calls of :meth:`apply_many` for ``events`` (CPU only: the calculator
        builds the next batch's while the previous one is in Redis)."""
        return ApplyPlan(await self.keyspace(), plan_calls(events, await self.keyspace()))

    async def read_states(self, calls: Sequence[ApplyCall]) -> list[list[bytes | None]]:
        """The stored state of each entity of the calls (``None``: none), one script call
        per agency call, in one pipeline."""
        raw = await self._read_states.run_many(
            self.redis,
            [([e.key for e in c.entities], [e.ident for e in c.entities]) for c in calls],
        )
        return [[v or None for v in states] for states in raw]

    def take_place(self) -> ComputePlace:
        """The next place among the batches computing: a batch computes on the states of
        those that took theirs before it. Take it before awaiting anything (the calculator:
        as a batch starts, in the order of the turns), and release it in every case."""
        mine = asyncio.get_running_loop().create_future()
        previous, self._computed = self._computed, mine
        return ComputePlace(previous, mine)

    async def apply_many(
        self,
        events: Sequence[AnyEvent],
        offsets: Offsets | None = None,
        plan: ApplyPlan | None = None,
        *,
        turn: ScriptTurn | None = None,
        floor: Offsets | None = None,
        place: ComputePlace | None = None,
    ) -> list[bool]:
        """Apply events: read their entities' states, apply the rules, and write with one
        atomic check-then-write script call per agency (and chunk), in one pipeline (on a
        cluster, one per node), each call on its agency's slot. A call whose states changed
        since they were read writes nothing: its states are read again and it is recomputed
        and sent again, until it is written.

        ``offsets`` ((topic, partition) → offset of the batch's last record) are raised in
        each agency's applied offsets atomically with its figures (an agency with several
        calls: once they were all written); once every call succeeded, in the central
        ``applied:offsets`` too (``<tp>``, and ``<tp>|<agency>`` for each agency of the
        batch: what that agency must have reached, see :meth:`gaps`). ``plan``:
        :meth:`plan` of these events, used unless the current keyspace changed since.
        Returns, per event, whether it was applied (False: its id was seen before).

        ``floor``: per partition, the offset before which everything must already be in
        Redis (the batch's first, or an earlier batch's still applying): the central raise
        of a partition whose central offset + 1 is below it is refused (Redis lost writes
        since the last gap check, and the client's retry sent this batch to it), so the
        next gap check replays the range instead of the raise hiding it. ``None``: no fence.

        ``turn``: with several batches in flight, the batch's place in their order (the
        calculator's checkpoint, ``services.calculator.checkpoint``): its script calls are
        sent once the previous batch's returned, so each agency's calls, claims and the
        central offsets keep the order of a single stream. A batch
        reads and computes meanwhile, applying its events to the states the previous one
        is writing (the overlay); the scripts' check covers any difference.

        ``place``: the batch's place among those computing (:meth:`take_place`), taken
        when the batch started; default (or once used): taken now, before anything is
        awaited.
        """
        if place is None or place.released:
            place = self.take_place()
        calls: list[ApplyCall] = []
        computed: list[Computed] = []
        try:
            if self.honour_fence and await self.redis.exists(redis_keys.RESTORE_FENCE):
                raise RestoreInProgress("egov restore is replacing the database: nothing applied")
            ks = await self.keyspace()
            if plan is None or plan.keyspace != ks:
                plan = _plan(events, ks)
            if ks not in self._marked:  # whatever writes figures records their layout
                await self.mark_layout(ks)
            calls = plan.calls
            if place.previous is not None:
                # its states in the overlay (or it failed)
                await asyncio.wait([place.previous])
            read = await self._known_or_read(calls)
            self._writing.append(calls)
            for call, states in zip(calls, read, strict=True):
                computed.append(self._compute(call, states, ks))
                await asyncio.sleep(0)
        except BaseException:
            self._done_writing(calls)
            self._drop_overlay(calls)
            raise
        finally:
            place.release()
        try:
            flags = await self._write(events, offsets, calls, computed, ks, turn)
        except BaseException:
            self._drop_overlay(calls)
            raise
        finally:
            self._done_writing(calls)
        self._forget_oldest()
        # §4b, before the offsets are claimed (a crash redelivers, and shares again)
        await follow(self, ks, calls, computed, self.succession)
        groups = dict.fromkeys(c.agency for c in calls)
        if offsets:
            # the agencies' own claims: what the next batch's calls must find (see gaps())
            for agency in groups:
                for tp, o in offsets.items():
                    self._know(ks, agency, tp, o)
        if turn is not None:
            turn.scripts_returned()
        if offsets:
            central: dict[str, int] = {redis_keys.LAYOUT_FIELD: redis_keys.LAYOUT_VERSION}
            central |= {_tp_field(tp): o for tp, o in offsets.items()}
            for agency in groups:
                central |= {f"{_tp_field(tp)}|{agency}": o for tp, o in offsets.items()}
            fence = orjson.dumps({_tp_field(tp): o for tp, o in floor.items()}) if floor else b""
            refused = await self._raise.run(
                self.redis, [redis_keys.applied_offsets(ks)], [orjson.dumps(central), fence]
            )
            self.fenced += int(refused)  # the next gap check logs and replays the range
        return flags

    async def _known_or_read(self, calls: Sequence[ApplyCall]) -> list[list[bytes | None]]:
        """The calls' entities' states: from the overlay (what a batch in flight writes,
        or this store wrote last); none for a dossier the batch receives first (a receipt
        of a dossier already stored — a redelivery, a receipt after its other events — is
        the script's conflict, read and recomputed); the others read in one pipeline (a
        script call per agency call that has any)."""
        known = known_states(calls, self._overlay, self.known_states > 0)
        self.known += known.known
        self.new += known.new
        self.unknown += known.unknown
        if known.unread:
            unread = [
                ApplyCall(calls[n].agency, [calls[n].entities[i] for i in gaps])
                for n, gaps in known.unread
            ]
            for (n, gaps), got in zip(known.unread, await self.read_states(unread), strict=True):
                states = known.states[n]
                for i, state in zip(gaps, got, strict=True):
                    states[i] = state
        return known.states

    def _compute(
        self, call: ApplyCall, states: Sequence[bytes | None], ks: str
    ) -> Computed:
        """What a call writes: its states then join the overlay."""
        out = compute_call(call, states, ks)
        self._remember(call, out)
        return out

    def _remember(self, call: ApplyCall, out: Computed) -> None:
        remember(call, out.new, self._overlay)

    def _remember_again(self, call: ApplyCall, was: Computed, out: Computed) -> None:
        """A call recomputed after a conflict: its states replace those it first computed,
        not those a later batch computed since (that batch conflicts and recomputes)."""
        overlay = self._overlay
        for ent, old, state in zip(call.entities, was.new, out.new, strict=True):
            if overlay.get(ent.place) is old:
                overlay[ent.place] = state

    def _drop_overlay(self, calls: Sequence[ApplyCall]) -> None:
        """Forget the states of a batch that failed to write (and a later batch's of the
        same entities: computed on them, it conflicts): Redis holds what is current."""
        overlay = self._overlay
        for call in calls:
            for ent in call.entities:
                overlay.pop(ent.place, None)

    def _done_writing(self, calls: list[ApplyCall]) -> None:
        self._writing = [c for c in self._writing if c is not calls]

    def _forget_oldest(self) -> None:
        """Past ``known_states``, forget the first entered down to half of it (0: every
        state written), but not the states of batches still writing."""
        overlay = self._overlay
        if len(overlay) > self.known_states:
            keep = self.known_states // 2
            kept = dict(itertools.islice(overlay.items(), len(overlay) - keep, None))
            for calls in self._writing:
                for call in calls:
                    for ent in call.entities:
                        state = overlay.get(ent.place)
                        if state is not None:
                            kept[ent.place] = state
            self._overlay = kept

    async def _write(
        self,
        events: Sequence[AnyEvent],
        offsets: Offsets | None,
        calls: list[ApplyCall],
        computed: list[Computed],
        ks: str,
        turn: ScriptTurn | None,
    ) -> list[bool]:
        """Send the calls, recompute and resend those that met other states, then claim
        the offsets of agencies with several calls."""
        offsets_arg = (
            orjson.dumps({_tp_field(tp): o for tp, o in offsets.items()}) if offsets else b""
        )
        if turn is not None:
            await turn.wait_turn()
        todo = list(range(len(calls)))
        for attempt in range(MAX_CONFLICTS + 1):
            script_calls = [
                self._script_call(calls[i], computed[i], ks, offsets, offsets_arg) for i in todo
            ]
            results = await self._apply.run_many(self.redis, script_calls)
            todo = [i for i, ok in zip(todo, results, strict=True) if not ok]
            if not todo:
                break
            self.conflicts += len(todo)
            if attempt == MAX_CONFLICTS:
                raise RuntimeError(f"{len(todo)} apply calls kept conflicting")
            # another writer's states: read them again (the batches before are written)
            again = await self.read_states([calls[i] for i in todo])
            for i, states in zip(todo, again, strict=True):
                was, computed[i] = computed[i], compute_call(calls[i], states, ks)
                self._remember_again(calls[i], was, computed[i])
        flags = applied_flags(computed, len(events))
        if offsets:
            shared = dict.fromkeys(c.agency for c in calls if not c.only_of_agency)
            if shared:
                await self._apply.run_many(
                    self.redis,
                    [
                        (
                            self._fixed_keys(a, ks),
                            [
                                *NO_CHANGE,
                                offsets_arg,
                                self._expect(ks, a, offsets),
                            ],
                        )
                        for a in shared
                    ],
                )
        return flags

    def _expect(self, ks: str, agency: str, offsets: Offsets) -> bytes:
        """What this store knows the agency reached (the script claims no less)."""
        return orjson.dumps(
            {
                _tp_field(tp): self._reached[(ks, agency, tp)]
                for tp in offsets
                if (ks, agency, tp) in self._reached
            }
        )

    def _script_call(
        self,
        call: ApplyCall,
        out: Computed,
        ks: str,
        offsets: Offsets | None,
        offsets_arg: bytes,
    ) -> tuple[list[str], list[str | bytes]]:
        claim = bool(offsets) and call.only_of_agency
        tail: list[str | bytes] = (
            [offsets_arg, self._expect(ks, call.agency, offsets)]
            if claim and offsets
            else [b"", b""]
        )
        return (
            [e.key for e in call.entities] + self._fixed_keys(call.agency, ks) + out.keys,
            [*out.args, *tail],
        )

    def _know(self, ks: str, agency: str, tp: tuple[str, int], offset: int) -> None:
        key = (ks, agency, tp)
        if offset > self._reached.get(key, -1):
            self._reached[key] = offset

    async def read_entities(
        self, ks: str, records: Sequence[tuple[str, str]]
    ) -> list[bytes | None]:
        """The states of dossiers by (agency, dossier id) (``None``: none)."""
        raw = await self._read_states.run_many(
            self.redis,
            [([redis_keys.entity_of(a, "d", ident, ks)], [ident]) for a, ident in records],
        )
        return [states[0] or None for states in raw]

    async def run_apply(self, calls: Sequence[tuple[list[str], list[str | bytes]]]) -> list[bool]:
        """Send apply script calls (keys, args) in one pipeline: per call, written or not."""
        return [bool(ok) for ok in await self._apply.run_many(self.redis, list(calls))]

    def fixed_keys(self, agency: str, ks: str) -> list[str]:
        """The apply script's four fixed keys of an agency."""
        return self._fixed_keys(agency, ks)

    @staticmethod
    def _fixed_keys(agency: str, ks: str) -> list[str]:
        """The apply script's last four keys (see its header)."""
        return [
            redis_keys.stats(agency, ks),
            redis_keys.applied_agency(agency, ks),
            redis_keys.data_version(agency),
            redis_keys.open_dossiers(agency, ks),
        ]

    async def claim_applied(self, agencies: Iterable[str], offsets: Offsets) -> None:
        """Raise the agencies' applied offsets (a replay re-applied everything before them)."""
        arg = orjson.dumps({_tp_field(tp): o for tp, o in offsets.items()})
        ks = await self.keyspace()
        calls: list[tuple[list[str], list[str | bytes]]] = [
            (self._fixed_keys(a, ks), [*NO_CHANGE, arg, b""]) for a in agencies
        ]
        if calls and offsets:
            await self._apply.run_many(self.redis, calls)

    async def gaps(
        self, reached: Offsets, agencies: Iterable[str] | None = None
    ) -> dict[tuple[str, int], tuple[int, int, list[str]]]:
        """Where Redis lost writes: per (topic, partition) of ``reached`` (the offset up to
        which everything must be in Redis; 0 when unknown: a partition this worker was
        just given), the range [start, end) to replay and the agencies found behind. The
        end is ``reached`` or, when higher, the central offset + 1.

        A partition is behind when the central applied offset + 1 is before ``reached``, or
        when an agency's own applied offset is below what the central hash says it reached
        (``<tp>|<agency>``: its primary failed over and lost its last calls while the
        others kept theirs). ``agencies``: those to check (default: every agency the
        central hash names for these partitions).

        A failover between this check and the next batch would let that batch's claim,
        made on the promoted replica, cover the writes it lost: so the apply script raises
        an agency's claim only when it is at least what this store knows the agency
        reached (the central values read here, and its own claims); an agency below stays
        behind, and the next check finds it."""
        if not reached:
            return {}
        ks = await self.keyspace()
        central_key = redis_keys.applied_offsets(ks)
        tps = list(reached)
        if agencies is None:
            names: set[str] = set()
            wanted = {_tp_field(tp) for tp in tps}
            for field in await self.redis.hkeys(central_key):
                tp_field, sep, agency = _text(field).partition("|")
                if sep and tp_field in wanted:
                    names.add(agency)
            codes = sorted(names)
        else:
            codes = sorted(set(agencies))
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(central_key, [_tp_field(tp) for tp in tps])
        for code in codes:
            pipe.hmget(central_key, [f"{_tp_field(tp)}|{code}" for tp in tps])
            pipe.hmget(redis_keys.applied_agency(code, ks), [_tp_field(tp) for tp in tps])
        raw = await pipe.execute()

        def num(value: bytes | str | None) -> int:
            return int(value) if value is not None else -1

        out: dict[tuple[str, int], tuple[int, int, list[str]]] = {}
        for n, tp in enumerate(tps):
            start = num(raw[0][n]) + 1
            end = max(reached[tp], start)
            behind: list[str] = []
            for k, code in enumerate(codes):
                expected, claimed = num(raw[1 + 2 * k][n]), num(raw[2 + 2 * k][n])
                self._know(ks, code, tp, expected)
                if claimed < expected:
                    behind.append(code)
                    start = min(start, claimed + 1)
            if start < end:
                out[tp] = (start, end, behind)
        return out

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
        """(topic, partition) → offset of the last record of the last batch whose every
        call succeeded (the central hash; per agency, see :meth:`gaps`)."""
        raw = await self.redis.hgetall(redis_keys.applied_offsets(await self.keyspace()))
        out: dict[tuple[str, int], int] = {}
        for field, value in raw.items():
            name = _text(field)
            if "|" not in name and name != redis_keys.LAYOUT_FIELD:
                out[_parse_tp(name)] = int(value)
        return out

    async def layout(self) -> int | None:
        """The layout version recorded in the keyspace (None: none recorded)."""
        ks = await self.keyspace()
        raw = await self.redis.hget(redis_keys.applied_offsets(ks), redis_keys.LAYOUT_FIELD)
        return int(raw) if raw is not None else None

    async def has_derived_state(self) -> bool:
        """Whether the keyspace holds any derived key (figures, entities, offsets)."""
        ks = await self.keyspace()
        for kind in redis_keys.DERIVED_KINDS:
            async for _ in self.redis.scan_iter(f"{ks}{kind}*", count=1000):
                return True
        return False

    async def mark_layout(self, ks: str | None = None) -> None:
        """Record this code's layout version in the keyspace (default: the current one),
        never over another version: done by the first write of figures, and by the
        calculator's first start on an empty keyspace."""
        ks = await self.keyspace() if ks is None else ks
        await self.redis.hsetnx(
            redis_keys.applied_offsets(ks), redis_keys.LAYOUT_FIELD, redis_keys.LAYOUT_VERSION
        )
        self._marked.add(ks)

    async def data_versions(self, agencies: Iterable[str]) -> list[int]:
        """The agencies' data versions (0: never written); equal versions, equal figures.
        One MGET on one server (one reply for ~120 agencies: this runs on every cached
        response); on a cluster, where the keys are on different slots, redis-py's
        ``mget_nonatomic`` (one GET per slot, pipelined per node)."""
        keys = [redis_keys.data_version(code) for code in agencies]
        if not keys:
            return []
        if isinstance(self.redis, RedisCluster):
            values = await self.redis.mget_nonatomic(keys)
        else:
            values = await self.redis.mget(keys)
        return [int(v) if v is not None else 0 for v in values]

    async def period_versions(self, agencies: Sequence[str], fields: Sequence[str]) -> list[int]:
        """Per agency, the largest of its period versions' ``fields``
        (``keys.period_version_fields``; 0: never written). Each field is set to the
        agency's data version of the write, and data versions only rise, so the largest
        rises with any write to those periods' buckets: equal values, equal figures. One
        script call on one server (one integer per agency comes back), one per agency on a
        cluster."""
        if not agencies:
            return []
        keys = [redis_keys.period_versions(code) for code in agencies]
        if isinstance(self.redis, RedisCluster):
            calls = [([key], list(fields)) for key in keys]
            return [int(r[0]) for r in await self._period_max.run_many(self.redis, calls)]
        return [int(v) for v in await self._period_max.run(self.redis, keys, list(fields))]

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
            await self._bump.run_many(
                self.redis,
                [
                    (
                        [
                            redis_keys.DATA_VERSION_PREFIX + t,
                            redis_keys.PERIOD_VERSIONS_PREFIX + t,
                        ],
                        [],
                    )
                    for t in sorted(tags)
                ],
            )

    async def sum_marks(
        self, agencies: Iterable[str], start: date, end: date, marks: Sequence[str]
    ) -> dict[str, dict[str, int]]:
        """Per agency, the sum of each mark over [start, end] (local calendar days): the
        fewest year, month and day buckets (``decompose``), read in one script call (one
        per agency on a cluster: ``shared.store.bucket_reads``)."""
        suffixes = self._bucket_suffixes(start, end)
        codes = list(agencies)
        ks = await self.keyspace()
        groups = [
            [redis_keys.counters_prefix(code, ks) + suffix for suffix in suffixes] for code in codes
        ]
        results = await read_groups(self.redis, groups, HMGET, marks) if marks else []
        totals: dict[str, dict[str, int]] = {code: dict.fromkeys(marks, 0) for code in codes}
        for code, replies in zip(codes, results, strict=True):
            acc = totals[code]
            for values in replies:
                for mark, value in zip(marks, values, strict=True):
                    if value is not None:
                        acc[mark] += int(value)
        return totals

    async def buckets_digest(
        self,
        counters: Sequence[tuple[list[str], Mapping[str, Iterable[tuple[date, date]]]]],
        sets: Sequence[tuple[str, Mapping[str, Iterable[tuple[date, date]]]]],
    ) -> bytes:
        """A digest of bucket values, computed in Redis: ``counters`` — per list of marks,
        per agency, the periods whose counter buckets are read (HMGET of the marks);
        ``sets`` — per set name, per agency, the periods whose set buckets are read. The
        buckets are those :meth:`sum_marks` and :meth:`set_union` read; the calls run
        concurrently."""
        ks = await self.keyspace()
        known: dict[tuple[tuple[date, date], ...], list[str]] = {}

        def suffixes(spans: Iterable[tuple[date, date]]) -> list[str]:
            # most agencies share the same periods: each combination is decomposed once
            key = tuple(sorted(spans))
            found = known.get(key)
            if found is None:
                found = known[key] = sorted({s for a, b in key for s in bucket_suffixes(a, b)})
            return found

        calls = []
        for marks, per_agency in counters:
            groups = [
                [redis_keys.counters_prefix(code, ks) + s for s in suffixes(spans)]
                for code, spans in sorted(per_agency.items())
            ]
            calls.append(digest_groups(self.redis, groups, HMGET, marks))
        for name, per_agency in sets:
            counted = name in redis_keys.COUNTED_SETS
            prefix = redis_keys.counted_set_prefix if counted else redis_keys.set_prefix
            groups = [
                [prefix(code, name, ks) + s for s in suffixes(spans)]
                for code, spans in sorted(per_agency.items())
            ]
            calls.append(digest_groups(self.redis, groups, HKEYS if counted else SMEMBERS))
        return b"/".join(await asyncio.gather(*calls))

    def _bucket_suffixes(self, start: date, end: date) -> tuple[str, ...]:
        return bucket_suffixes(start, end)

    async def set_union(
        self, agencies: Iterable[str], start: date, end: date, name: str
    ) -> dict[str, set[str]]:
        """Per agency, the members of a per-period distinct set over [start, end]."""
        suffixes = self._bucket_suffixes(start, end)
        codes = list(agencies)
        ks = await self.keyspace()
        counted = name in redis_keys.COUNTED_SETS
        prefix = redis_keys.counted_set_prefix if counted else redis_keys.set_prefix
        groups = [[prefix(code, name, ks) + suffix for suffix in suffixes] for code in codes]
        results = await read_groups(self.redis, groups, HKEYS if counted else SMEMBERS)
        out: dict[str, set[str]] = {}
        for code, replies in zip(codes, results, strict=True):
            members: set[str] = set()
            for part in replies:
                members.update(m.decode() if isinstance(m, bytes) else m for m in part)
            out[code] = members
        return out

    async def counted_sums(
        self, agencies: Iterable[str], start: date, end: date, name: str
    ) -> dict[str, dict[str, int]]:
        """Per agency, each member of a counted set (``redis_keys.COUNTED_SETS``) with the sum
        of its counts over [start, end]: e.g. procedure → dossiers received. The sets kept per
        month and year only (``lifecycle.MONTHLY``) need a period of whole months."""
        suffixes = self._bucket_suffixes(start, end)
        codes = list(agencies)
        ks = await self.keyspace()
        groups = [
            [redis_keys.counted_set_prefix(code, name, ks) + suffix for suffix in suffixes]
            for code in codes
        ]
        results = await read_groups(self.redis, groups, HGETALL)
        out: dict[str, dict[str, int]] = {}
        for code, replies in zip(codes, results, strict=True):
            acc: dict[str, int] = {}
            for flat in replies:
                for i in range(0, len(flat), 2):
                    member = _text(flat[i])
                    acc[member] = acc.get(member, 0) + int(flat[i + 1])
            out[code] = {m: n for m, n in acc.items() if n}
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

    async def open_with_due(self, agency: str, limit: int = 100) -> list[tuple[str, float]]:
        """The agency's open dossiers with the due time in force (epoch s; ``inf`` while the
        clock is stopped), earliest due first, at most ``limit``."""
        if limit <= 0:
            return []
        raw = await self.redis.zrange(
            redis_keys.open_dossiers(agency, await self.keyspace()), 0, limit - 1, withscores=True
        )
        pairs = cast(list[tuple[bytes | str, float]], raw)  # withscores: (member, score)
        return [(_text(member), float(score)) for member, score in pairs]
