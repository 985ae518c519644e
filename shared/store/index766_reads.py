"""What the Decision 766 index reads of one agency for one period, in one script call.

The calculator counts every input of the index (``shared/domain/lifecycle.py``): cohort
counters, the counted sets ``proc_received``/``proc_returned_e``, the payment sets, the
766 open sets judged at the evaluation instant (``o766:``) and the publications
(``pub:``). An agency's keys share its hash tag, so one read-only script reads all of
them (one call per agency, every agency in one pipeline, on one server and on a cluster
alike) and answers only what the formulas need: summed marks, per-procedure sums, the
sizes of the dossier unions (never the dossier ids), the open entities past due at the
instant and the publications of the period.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from shared.domain.calendar import DAY_S, LOCAL_OFFSET_S
from shared.domain.lifecycle import (
    OPEN_DOSSIER,
    OPEN_DOSSIER_UNSAT,
    OPEN_PETITION,
    OPEN_PETITION_UNSAT,
)
from shared.store import keys as redis_keys
from shared.store.client import LuaScript
from shared.store.indicator_store import IndicatorStore, bucket_suffixes

# Counter marks the index reads (``cnt:{agency}:<bucket>`` fields).
MARKS_766 = (
    "received",
    "received_full_online_online",
    "received_digitized",
    "received_reused_data",
    "received_digitized_shared",
    "received_citizen_data",
    "c_synced",
    "c_returned_electronic",
    "c_late",
    "c_unsat_or_late",
    "pk_received",
    "pk_class_procedure",
    "pk_class_staff",
    "pk_on_time",
    "pk_unsat_or_late",
)
OPEN_KINDS = (OPEN_DOSSIER, OPEN_DOSSIER_UNSAT, OPEN_PETITION, OPEN_PETITION_UNSAT)

# KEYS: the counter buckets, the proc_received buckets, the proc_returned_e buckets, the
# dos_paid, dos_paid_online and proc_paid_online buckets (nsuf each), the o766 sets of
# kinds d, du, p, pu (nmon each), the publications. ARGV: nsuf, nmon, the ZCOUNT maximum
# ("(T": due before the instant), the publications' score range, the mode ('v': the
# values, and the last second they hold for; 'd': only a SHA-1 of the values, what a
# reader holding a rendering needs), the marks.
READ_766_LUA = """
local nsuf, nmon = tonumber(ARGV[1]), tonumber(ARGV[2])
local zmax, pmin, pmax = ARGV[3], ARGV[4], ARGV[5]
local mode = ARGV[6]
local marks = {}
for i = 7, #ARGV do marks[#marks + 1] = ARGV[i] end
local k = 0
local sums = {}
for i = 1, #marks do sums[i] = 0 end
for s = 1, nsuf do
  local vals = redis.call('HMGET', KEYS[k + s], unpack(marks))
  for i = 1, #marks do
    if vals[i] then sums[i] = sums[i] + tonumber(vals[i]) end
  end
