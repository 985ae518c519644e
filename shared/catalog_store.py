"""The catalogs services use at run time, kept in Redis so they change without restarts.

``catalog:agencies`` and ``catalog:procedures`` each hold one JSON array and
``catalog:version`` is bumped on every change. ``CatalogCache`` re-reads them when the
version moved (checked at most every ``refresh_s``). When Redis holds no agency catalog
yet, the packaged ``shared/data/agencies.csv`` is written there first.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from shared.catalog import Agency, AgencyCatalog, load_agencies
from shared.procedures import Procedure, ProcedureCatalog

AGENCIES_KEY = "catalog:agencies"
PROCEDURES_KEY = "catalog:procedures"
VERSION_KEY = "catalog:version"


@dataclass(frozen=True)
class Catalogs:
    version: int
    agencies: AgencyCatalog
    procedures: ProcedureCatalog


class CatalogStore:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def version(self) -> int:
        raw = await self.redis.get(VERSION_KEY)
        return int(raw) if raw is not None else 0

    async def seed_if_empty(self) -> None:
        if not await self.redis.exists(AGENCIES_KEY):
            await self.replace_agencies(load_agencies().agencies.values(), only_if_empty=True)

    async def replace_agencies(
        self, agencies: Iterable[Agency], only_if_empty: bool = False
    ) -> int:
        docs = [a.model_dump(mode="json") for a in agencies]
        await self._replace(AGENCIES_KEY, docs, only_if_empty)
        return len(docs)

    async def replace_procedures(self, procedures: Iterable[Procedure]) -> int:
        docs = [p.model_dump(mode="json") for p in procedures]
        await self._replace(PROCEDURES_KEY, docs, False)
        return len(docs)

    async def _replace(self, key: str, docs: list[dict[str, object]], only_if_empty: bool) -> None:
        """One JSON document per catalog, in catalog order; the version moves with it."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(key, orjson.dumps(docs), nx=only_if_empty)
        pipe.incr(VERSION_KEY)
        await pipe.execute()

    async def load(self) -> Catalogs:
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(VERSION_KEY)
        pipe.get(AGENCIES_KEY)
        pipe.get(PROCEDURES_KEY)
        version, agencies_raw, procedures_raw = await pipe.execute()
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
    """The current catalogs, re-read from Redis when ``catalog:version`` changes."""

    def __init__(self, redis: Redis, refresh_s: float = 2.0) -> None:
        self.store = CatalogStore(redis)
        self.refresh_s = refresh_s
        self._current: Catalogs | None = None
        self._checked = 0.0

    async def current(self) -> Catalogs:
        """Never fails: with Redis unreachable it serves the last copy it had (or the
        packaged agency catalog), so validation keeps working through a Redis outage."""
        now = time.monotonic()
        if self._current is not None and now - self._checked < self.refresh_s:
            return self._current
        self._checked = now
        try:
            if self._current is None or self._current.version < 0:
                await self.store.seed_if_empty()
                self._current = await self.store.load()
            elif await self.store.version() != self._current.version:
                self._current = await self.store.load()
        except (RedisError, OSError):
            if self._current is None:
                self._current = Catalogs(-1, load_agencies(), ProcedureCatalog([]))
        return self._current
