"""The records of a dossier that moved between agencies (domain README §4b), kept in step.

A dossier's state lives in its agency's Redis slot (``<ks>ent:{agency}:d<n>``): its figures
there are written atomically with it, on one Redis Cluster slot. A ``transferred`` event
gives the dossier a record in each agency it goes through; each record counts what
happened while its agency held it (decisions, open, overdue, the 766 open sets), the
receiving agency's keeps its intake marks. What happened to the dossier — decided,
re-dated, withdrawn, rejected (final for the dossier id, whichever agency sends it), moved
again — is shared: after any event of such a dossier (a redelivered one too), every
record gets the join of all of them (``shared.domain.lifecycle.merge_dossier``), written
where it adds something with the apply script's check, one call per agency. The join is
order-independent and idempotent, so records fed by different calculators in any order
converge, and a crash before the sharing is repaired by the batch's redelivery.

A reorganisation links records the same way without a ``transferred`` event
(:func:`successions`): a record at a unit with no receipt there is joined to the dossier's
record at a unit it continues, and a dossier received at a unit with a successor to the
successors' records, with the hops of ``shared.domain.succession``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from shared.domain.lifecycle import linked_agencies, share_records
from shared.domain.succession import Ask, Link, Succession, asks, links_found
from shared.store import keys as redis_keys
from shared.store.apply_plan import ApplyCall, Computed, changes_args

if TYPE_CHECKING:
    from shared.store.indicator_store import IndicatorStore

# A dossier's records are re-read and re-merged this many times while other writers keep
# changing them, then the batch fails (and is retried whole).
MAX_ROUNDS = 50


# a dossier to share: (agency of one of its records, its id, transfers to add)
Moved = tuple[str, str, tuple[Link, ...]]


async def read_records(
    store: IndicatorStore, ks: str, agency: str, ident: str, links: Iterable[Link] = ()
) -> dict[str, bytes | None]:
    """Every record of the dossier reachable from ``agency``'s (and ``links``' agencies)
    through its transfers."""
    records: dict[str, bytes | None] = {}
    todo = sorted({agency} | {code.decode() for link in links for code in link[2:]})
    while todo:
        raws = await store.read_entities(ks, [(code, ident) for code in todo])
        found: set[str] = set()
        for code, raw in zip(todo, raws, strict=True):
            records[code] = raw
            if raw is not None:
                found |= linked_agencies(raw, ident, code)
        todo = sorted(found - records.keys())
    return records


async def share_facts(
    store: IndicatorStore, ks: str, dossiers: Iterable[Moved]
) -> list[tuple[str, str]]:
    """Bring every record of each moved dossier up to the join of all (and of the
    transfers given): the records it created, (agency, dossier id) — each a new record of
    the dossier, that a reorganisation may link further (:func:`follow`)."""
    created: list[tuple[str, str]] = []
    for agency, ident, links in dict.fromkeys(dossiers):
        for _ in range(MAX_ROUNDS):
            records = await read_records(store, ks, agency, ident, links)
            calls: list[tuple[list[str], list[str | bytes]]] = []
            codes: list[str] = []
            for code, (new, ch) in share_records(records, ident, links).items():
                codes.append(code)
                keys, tail = changes_args(ch, code, ks)
                entity = redis_keys.entity_of(code, "d", ident, ks)
                calls.append(
                    (
                        [entity, *store.fixed_keys(code, ks), *keys],
                        ["1", ident, records[code] or b"", new, *tail, b"", b"", "1"],
                    )
                )
            if not calls:
                break
            results = await store.run_apply(calls)
            store.shared += sum(1 for ok in results if ok)
            created += [
                (code, ident)
                for code, ok in zip(codes, results, strict=True)
                if ok and records[code] is None
            ]
            if all(results):
                break
            store.conflicts += sum(1 for ok in results if not ok)
        else:
            raise RuntimeError(f"the records of a moved dossier kept changing ({agency})")
    return created


async def follow(
    store: IndicatorStore,
    ks: str,
    calls: Sequence[ApplyCall],
    computed: Sequence[Computed],
    succession: Succession | None,
) -> None:
    """After a batch is written: every moved dossier's records shared, and the links a
    reorganisation implies made, again for the records the sharing creates (a transfer
    to a unit its successor then holds the dossier of), until nothing new."""
    moved: list[Moved] = [
        (call.agency, ident, ())
        for call, out in zip(calls, computed, strict=True)
        for ident in out.linked
    ]
    candidates = [
        (call.agency, out.unrooted, out.rooted) for call, out in zip(calls, computed, strict=True)
    ]
    while True:
        if succession is not None:
            moved += await successions(store, ks, candidates, succession)
        if not moved:
            return
        created = await share_facts(store, ks, moved)
        moved = []
        candidates = [(code, [ident], []) for code, ident in created]


async def successions(
    store: IndicatorStore,
    ks: str,
    candidates: Sequence[tuple[str, list[str], list[str]]],
    succession: Succession,
) -> list[Moved]:
    """The dossiers a reorganisation links to another unit's record of them ((agency,
    records with no receipt there, records received there in the batch)): each to the
    farthest unit holding a record of it, each way (``succession.asks``). One pipelined
    read of the candidates."""
    looks: list[Ask] = []
    for agency, unrooted, rooted in candidates:
        looks += asks(succession, agency, unrooted, rooted)
    if not looks:
        return []
    raws = await store.read_entities(ks, [(where, ident) for _, ident, where, _ in looks])
    return links_found(looks, [raw is not None for raw in raws])
