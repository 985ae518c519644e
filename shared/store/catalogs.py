"""The catalogs services use at run time, kept in Redis so they change without restarts.

``catalog:agencies`` and ``catalog:procedures`` each hold one JSON array and
``catalog:version`` is bumped on every change. ``CatalogCache`` re-reads them when the
version moved (checked at most every ``refresh_s``).

Where the agency catalog comes from — one rule:

- Redis answers and holds an agency catalog: that one (the latest replacement).
- Redis answers and holds none (never initialised): the packaged
  ``shared/domain/data/agencies-an-giang.csv`` (the province in time) is written there first
  (``SET NX``), then read back.
- Redis does not answer (down, unreachable, still loading its data): the last copy read
  from Redis; before any copy, :class:`CatalogUnavailable` — never the packaged file,
  which lacks every agency added since (validating against it would reject their events:
  ingest answers 503 instead, the calculator waits, see ``CatalogCache(wait=True)``).

Replacing the agency catalog never rewrites the past (§4a.6): figures stay under their
agency code. A replacement that drops a code which already has figures (its data version
is set) is refused with :class:`DroppedAgenciesError` naming the codes — end such an agency
with ``valid_to`` (and ``successor_code``) instead. Codes without any figure (a typo, a
unit that never sent anything) may be dropped.

The procedure catalog has the same guard: its catalog figures of a period (full-online
services, services with online dossiers, fee services paid online, whether
``full_online_rate`` is evaluated, the 766 index's catalog metrics) count the procedures
valid in it. A replacement that drops a procedure — its code is gone, or now under another
agency — is refused with :class:`DroppedProceduresError` when its agency has dossiers
counted (``received``) in a year in which the procedure was valid: end it with ``valid_to``
instead. Procedures of years without dossiers may be dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from shared.domain.calendar import today_local
from shared.domain.catalog import Agency, AgencyCatalog, load_agencies
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.platform.logs import get_logger
from shared.store import keys as redis_keys
from shared.store.catalog_log import CatalogLog
from shared.store.client import REDIS_UNAVAILABLE, AtomicBlock, Key, RedisClient
from shared.store.exceptions import (
    CatalogUnavailable,
    DroppedAgenciesError,
    DroppedProceduresError,
)

_log = get_logger("catalogs")

# The first year figures can have (events before 2015 are refused: shared.contract.events).
FIRST_YEAR = 2015

# One hash tag: the catalogs and their version change in one MULTI/EXEC (one cluster slot).
AGENCIES_KEY = "catalog:{catalog}:agencies"
PROCEDURES_KEY = "catalog:{catalog}:procedures"
VERSION_KEY = "catalog:{catalog}:version"


@dataclass(frozen=True)
class Catalogs:
    version: int
    agencies: AgencyCatalog
    procedures: ProcedureCatalog


class CatalogStore:
    """The catalogs in Redis; with a ``log``, every replacement is published on the catalog
    topic first (and refused, unchanged, when the topic can't take it)."""

    def __init__(self, redis: RedisClient, log: CatalogLog | None = None) -> None:
        self.redis = redis
        self.log = log

    async def version(self) -> int:
        raw = await self.redis.get(VERSION_KEY)
        return int(raw) if raw is not None else 0

    async def seed_if_empty(self) -> None:
        if not await self.redis.exists(AGENCIES_KEY):
            await self.replace_agencies(load_agencies().agencies.values(), only_if_empty=True)

    async def replace_agencies(
        self, agencies: Iterable[Agency], only_if_empty: bool = False, allow_drop: bool = False
    ) -> int:
        """Replace the agency catalog; raises :class:`DroppedAgenciesError` when it drops a
        code that has figures (unless ``allow_drop``)."""
        new = list(agencies)
        if not only_if_empty and not allow_drop:
            dropped = await self.dropped_with_data(a.agency_code for a in new)
            if dropped:
                raise DroppedAgenciesError(dropped)
        docs = [a.model_dump(mode="json") for a in new]
        if self.log is not None and not only_if_empty:
            await self.log.publish("agencies", docs)
        await self._replace(AGENCIES_KEY, docs, only_if_empty)
        return len(docs)

    async def dropped_with_data(self, new_codes: Iterable[str]) -> list[str]:
        """Codes of the current catalog missing from ``new_codes`` that have figures."""
        raw = await self.redis.get(AGENCIES_KEY)
        current = (
            [str(d["agency_code"]) for d in orjson.loads(raw)]
            if raw
            else list(load_agencies().codes)
        )
        dropped = sorted(set(current) - set(new_codes))
        if not dropped:
            return []
        pipe = self.redis.pipeline(transaction=False)  # one slot per agency: no MGET
        for code in dropped:
            pipe.get(redis_keys.data_version(code))
        versions = await pipe.execute()
        return [code for code, v in zip(dropped, versions, strict=True) if v is not None]

    async def replace_procedures(
        self, procedures: Iterable[Procedure], allow_drop: bool = False
    ) -> int:
        """Replace the procedure catalog; raises :class:`DroppedProceduresError` when it
        drops a procedure counted in figures (unless ``allow_drop``: a restore)."""
        new = list(procedures)
        if not allow_drop:
            dropped = await self.procedures_dropped_with_figures(new)
            if dropped:
                raise DroppedProceduresError(dropped)
        docs = [p.model_dump(mode="json") for p in new]
        if self.log is not None:
            await self.log.publish("procedures", docs)
        await self._replace(PROCEDURES_KEY, docs, False)
        return len(docs)

    async def procedures_dropped_with_figures(
        self, new: Iterable[Procedure]
    ) -> list[tuple[str, str, list[int]]]:
        """The procedures of the current catalog that ``new`` drops (the code is gone or
        under another agency) while counted in figures: (code, agency, the years in which
        it was valid and its agency has dossiers counted), by code."""
        raw = await self.redis.get(PROCEDURES_KEY)
        if not raw:
            return []
        kept = {p.procedure_code: p.agency_code for p in new}
        last = today_local().year
        gone: list[tuple[Procedure, list[int]]] = []
        for doc in orjson.loads(raw):
            old = Procedure.model_validate(doc)
            if kept.get(old.procedure_code) == old.agency_code:
                continue
            years = [y for y in range(FIRST_YEAR, last + 1) if old.valid_in_year(y)]
            if years:
                gone.append((old, years))
        if not gone:
            return []
        asked: dict[str, set[int]] = {}
        for p, years in gone:
            asked.setdefault(p.agency_code, set()).update(years)
        counted = await self._years_with_dossiers(asked)
        out: list[tuple[str, str, list[int]]] = []
        for p, years in sorted(gone, key=lambda item: item[0].procedure_code):
            hit = [y for y in years if (p.agency_code, y) in counted]
            if hit:
                out.append((p.procedure_code, p.agency_code, hit))
        return out

    async def _years_with_dossiers(self, years: dict[str, set[int]]) -> set[tuple[str, int]]:
        """(agency, year) pairs among ``years`` whose figures count at least one dossier
        (the year bucket's ``received`` of the current keyspace)."""
        # agencies without a data version have no figure at all: no bucket to read
        pipe = self.redis.pipeline(transaction=False)
        codes = sorted(years)
        for code in codes:
            pipe.get(redis_keys.data_version(code))
        pipe.get(redis_keys.KEYSPACE_CURRENT)
        *versions, ks_raw = await pipe.execute()
        ks = ks_raw.decode() if isinstance(ks_raw, bytes) else (ks_raw or "")
        asked = [
            (code, year)
            for code, version in zip(codes, versions, strict=True)
            if version is not None
            for year in sorted(years[code])
        ]
        if not asked:
            return set()
        pipe = self.redis.pipeline(transaction=False)  # one slot per agency: no MGET
        for code, year in asked:
            pipe.hget(f"{redis_keys.counters_prefix(code, ks)}Y{year}", "received")
        received = await pipe.execute()
        return {pair for pair, n in zip(asked, received, strict=True) if n and int(n) > 0}

    async def _replace(self, key: str, docs: list[dict[str, object]], only_if_empty: bool) -> None:
        """One JSON document per catalog, in catalog order; the version moves with it."""
        block = AtomicBlock().add(
            "SET", Key(key), orjson.dumps(docs), *(["NX"] if only_if_empty else [])
        )
        await block.add("INCR", Key(VERSION_KEY)).execute(self.redis)

    async def load(self) -> Catalogs:
        block = AtomicBlock().add("GET", Key(VERSION_KEY)).add("GET", Key(AGENCIES_KEY))
        block.add("GET", Key(PROCEDURES_KEY))
        version, agencies_raw, procedures_raw = await block.execute(self.redis)
        agencies = (
            AgencyCatalog([Agency.model_validate(d) for d in orjson.loads(agencies_raw)])
            if agencies_raw
            else load_agencies()
        )
        procedures = ProcedureCatalog(
            Procedure.model_validate(d)
            for d in (orjson.loads(procedures_raw) if procedures_raw else [])
        )
        return Catalogs(int(version or 0), agencies, procedures)


class CatalogCache:
    """The current catalogs, re-read from Redis when ``catalog:version`` changes.

    ``wait``: before the first copy, retry (with backoff, up to ``max_delay_s`` apart)
    until Redis answers instead of raising :class:`CatalogUnavailable` — the calculator's
    choice: its records wait in Kafka, uncommitted, rather than be judged against a
    catalog it could not read."""

    def __init__(
        self,
        redis: RedisClient,
        refresh_s: float = 2.0,
        log: CatalogLog | None = None,
        *,
        wait: bool = False,
        max_delay_s: float = 5.0,
        initial: Catalogs | None = None,
        on_load: Callable[[Catalogs], None] | None = None,
    ) -> None:
        """``initial``: a copy to start from, as if read from Redis (tests without one);
        ``on_load``: called with each copy read (the API freezes it out of the garbage
        collector's generations: services/api/gc_pauses.py)."""
        self.store = CatalogStore(redis, log)
        self.on_load = on_load
        self.refresh_s = refresh_s
        self.wait = wait
        self.max_delay_s = max_delay_s
        self._current: Catalogs | None = initial
        self._checked = 0.0 if initial is None else time.monotonic()

    async def current(self) -> Catalogs:
        """The catalogs from Redis; with Redis not answering, the last copy read from it
        (validation keeps working through an outage). Before any copy: raises
        :class:`CatalogUnavailable`, or with ``wait`` retries until Redis answers."""
        delay = 0.2
        while True:
            try:
                return await self._read()
            except REDIS_UNAVAILABLE as exc:
                if self._current is not None:
                    return self._current
                if not self.wait:
                    raise CatalogUnavailable(
                        f"agency catalog unreadable: Redis not answering ({type(exc).__name__})"
                    ) from exc
                _log.warning("catalog_wait", error=type(exc).__name__, retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay_s)

    async def _read(self) -> Catalogs:
        now = time.monotonic()
        if self._current is not None and now - self._checked < self.refresh_s:
            return self._current
        self._checked = now
        if self._current is None:
            await self.store.seed_if_empty()  # never initialised: the packaged catalog
            self._current = await self.store.load()
        elif await self.store.version() != self._current.version:
            self._current = await self.store.load()
        else:
            return self._current
        if self.on_load is not None:
            self.on_load(self._current)
        return self._current
