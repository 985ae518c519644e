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
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.domain.catalog import AgencyCatalog
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


async def _records_of(store: IndicatorStore, ks: str, code: str) -> list[str]:
    """The dossier ids of every record of ``code`` (its dossier buckets)."""
    idents: list[str] = []
    pattern = f"{ks}ent:{{{code}}}:d*"
    async for key in store.redis.scan_iter(match=pattern, count=1_000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if not name.rpartition(":")[2][1:].isdigit():
            continue  # another family starting with d (doc): not a dossier bucket
        for field in await store.redis.hkeys(name):
            idents.append(field.decode() if isinstance(field, bytes) else str(field))
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
