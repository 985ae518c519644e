"""Who holds an ended unit's open dossiers now (domain README §4b), read side.

When an agency's ``valid_to`` passes with dossiers still open, they move to its successor as
if transferred at the start of the successor's validity; without one they are orphaned
open dossiers, listed as such — never silently overdue under an ended unit. A dossier's
state lives in its agency's Redis slot (``open:{agency}``), so a physical move would be a
cross-slot write: the move is made when reading instead (until the successor sends an
event of the dossier: the store then links the two records, ``shared.domain.succession``,
and the dossier leaves the ended unit's open set). Every "now" view of open dossiers
(``GET /v1/dossiers/open``, the board, the overdue alerts, the ``egov_dossiers_*`` gauges)
reads an ended unit's open set under the unit that holds it on the day, and
``GET /v1/dossiers/orphaned`` and the board's "Hồ sơ mồ côi" list those no unit holds. The
old unit's figures (counters of its periods) are not touched: history stays where it
happened.

The holder: the unit itself until its ``valid_to`` has passed; then the first unit of its
``successor_code`` chain valid on the day (``so-tnmt`` → ``so-nnmt-2025`` → ``H01.03``: on
2026-12-03, ``H01.03``), the dossiers counted as moved on that unit's ``valid_from``. The
catalog gives each ended unit at most one successor (a merger is many-to-one: a new
department holds the open dossiers of all its predecessors, each listed under its own
marker "chuyển từ <unit>"); the old districts, which have no single successor, and a chain
whose next unit has not started yet leave them orphaned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from shared.domain.calendar import LOCAL_TZ, local_date
from shared.domain.catalog import Agency, AgencyCatalog
from shared.store.indicator_store import IndicatorStore


def ended_by(agency: Agency, day: date) -> bool:
    """Whether the agency's ``valid_to`` has passed on ``day``."""
    return agency.valid_to is not None and agency.valid_to < day


def holder_on(agencies: AgencyCatalog, code: str, day: date) -> Agency | None:
    """The unit holding ``code``'s open dossiers on ``day``: the unit itself until its
    ``valid_to`` has passed, then the first unit of its successor chain valid on ``day``;
    None when the chain reaches none (orphaned)."""
    agency = agencies.get(code)
    seen: set[str] = set()
    while agency is not None and agency.agency_code not in seen:
        if not ended_by(agency, day):
            return agency if agency.valid_on(day) or not seen else None
        seen.add(agency.agency_code)
        agency = agencies.get(agency.successor_code) if agency.successor_code else None
    return None


@dataclass(frozen=True)
class Counts:
    """Open dossiers, those past their due time and those due within 24 hours."""

    open: int = 0
    overdue: int = 0
    due_soon: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.open + other.open, self.overdue + other.overdue, self.due_soon + other.due_soon
        )


@dataclass(frozen=True)
class Moved:
    """The open dossiers of an ended unit, read under the unit that holds them."""

    source: Agency
    on: date | None  # the start of the holder's validity (None: open-ended catalog row)
    counts: Counts

    @property
    def marker(self) -> str:
        return f"chuyển từ {self.source.name}"


@dataclass(frozen=True)
class Held:
    """A unit's open dossiers on the day: ``own`` (its open set) and those ``moved_in``
    from its ended predecessors; an ended unit whose dossiers moved names the unit that
    holds them, ``moved_to`` (its ``total`` is then empty, so nothing counts twice); an
    ended unit nobody continues is ``orphaned``."""

    agency: Agency
    own: Counts
    moved_in: tuple[Moved, ...] = ()
    moved_to: Agency | None = None
    orphaned: bool = False

    @property
    def total(self) -> Counts:
        """What the unit holds: its own unless they moved, and its predecessors'."""
        out = Counts() if self.moved_to is not None else self.own
        for m in self.moved_in:
            out = out + m.counts
        return out

    @property
    def sources(self) -> tuple[str, ...]:
        """The codes whose open sets this unit's view reads: its own (unless moved away),
        then each predecessor's."""
        own = () if self.moved_to is not None else (self.agency.agency_code,)
        return own + tuple(m.source.agency_code for m in self.moved_in)


async def held_open(
    store: IndicatorStore,
    agencies: AgencyCatalog,
    now: datetime,
    codes: Iterable[str] | None = None,
    horizon_s: int = 86_400,
) -> dict[str, Held]:
    """Every catalog unit's open dossiers at ``now`` (or only ``codes``, with the ended
    units they hold), read in one pipeline."""
    day = local_date(now)
    wanted = list(codes) if codes is not None else list(agencies.agencies)
    holders = {c: holder_on(agencies, c, day) for c in agencies.agencies}
    moved_from: dict[str, list[Agency]] = {}
    for code, holder in holders.items():
        if holder is not None and holder.agency_code != code:
            moved_from.setdefault(holder.agency_code, []).append(agencies.agencies[code])
    read = set(wanted)
    for code in wanted:
        read.update(a.agency_code for a in moved_from.get(code, []))
    raw = await store.open_counts(sorted(read), now, horizon_s)
    counts = {c: Counts(*raw[c]) for c in raw}
    out: dict[str, Held] = {}
    for code in wanted:
        agency = agencies.get(code)
        if agency is None:
            continue
        holder = holders[code]
        if holder is not None and holder.agency_code != code:
            out[code] = Held(agency, counts[code], moved_to=holder)
            continue
        moved = tuple(
            Moved(a, holder.valid_from if holder else None, counts[a.agency_code])
            for a in sorted(moved_from.get(code, []), key=lambda a: a.agency_code)
        )
        out[code] = Held(agency, counts[code], moved, orphaned=holder is None)
    return out


async def overdue_ids(store: IndicatorStore, held: Held, now: datetime, limit: int) -> list[str]:
    """Up to ``limit`` ids of the open dossiers past due the unit's view holds: its own
    first, then each predecessor's."""
    out: list[str] = []
    for code in held.sources:
        if len(out) >= limit:
            break
        out += await store.overdue_dossiers(code, now, limit - len(out))
    return out


@dataclass(frozen=True)
class DueDossier:
    dossier_id: str
    due_at: datetime | None  # local time; None while the clock is stopped
    overdue: bool


async def open_list(
    store: IndicatorStore, code: str, now: datetime, limit: int
) -> list[DueDossier]:
    """Up to ``limit`` open dossiers of ``code``'s open set, earliest due first."""
    ts = now.timestamp()
    return [
        DueDossier(
            ident,
            None if due == float("inf") else datetime.fromtimestamp(due, tz=LOCAL_TZ),
            due < ts,
        )
        for ident, due in await store.open_with_due(code, limit)
    ]