end
k = k + nsuf
local function counted()
  if nsuf == 1 then
    k = k + 1
    return redis.call('HGETALL', KEYS[k])
  end
  local acc, order = {}, {}
  for s = 1, nsuf do
    local flat = redis.call('HGETALL', KEYS[k + s])
    for j = 1, #flat, 2 do
      local m = flat[j]
      if acc[m] == nil then
        acc[m] = 0
        order[#order + 1] = m
      end
      acc[m] = acc[m] + tonumber(flat[j + 1])
    end
  end
  k = k + nsuf
  local out = {}
  for _, m in ipairs(order) do
    out[#out + 1] = m
    out[#out + 1] = acc[m]
  end
  return out
end
local function size()
  if nsuf == 1 then
    k = k + 1
    return redis.call('SCARD', KEYS[k])
  end
  local names = {}
  for s = 1, nsuf do names[s] = KEYS[k + s] end
  k = k + nsuf
  return #redis.call('SUNION', unpack(names))
end
local function union()
  local names = {}
  for s = 1, nsuf do names[s] = KEYS[k + s] end
  k = k + nsuf
  return redis.call('SUNION', unpack(names))
end
local received = counted()
local returned = counted()
local paid = size()
local paid_online = size()
local proc_paid = union()
local open = {}
for kind = 1, 4 do
  local n = 0
  for m = 1, nmon do n = n + redis.call('ZCOUNT', KEYS[k + m], '-inf', zmax) end
  k = k + nmon
  open[kind] = n
end
local pubs = redis.call('ZRANGEBYSCORE', KEYS[k + 1], pmin, pmax, 'WITHSCORES')
local out = {sums, received, returned, paid, paid_online, proc_paid, open, pubs}
if mode == 'd' then return redis.sha1hex(cjson.encode(out)) end
-- until when these values hold: the first due time at or after the instant (an open
-- entity counts as overdue from the second after it) and the first publication dated at
-- or after it ('' : none)
local zmin, pub_ms = string.sub(zmax, 2), string.sub(pmax, 2)
local first = ''
k = k - 4 * nmon
for m = 1, 4 * nmon do
  local due = redis.call('ZRANGEBYSCORE', KEYS[k + m], zmin, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if due[2] and (first == '' or tonumber(due[2]) < first) then first = tonumber(due[2]) end
end
local pubk = KEYS[k + 4 * nmon + 1]
local pub = redis.call('ZRANGEBYSCORE', pubk, pub_ms, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
if pub[2] and (first == '' or tonumber(pub[2]) / 1000 < first) then
  first = tonumber(pub[2]) / 1000
end
out[9] = first == '' and '' or string.format('%d', math.floor(first))
return out
"""
_READ_766 = LuaScript(READ_766_LUA)


@dataclass(frozen=True)
class Publication:
    """A procedure's latest publication in the period (v1.2 ``procedure_published``)."""

    decision_on_time: bool
    publicized: bool
    publicized_on_time: bool
    content_complete: bool


@dataclass(frozen=True)
class Raw766:
    """One agency's inputs of the index for one period and evaluation instant."""

    marks: dict[str, int] = field(default_factory=dict)
    proc_received: dict[str, int] = field(default_factory=dict)  # procedure → cohort dossiers
    proc_returned_e: dict[str, int] = field(default_factory=dict)  # → returned electronic
    dos_paid: int = 0  # dossiers with ≥ 1 payment in the period
    dos_paid_online: int = 0  # with ≥ 1 online payment
    proc_paid_online: frozenset[str] = frozenset()  # procedures with ≥ 1 online payment
    open_overdue: dict[str, int] = field(default_factory=dict)  # kind → past due at instant
    publications: dict[str, Publication] = field(default_factory=dict)  # procedure → latest
    # the last instant (epoch second) these inputs hold for: the next due time or dated
    # publication at or after the instant read at, in whole seconds (None: none follows)
    holds_until_s: int | None = None

    def mark(self, name: str) -> int:
        return self.marks.get(name, 0)

    def overdue(self, kind: str) -> int:
        return self.open_overdue.get(kind, 0)


def local_midnight_s(day: date) -> int:
    """Epoch seconds of the local midnight starting ``day`` (Asia/Ho_Chi_Minh, +07:00)."""
    return day.toordinal() * DAY_S - date(1970, 1, 1).toordinal() * DAY_S - LOCAL_OFFSET_S


def months_of(start: date, end: date) -> list[str]:
    """``YYYYMM`` of every month [start, end] touches."""
    out: list[str] = []
    y, m = start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y}{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _pairs(flat: Sequence[bytes | str | int]) -> dict[str, int]:
    return {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}  # type: ignore[arg-type]


def latest_publications(flat: Sequence[bytes | str]) -> dict[str, Publication]:
    """Per procedure its latest publication (highest score; ties: highest member) from a
    ZRANGEBYSCORE … WITHSCORES reply of the publications set."""
    best: dict[str, tuple[float, str]] = {}
    for i in range(0, len(flat), 2):
        member, score = _text(flat[i]), float(flat[i + 1])
        procedure = member.split("|", 1)[0]
        if procedure not in best or (score, member) > best[procedure]:
            best[procedure] = (score, member)
    out: dict[str, Publication] = {}
    for procedure, (_, member) in best.items():
        flags = member.rsplit("|", 1)[1]
        bits = [c == "1" for c in flags.ljust(4, "0")[:4]]
        out[procedure] = Publication(*bits)
    return out


async def _calls(
    store: IndicatorStore,
    codes: Sequence[str],
    start: date,
    end: date,
    instant_s: int,
    mode: str,
) -> list[tuple[list[str], list[str]]]:
    ks = await store.keyspace()
    suffixes = bucket_suffixes(start, end)
    months = months_of(start, end)
    lo_ms = local_midnight_s(start) * 1000
    args = [
        str(len(suffixes)),
        str(len(months)),
        f"({instant_s}",
        str(lo_ms),
        f"({instant_s * 1000}",
        mode,
        *MARKS_766,
    ]
    calls: list[tuple[list[str], list[str]]] = []
    for code in codes:
        keys = [redis_keys.counters_prefix(code, ks) + s for s in suffixes]
        for name in ("proc_received", "proc_returned_e"):
            keys += [redis_keys.counted_set_prefix(code, name, ks) + s for s in suffixes]
        for name in ("dos_paid", "dos_paid_online", "proc_paid_online"):
            keys += [redis_keys.set_prefix(code, name, ks) + s for s in suffixes]
        for kind in OPEN_KINDS:
            keys += [redis_keys.open766(code, kind, m, ks) for m in months]
        keys.append(redis_keys.publications(code, ks))
        calls.append((keys, args))
    return calls


async def read_766(
    store: IndicatorStore, agencies: Sequence[str], start: date, end: date, instant_s: int
) -> dict[str, Raw766]:
    """Per agency, the index's inputs over the local days [start, end] judged at the epoch
    second ``instant_s`` (open entities overdue when their due time is before it;
    publications dated before it): one script call per agency, all in one pipeline."""
    codes = list(agencies)
    if not codes:
        return {}
    calls = await _calls(store, codes, start, end, instant_s, "v")
    results = await _READ_766.run_many(store.redis, calls)
    out: dict[str, Raw766] = {}
    for code, result in zip(codes, results, strict=True):
        sums, received, returned, paid, paid_online, proc_paid, opened, pubs, first = result
        out[code] = Raw766(
            marks={m: int(v) for m, v in zip(MARKS_766, sums, strict=True)},
            proc_received=_pairs(received),
            proc_returned_e=_pairs(returned),
            dos_paid=int(paid),
            dos_paid_online=int(paid_online),
            proc_paid_online=frozenset(_text(p) for p in proc_paid),
            open_overdue={k: int(n) for k, n in zip(OPEN_KINDS, opened, strict=True)},
            publications=latest_publications(pubs),
            holds_until_s=int(first) if _text(first) else None,
        )
    return out


def holds_until(raws: Mapping[str, Raw766]) -> int | None:
    """The last instant every one of ``raws`` holds for (None: no change follows)."""
    found = [r.holds_until_s for r in raws.values() if r.holds_until_s is not None]
    return min(found) if found else None


async def digest_766(
    store: IndicatorStore, agencies: Sequence[str], start: date, end: date, instant_s: int
) -> bytes:
    """A digest, computed in Redis, of what :func:`read_766` would return (a few bytes per
    agency come back): equal digests, equal inputs."""
    codes = list(agencies)
    if not codes:
        return b""
    calls = await _calls(store, codes, start, end, instant_s, "d")
    results = await _READ_766.run_many(store.redis, calls)
    return b"".join(r if isinstance(r, bytes) else str(r).encode() for r in results)
