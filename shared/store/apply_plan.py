"""The calculator's share of applying a batch, pure CPU: the script calls of a batch (each
agency's entities with their events, as the rules see them), and per call the rules
applied to the states read (``shared.domain.lifecycle``) and the apply script's arguments
(``shared/store/lua/apply_batch.lua``). Compiled with mypyc like the rules (see
``shared/platform/compiled.py``); :mod:`shared.store.indicator_store` does the I/O."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.domain.calendar import DAY_S
from shared.domain.counting import entity_key
from shared.domain.lifecycle import INF, MONTHLY, RECEIVED, Changes, Step, apply_entity, step_of
from shared.store import keys as redis_keys

if TYPE_CHECKING:
    from shared.contract.fastevents import AnyEvent

# Events per script call (whole entities: an entity's events are in one call): bounds the
# calls' run time in Redis.
MAX_SCRIPT_BATCH = 1000

# local day number → its (YYYYMMDD, YYYYMM, YYYY) buckets; bounded by the days since 2015
_LOCAL_DAYS: dict[int, tuple[str, str, str]] = {}


def _day_buckets(n: int) -> tuple[str, str, str]:
    """The (YYYYMMDD, YYYYMM, YYYY) buckets of a local day number."""
    hit = _LOCAL_DAYS.get(n)
    if hit is None:
        local = time.gmtime(n * DAY_S)
        year = f"{local.tm_year:04d}"
        month = f"{year}{local.tm_mon:02d}"
        hit = _LOCAL_DAYS[n] = (f"{month}{local.tm_mday:02d}", month, year)
    return hit


class EntityEvents:
    """One entity's events in a batch, in batch order: its bucket hash and field (and both
    as one string, ``place``, keyspace and agency included), whether it is a document or
    work file, the rules' view of each event and its batch index."""

    def __init__(self, key: str, ident: str, document: bool, petition: bool) -> None:
        self.key, self.ident, self.document, self.petition = key, ident, document, petition
        self.place = f"{key}\n{ident}"
        self.steps: list[Step] = []
        self.indexes: list[int] = []


# event class → its entity family (``d``, ``doc``, ``wf``: ``entity_key``'s prefix)
_FAMILIES: dict[type, str] = {}
# families whose state is a set of marks (documents, work files), not a lifecycle
_MARKED_FAMILIES = frozenset({"doc", "wf", "proc"})


def _family(event: AnyEvent) -> str:
    family = _FAMILIES.get(type(event))
    if family is None:
        family = _FAMILIES[type(event)] = entity_key(event).partition(":")[0]
    return family


@dataclass
class ApplyCall:
    """One script call: an agency's entities (whole), and whether it is the agency's only
    call of the batch (which then raises its applied offsets atomically with its figures;
    an agency with several calls claims them once all were written)."""

    agency: str
    entities: list[EntityEvents]
    only_of_agency: bool = True


def plan_calls(events: Sequence[AnyEvent], ks: str) -> list[ApplyCall]:
    """The script calls of ``events``: each agency's entities (whole), in calls of at most
    ``MAX_SCRIPT_BATCH`` events."""
    out: list[ApplyCall] = []
    agencies: dict[str, dict[tuple[str, str], EntityEvents]] = {}
    entity_of = redis_keys.entity_of
    for index, event in enumerate(events):
        agency = event.agency_code
        entities = agencies.get(agency)
        if entities is None:
            entities = agencies[agency] = {}
        family = _FAMILIES.get(type(event)) or _family(event)
        ident = event.entity_id
        ent = entities.get((family, ident))
        if ent is None:
            ent = entities[(family, ident)] = EntityEvents(
                entity_of(agency, family, ident, ks),
                ident,
                family in _MARKED_FAMILIES,
                family == "pk",
            )
        ent.steps.append(step_of(event))
        ent.indexes.append(index)
    for agency, entities in agencies.items():
        calls: list[ApplyCall] = []
        current: list[EntityEvents] = []
        size = 0
        for ent in entities.values():
            if current and size + len(ent.steps) > MAX_SCRIPT_BATCH:
                calls.append(ApplyCall(agency, current))
                current, size = [], 0
            current.append(ent)
            size += len(ent.steps)
        calls.append(ApplyCall(agency, current))
        for call in calls:
            call.only_of_agency = len(calls) == 1
        out += calls
    return out


