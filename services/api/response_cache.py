"""Query responses cached until the figures behind them change.

The key holds the route, its resolved parameters, the catalog version and the data
version of every agency the response sums (``IndicatorStore.data_versions``). Any write
to those figures raises a version, so a hit is exactly what a fresh computation would
return: no time-to-live, no stale figure. The versions are read before computing: a write
that lands meanwhile raises a version past the stored key, so that entry is never served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from cachetools import LRUCache
from fastapi.responses import Response
from prometheus_client import Counter
from pydantic import BaseModel, TypeAdapter

from shared.store import IndicatorStore

LOOKUPS = Counter(
    "egov_api_cache_lookups_total", "Cached query responses: hits and misses", ["result"]
)
_LIST_OF_MODELS: TypeAdapter[list[BaseModel]] = TypeAdapter(list[BaseModel])


def to_json(result: BaseModel | Sequence[BaseModel]) -> bytes:
    if isinstance(result, BaseModel):
        return result.model_dump_json().encode()
    return _LIST_OF_MODELS.dump_json(list(result), serialize_as_any=True)


class ResponseCache:
    def __init__(self, store: IndicatorStore, maxsize: int = 4096) -> None:
        self.store = store
        self._entries: LRUCache[Hashable, bytes] = LRUCache(maxsize=maxsize)

    async def respond(
        self,
        key: tuple[Any, ...],
        catalog_version: int,
        agencies: Sequence[str],
        compute: Callable[[], Awaitable[BaseModel | Sequence[BaseModel]]],
    ) -> Response:
        versions = await self.store.data_versions(agencies)
        full_key = (key, catalog_version, tuple(versions))
        body = self._entries.get(full_key)
        if body is None:
            LOOKUPS.labels("miss").inc()
            body = to_json(await compute())
            self._entries[full_key] = body
        else:
            LOOKUPS.labels("hit").inc()
        return Response(body, media_type="application/json")
