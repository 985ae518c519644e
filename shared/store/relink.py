"""Links a reorganisation implies, made for the dossiers already in Redis (domain README
§4b, §9), when the agency catalog changes a ``successor_code``.

The calculator links a dossier's records across a reorganisation when an event of the
dossier arrives (``shared/store/moved_dossiers.py``), with the catalog in force then. A
successor named later — a catalog correction, a decision published after the units had
started — would leave the dossiers already counted unlinked until their next event: one
received by the old unit and resolved by the new one stays open at the old unit, and from
its ``valid_to`` on the read side shows it open (and overdue) at the new one. This pass
looks, for every dossier record of every unit whose chain of predecessors changed, for the
dossier's records at the units it now continues, and links them exactly as the batch path
does (the same asks, the same join, the apply script's check: safe with calculators
running, idempotent, and a record changed meanwhile is re-read). Run after the
calculators have picked the new catalog up (:data:`SETTLE_S`): events they apply from then
on link by themselves.

:func:`reshare_moved` is the repair of the other case the batch path cannot see: a
sharing write lost with writes of a Redis that went back (a failover to a replica behind,
an AOF cut short). The event that caused it was applied and its offsets claimed, so no gap
check replays it; the record that did not get the join stays without it until the
dossier's next event. It brings every moved dossier's records (a state with transfers) to
their join again — idempotent, safe with calculators running (`egov relink`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.domain.catalog import AgencyCatalog
from shared.domain.lifecycle import linked_agencies
from shared.domain.succession import Link, Succession
from shared.store.catalogs import CatalogCache
from shared.store.client import RedisClient
from shared.store.indicator_store import IndicatorStore
from shared.store.moved_dossiers import Moved, share_facts, successions

# every calculator re-reads the catalog every 2 s; a batch prepared just before may apply
# with the old chains: what the pass waits after a catalog change before it looks
SETTLE_S = 5.0
# dossier records asked about per pipelined read
_CHUNK = 2_000


@dataclass
class RelinkReport:
    units: list[str]  # the units whose records were looked at
    records: int = 0  # dossier records looked at
    written: int = 0  # records brought to their dossier's join (0: all linked already)


def _hops(succession: Succession, code: str) -> list[tuple[str, tuple[Link, ...]]]:
    return [(before, tuple(hops)) for before, hops in succession.ancestors(code)]


def changed_units(old: AgencyCatalog, new: AgencyCatalog) -> list[str]:
    """The units of ``new`` whose predecessors (the units they continue, directly or along
    the chain, and the dates of each step) differ from ``old``'s: the units whose dossier
    records a new link may join."""
    before, after = Succession(old), Succession(new)
    return sorted(
        code
        for code in new.agencies
        if after.has_predecessors(code) and _hops(before, code) != _hops(after, code)
    )


def _agency(key: str) -> str:
    """The agency of a key by its hash tag (``ent:{H01.03}:d12`` → ``H01.03``)."""
    return key.split("{", 1)[1].split("}", 1)[0]


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def _dossier_buckets(store: IndicatorStore, ks: str, code: str = "*") -> list[str]:
    """The dossier bucket hashes of ``code`` (``*``: of every agency)."""
    out: list[str] = []
    async for key in store.redis.scan_iter(match=f"{ks}ent:{{{code}}}:d*", count=1_000):
        name = _text(key)
        if name.rpartition(":")[2][1:].isdigit():  # not another family starting with d (doc)
            out.append(name)
    return out


async def _records_of(store: IndicatorStore, ks: str, code: str) -> list[str]:
    """The dossier ids of every record of ``code`` (its dossier buckets)."""
    idents: list[str] = []
    for name in await _dossier_buckets(store, ks, code):
        idents += [_text(field) for field in await store.redis.hkeys(name)]
    return idents


async def relink(
    store: IndicatorStore, catalog: AgencyCatalog, units: Iterable[str]
) -> RelinkReport:
    """Link the dossier records of ``units`` to their records at the units each continues
    under ``catalog`` (and on along the records the joins create), as the batch path
    would have had the catalog said so when their events came."""
    succession = Succession(catalog)
    ks = await store.keyspace()
    report = RelinkReport(units=sorted(set(units)))
    shared_before = store.shared
    for code in report.units:
        idents = await _records_of(store, ks, code)
        report.records += len(idents)
        for i in range(0, len(idents), _CHUNK):
            chunk = idents[i : i + _CHUNK]
            moved: list[Moved] = await successions(store, ks, [(code, chunk, [])], succession)
            while moved:
                created = await share_facts(store, ks, moved)
                moved = await successions(
                    store, ks, [(c, [ident], []) for c, ident in created], succession
                )
    report.written = store.shared - shared_before
    return report


async def reshare_moved(store: IndicatorStore, units: Iterable[str] | None = None) -> RelinkReport:
    """Every moved dossier's records (of ``units``' records, default every agency's) brought
    to the join of all again: what a sharing write lost with a Redis that went back left
    undone (the module's docstring)."""
    ks = await store.keyspace()
    buckets: list[str] = []
    if units is None:
        buckets = await _dossier_buckets(store, ks)
    else:
        for code in sorted(set(units)):
            buckets += await _dossier_buckets(store, ks, code)
    report = RelinkReport(units=sorted({_agency(name) for name in buckets}))
    shared_before = store.shared
    moved: list[Moved] = []
    for name in buckets:
        agency = _agency(name)
        for field, raw in (await store.redis.hgetall(name)).items():
            report.records += 1
            ident = _text(field)
            state = raw if isinstance(raw, bytes) else str(raw).encode()
            if linked_agencies(state, ident, agency):
                moved.append((agency, ident, ()))
        if len(moved) >= _CHUNK:
            await share_facts(store, ks, moved)
            moved = []
    if moved:
        await share_facts(store, ks, moved)
    report.written = store.shared - shared_before
    return report


def continuing_units(catalog: AgencyCatalog) -> list[str]:
    """Every unit that continues another (the units whose records a link may join)."""
    succession = Succession(catalog)
    return sorted(code for code in catalog.agencies if succession.has_predecessors(code))


async def relink_units(
    redis: RedisClient,
    units: Sequence[str] | None = None,
    *,
    catalog: AgencyCatalog | None = None,
    settle_s: float = SETTLE_S,
) -> RelinkReport:
    """Relink ``units`` (default: every unit that continues another) under ``catalog``
    (default: the one in force in Redis), once the calculators have picked it up
    (``settle_s``). ValueError: a code the catalog does not have."""
    if catalog is None:
        catalog = (await CatalogCache(redis).current()).agencies
    chosen = list(units) if units is not None else continuing_units(catalog)
    unknown = sorted(set(chosen) - catalog.codes)
    if unknown:
        raise ValueError(f"unknown agency codes: {', '.join(unknown)}")
    await asyncio.sleep(settle_s)
    return await relink(IndicatorStore(redis), catalog, chosen)
