"""Which unit continues which (domain README §4b, §9), as the transfers of the rules see it.

When a unit's ``valid_to`` passes with dossiers still open, they move to its successor "as
if transferred at the start of the successor's validity". The successor then sends the
dossier's later events under its own code, with no ``transferred`` event: the store links
its record of the dossier to the record of the unit that received it with one such
transfer per step of the ``successor_code`` chain (:meth:`Succession.hops`), and the rules
of a transferred dossier do the rest (``shared/store/moved_dossiers.py``).

A hop from ``P`` to its successor ``S`` is dated at ``S``'s first day, 00:00 local time
(``P``'s last day + 1 when ``S`` has no start), with the tie-breaker ``valid_from``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta

from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import Agency, AgencyCatalog
from shared.domain.lifecycle import Changes, linked_agencies, share_records

# (epoch ms, tie-breaker, from, to): a transfer as the rules keep it (lifecycle.Dossier.links)
Link = tuple[int, bytes, bytes, bytes]
HOP_TIE = b"valid_from"


def _start_ms(day: date) -> int:
    return int(datetime.combine(day, time(0), LOCAL_TZ).timestamp()) * 1000


class Succession:
    """The ``successor_code`` chains of an agency catalog."""

    def __init__(self, catalog: AgencyCatalog) -> None:
        self._next: dict[str, tuple[str, Link]] = {}
        agencies = catalog.agencies
        for code, agency in agencies.items():
            hop = self._hop(agency, agencies.get(agency.successor_code or ""))
            if hop is not None:
                self._next[code] = hop
        self._before: dict[str, list[str]] = {}
        for code, (to, _) in self._next.items():
            self._before.setdefault(to, []).append(code)

    @staticmethod
    def _hop(agency: Agency, successor: Agency | None) -> tuple[str, Link] | None:
        if successor is None or successor.agency_code == agency.agency_code:
            return None
        if successor.valid_from is not None:
            start = successor.valid_from
        elif agency.valid_to is not None:
            start = agency.valid_to + timedelta(days=1)
        else:
            return None
        code, to = agency.agency_code.encode(), successor.agency_code.encode()
        return successor.agency_code, (_start_ms(start), HOP_TIE, code, to)

    def has_successor(self, code: str) -> bool:
        return code in self._next

    def has_predecessors(self, code: str) -> bool:
        return code in self._before

    def descendants(self, code: str) -> list[tuple[str, list[Link]]]:
        """The units of ``code``'s successor chain, each with the hops that lead there."""
        out: list[tuple[str, list[Link]]] = []
        path: list[Link] = []
        seen = {code}
        while code in self._next:
            code, link = self._next[code]
            if code in seen:
                break
            seen.add(code)
            path = [*path, link]
            out.append((code, path))
        return out

    def ancestors(self, code: str) -> list[tuple[str, list[Link]]]:
        """The units ``code`` continues, directly or not, each with the hops from there to
        ``code`` (nearest first)."""
        out: list[tuple[str, list[Link]]] = []
        todo: list[tuple[str, list[Link]]] = [(code, [])]
        seen = {code}
        while todo:
            here, path = todo.pop(0)
            for before in sorted(self._before.get(here, ())):
                if before in seen:
                    continue
                seen.add(before)
                hops = [self._next[before][1], *path]
                out.append((before, hops))
                todo.append((before, hops))
        return out


_LAST: list[tuple[AgencyCatalog, Succession]] = []


def succession_of(catalog: AgencyCatalog) -> Succession:
    """The catalog's :class:`Succession`, built once per catalog object (the services
    keep one catalog object until it is replaced)."""
    if not _LAST or _LAST[0][0] is not catalog:
        _LAST[:] = [(catalog, Succession(catalog))]
    return _LAST[0][1]


# a look for a dossier's record: (agency of the record, dossier id, unit to look at, the
# hops between them)
Ask = tuple[str, str, str, list[Link]]


def asks(succession: Succession, agency: str, unrooted: list[str], rooted: list[str]) -> list[Ask]:
    """Where to look for the records a reorganisation links to ``agency``'s dossiers with
    no receipt there or received there in this batch (``lifecycle.Changes.unrooted`` /
    ``rooted``): at the units ``agency`` continues and along its successors — both ways,
    so whichever record comes first, the second finds it."""
    idents = unrooted + rooted
    out: list[Ask] = []
    if idents and succession.has_predecessors(agency):
        for before, hops in succession.ancestors(agency):
            out += [(agency, ident, before, hops) for ident in idents]
    if idents and succession.has_successor(agency):
        for after, hops in succession.descendants(agency):
            out += [(agency, ident, after, hops) for ident in idents]
    return out


def links_found(looks: list[Ask], found: list[bool]) -> list[tuple[str, str, tuple[Link, ...]]]:
    """Per dossier record, the hops to every unit found holding a record of it (the
    union: units that merged into one may each have held it, one after the other)."""
    out: dict[tuple[str, str], list[Link]] = {}
    for (agency, ident, _, hops), hit in zip(looks, found, strict=True):
        if hit:
            have = out.setdefault((agency, ident), [])
            have += [hop for hop in hops if hop not in have]
    return [(agency, ident, tuple(sorted(hops))) for (agency, ident), hops in out.items()]


def follow_records(
    get: Callable[[str, str], bytes | None],
    put: Callable[[str, str, bytes, Changes], None],
    linked: Iterable[tuple[str, str]],
    candidates: Iterable[tuple[str, list[str], list[str]]],
    succession: Succession | None,
) -> None:
    """What the store does after a batch (``shared/store/moved_dossiers.py`` ``follow``),
    over states in memory (``get``/``put`` by agency and dossier id): the moved dossiers'
    records shared, the links a reorganisation implies made, again for the records the
    sharing creates, until nothing new. For the simulator's oracle and the tests."""
    moved: list[tuple[str, str, tuple[Link, ...]]] = [(a, i, ()) for a, i in linked]
    todo_asks = list(candidates)
    while True:
        if succession is not None:
            looks: list[Ask] = []
            for agency, unrooted, rooted in todo_asks:
                looks += asks(succession, agency, unrooted, rooted)
            found = [get(where, ident) is not None for _, ident, where, _ in looks]
            moved += links_found(looks, found)
        if not moved:
            return
        created: list[tuple[str, str]] = []
        for agency, ident, links in dict.fromkeys(moved):
            records: dict[str, bytes | None] = {}
            todo = sorted({agency} | {c.decode() for link in links for c in link[2:]})
            while todo:
                code = todo.pop()
                raw = records[code] = get(code, ident)
                if raw is not None:
                    todo += sorted(linked_agencies(raw, ident, code) - records.keys() - set(todo))
            for code, (new, ch) in share_records(records, ident, links).items():
                if records[code] is None:
                    created.append((code, ident))
                put(code, ident, new, ch)
        moved = []
        todo_asks = [(code, [ident], []) for code, ident in created]