def _score(score: float | None) -> str:
    if score is None:
        return ""
    return "+inf" if score == INF else repr(score)


def _sums(
    changes: Mapping[tuple[int, str], int], prefix: str, monthly: bool = False
) -> dict[str, dict[str, int]]:
    """Per-day changes spread onto their day's, month's and year's keys, summed per field
    (the Decision 766 inputs, ``MONTHLY``: their month's and year's only)."""
    out: dict[str, dict[str, int]] = {}
    for (day, name), n in changes.items():
        if n:
            d, m, y = _day_buckets(day)
            if monthly or name in MONTHLY:
                keys: tuple[str, ...] = (f"{prefix}M{m}", f"{prefix}Y{y}")
            else:
                keys = (f"{prefix}D{d}", f"{prefix}M{m}", f"{prefix}Y{y}")
            for key in keys:
                fields = out.get(key)
                if fields is None:
                    fields = out[key] = {}
                fields[name] = fields.get(name, 0) + n
    return out


class _Keys:
    """The keys a call writes besides its entities and fixed keys, declared to the script
    (KEYS, after those): each named once, referred to in ARGV by its number."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def ref(self, key: str) -> str:
        n = self.index.get(key)
        if n is None:
            self.names.append(key)
            n = self.index[key] = len(self.names)
        return str(n)


def _hash_section(sums: dict[str, dict[str, int]], keys: _Keys) -> list[str | bytes]:
    section: list[str | bytes] = []
    n = 0
    for key, fields in sums.items():
        nonzero = [(f, v) for f, v in fields.items() if v]
        if nonzero:
            n += 1
            section += [keys.ref(key), str(len(nonzero))]
            for f, v in nonzero:
                section += [f, str(v)]
    return [str(n), *section]


def changes_args(ch: Changes, agency: str, ks: str) -> tuple[list[str], list[str | bytes]]:
    """The keys the apply script writes besides the entities' and the fixed ones, and its
    arguments after the entities (see its header): counters, counted sets, sets,
    sorted-set changes, the period versions to raise (those of the buckets written) and
    the number of events applied."""
    keys = _Keys()
    args = _hash_section(_sums(ch.counters, redis_keys.counters_prefix(agency, ks)), keys)
    counted = _sums(ch.holders, redis_keys.counted_set_prefix(agency, "proc_online", ks))
    if ch.counted:
        by_set: dict[str, dict[tuple[int, str], int]] = {}
        for (day, name, member), n in ch.counted.items():
            by_set.setdefault(name, {})[(day, member)] = n
        for name, changes in by_set.items():
            counted |= _sums(
                changes, redis_keys.counted_set_prefix(agency, name, ks), name in MONTHLY
            )
    args += _hash_section(counted, keys)
    members: dict[str, list[str]] = {}
    prefix = redis_keys.set_prefix(agency, "proc_paid_online", ks)
    for day, proc in ch.paid_online:
        d, m, y = _day_buckets(day)
        for key in (f"{prefix}D{d}", f"{prefix}M{m}", f"{prefix}Y{y}"):
            members.setdefault(key, []).append(proc)
    for day, name, member in ch.sets:
        prefix = redis_keys.set_prefix(agency, name, ks)
        _, m, y = _day_buckets(day)
        for key in (f"{prefix}M{m}", f"{prefix}Y{y}"):  # 766 inputs: MONTHLY
            members.setdefault(key, []).append(member)
    args.append(str(len(members)))
    for key, names in members.items():
        args += [keys.ref(key), str(len(names)), *names]
    # per sorted set: its members added (score, member) and removed, one ZADD and one ZREM
    zsets: dict[str, tuple[list[str], list[str]]] = {}

    def zset(key: str) -> tuple[list[str], list[str]]:
        found = zsets.get(key)
        if found is None:
            found = zsets[key] = ([], [])
        return found

    if ch.open:
        added, removed = zset(redis_keys.open_dossiers(agency, ks))
        for ident, score in ch.open.items():
            if score is None:
                removed.append(ident)
            else:
                added += [_score(score), ident]
    for (kind, month, ident), score in ch.open766.items():
        added, removed = zset(redis_keys.open766(agency, kind, month, ks))
        if score is None:
            removed.append(ident)
        else:
            added += [_score(score), ident]
    if ch.published:
        added, _ = zset(redis_keys.publications(agency, ks))
        for ts, member in ch.published:
            added += [str(ts), member]
    args.append(str(len(zsets)))
    for key, (added, removed) in zsets.items():
        args += [keys.ref(key), str(len(added) // 2), *added, str(len(removed)), *removed]
    fields = {f for k in keys.names if (f := redis_keys.bucket_version_field(k)) is not None}
    if fields:
        args += [str(len(fields)), keys.ref(redis_keys.period_versions(agency)), *sorted(fields)]
    else:
        args.append("0")
    args.append(str(ch.applied))
    return keys.names, args


@dataclass
class Computed:
    """A call's states read, their new values, its script arguments and per event whether
    it applied."""

    read: list[bytes | None]
    new: list[bytes]
    args: list[str | bytes]
    flags: list[tuple[int, bool]]
    keys: list[str]  # the keys it writes besides its entities' and the fixed ones
    linked: list[str]  # its dossiers that moved between agencies (§4b): ``Changes.linked``
    unrooted: list[str]  # ``Changes.unrooted``, ``rooted``
    rooted: list[str]


def compute_call(call: ApplyCall, states: Sequence[bytes | None], ks: str) -> Computed:
    """Apply a call's events to its entities' states: what the script must check and write."""
    ch = Changes()
    head: list[str | bytes] = [str(len(call.entities))]
    new_states: list[bytes] = []
    flags: list[tuple[int, bool]] = []
    for ent, raw in zip(call.entities, states, strict=True):
        new, applied = apply_entity(
            raw,
            ent.steps,
            ent.ident,
            call.agency,
            ch,
            document=ent.document,
            petition=ent.petition,
        )
        state = new if new is not None else raw
        assert state is not None  # an entity without a state applies its first event
        new_states.append(state)
        head += [ent.ident, raw or b"", state]
        flags += zip(ent.indexes, applied, strict=True)
    keys, tail = changes_args(ch, call.agency, ks)
    return Computed(
        list(states),
        new_states,
        head + tail,
        flags,
        keys,
        ch.linked,
        ch.unrooted,
        ch.rooted,
    )


class KnownStates:
    """The states of a batch's calls as far as the store knows them without reading Redis
    (:func:`known_states`): per call its states (``None``: unknown or guessed new), per call
    with entities to read its number and their places in the call, and how many entities
    were known, guessed new and left to read."""

    def __init__(self) -> None:
        self.states: list[list[bytes | None]] = []
        self.unread: list[tuple[int, list[int]]] = []
        self.known = 0
        self.new = 0
        self.unknown = 0


def known_states(calls: Sequence[ApplyCall], overlay: dict[str, bytes], guess: bool) -> KnownStates:
    """Each entity's state from ``overlay`` (the states in flight or written last); none for
    a dossier whose events in the batch start with its receipt when ``guess`` (most likely
    new: the script's check turns a wrong guess into a read and a recompute); the others
    are to be read."""
    out = KnownStates()
    for n, call in enumerate(calls):
        states: list[bytes | None] = []
        gaps: list[int] = []
        new = 0
        for i, e in enumerate(call.entities):
            hit = overlay.get(e.place)
            if hit is not None:
                states.append(hit)
                continue
            states.append(None)
            if guess and e.steps[0].kind == RECEIVED and not (e.document or e.petition):
                new += 1
            else:
                gaps.append(i)
        out.states.append(states)
        if gaps:
            out.unread.append((n, gaps))
            out.unknown += len(gaps)
        out.new += new
        out.known += len(call.entities) - len(gaps) - new
    return out


def remember(call: ApplyCall, new: list[bytes], overlay: dict[str, bytes]) -> None:
    """A call's new states in ``overlay``: what the next batch applies its events to."""
    for i, ent in enumerate(call.entities):
        overlay[ent.place] = new[i]


def applied_flags(computed: Sequence[Computed], n: int) -> list[bool]:
    """Per event of the batch (``n``), whether it applied."""
    flags = [False] * n
    for out in computed:
        for index, applied in out.flags:
            flags[index] = applied
    return flags


# -- the compiled copy ------------------------------------------------------------------
# Everything above is also compiled to C (``scripts/compile_rules.py``); the compiled copy
# replaces it only when it was built from this very source (``shared.platform.compiled``).
from shared.platform.compiled import use_compiled  # noqa: E402

COMPILED = use_compiled(globals(), __file__, "shared.store._apply_plan_compiled")
