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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from shared.domain.catalog import Agency, AgencyCatalog, load_agencies
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.platform.logs import get_logger
from shared.store import keys as redis_keys
from shared.store.catalog_log import CatalogLog
from shared.store.client import REDIS_UNAVAILABLE, AtomicBlock, Key, RedisClient
from shared.store.exceptions import CatalogUnavailable, DroppedAgenciesError

_log = get_logger("catalogs")

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

    async def replace_procedures(self, procedures: Iterable[Procedure]) -> int:
        docs = [p.model_dump(mode="json") for p in procedures]
        if self.log is not None:
            await self.log.publish("procedures", docs)
        await self._replace(PROCEDURES_KEY, docs, False)
        return len(docs)

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
    ) -> None:
        """``initial``: a copy to start from, as if read from Redis (tests without one)."""
        self.store = CatalogStore(redis, log)
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
        return self._current
