"""Query responses cached until the figures behind them change.

The key holds the route, its resolved parameters, the catalog version and the data
version of every agency the response sums (``IndicatorStore.data_versions``). Any write
to those figures raises a version, so a hit is exactly what a fresh computation would
return: no time-to-live, no stale figure. The versions are read before computing: a write
that lands meanwhile raises a version past the stored key, so that entry is never served.

A data version says *that* an agency's figures changed, not *which*: today's events raise
it as much as a late event of a closed month. A response that reads only period buckets
(the public page of a closed month and its trend) keys on the agencies' *period versions*
of those months instead (``keys.period_versions``): today's writes leave them as they
are. A response made in stages (:meth:`ResponseCache.staged_body`) also has a
fingerprint: a digest, computed in Redis, of every bucket it reads. After a version change
the fingerprint is asked first, and when a rendering is cached under it (with the route
and the catalog version) its bytes are served — exactly what a fresh computation gives;
otherwise the figures are read and rendered. A late event of a closed month costs its
page one digest, not a page.

Under steady writes (the calculator commits every ~100 ms) nearly every read of this
year's figures finds them changed, and even a hit costs a round trip to Redis (the
versions) that waits behind the writer's calls. So a query response that may trail the
writes by a moment (``respond``: the JSON API) is answered from memory, without reading
the versions, while its latest computation *started* less than ``stale_s`` ago
(``api_stale_ms``, default 0.5 s); past half of that, the versions are checked in the
background (unchanged: the entry is renewed; changed: computed anew for the next
request). Older, it is checked before answering as above. So a response never misses a
write applied more than ``stale_s`` before it, and no request waits for a computation it
did not need. A client that must see the figures of this very moment (after its own
write, a reload) asks with ``Cache-Control: no-cache`` (or ``max-age=0``), as HTTP has
it: such a request is never answered from an unchecked entry (:class:`FreshRequests`).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from cachetools import LRUCache
from fastapi.responses import Response
from prometheus_client import Counter
from pydantic import BaseModel, TypeAdapter
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.platform.logs import get_logger
from shared.platform.off_loop import off_loop

log = get_logger("api.cache")

LOOKUPS = Counter(
    "egov_api_cache_lookups_total",
    "Cached query responses: young (answered from memory: computed or checked less than "
    "api_stale_ms ago), hit (versions checked: unchanged), miss (computed), joined (waited "
    "for the same computation) or previous (answered with the last computation while a "
    "newer one runs)",
    ["result"],
)
RENDERS = Counter(
    "egov_api_cache_renders_total",
    "Staged responses after a miss: rendered (figures changed) or unchanged (their "
    "fingerprint had a rendering cached: its bytes served)",
    ["result"],
)
T = TypeVar("T")
# the request being served asked for the figures of this moment (``FreshRequests``)
FRESH: ContextVar[bool] = ContextVar("egov_api_fresh", default=False)
_LIST_OF_MODELS: TypeAdapter[list[BaseModel]] = TypeAdapter(list[BaseModel])


def to_json(result: BaseModel | Sequence[BaseModel]) -> bytes:
    if isinstance(result, BaseModel):
        return result.model_dump_json().encode()
    return _LIST_OF_MODELS.dump_json(list(result), serialize_as_any=True)


class DataVersions(Protocol):
    """What the cache needs of the store (``IndicatorStore.data_versions``)."""

    async def data_versions(self, agencies: Iterable[str]) -> list[int]: ...

    async def period_versions(
        self, agencies: Sequence[str], fields: Sequence[str]
    ) -> list[int]: ...


class FreshRequests:
    """Notes a request that refuses a stored response (``Cache-Control: no-cache`` or
    ``max-age=0``, RFC 9111 §5.2.1): the cache answers it with the figures of now."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"cache-control":
                    FRESH.set(_refuses_stored(value))
                    break
            else:
                FRESH.set(False)
        await self.app(scope, receive, send)


def _refuses_stored(cache_control: bytes) -> bool:
    directives = {d.strip().lower() for d in cache_control.split(b",")}
    return b"no-cache" in directives or b"max-age=0" in directives


class ResponseCache:
    def __init__(
        self,
        store: DataVersions,
        maxsize: int = 4096,
        stale_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.stale_s = stale_s
        self.clock = clock
        # (family or key, catalog version) → the full key and body of its latest
        # computation: a hit when the full key read now is that one. One entry per
        # response, not one per version seen: under steady writes stale versions would
        # otherwise fill the cache (and memory) and push out the entries still in use.
        # A computation that read older versions and ends last does not replace a newer
        # one (``_started``: the order computations read their versions in); the last
        # item: when it started (``clock``), for ``stale_s``.
        self._entries: LRUCache[Hashable, tuple[Hashable, bytes, int, float]] = LRUCache(
            maxsize=maxsize
        )
        self._started = 0
        # (key, catalog version, digest of the figures read) → bytes (staged_body)
        self._renderings: LRUCache[Hashable, bytes] = LRUCache(maxsize=maxsize)
        self._pending: dict[Hashable, asyncio.Future[bytes]] = {}
        # (family or key, catalog version) → its computations under way (any versions)
        self._computing: dict[Hashable, int] = {}

    async def respond(
        self,
        key: tuple[Any, ...],
        catalog_version: int,
        agencies: Sequence[str],
        compute: Callable[[], Awaitable[BaseModel | Sequence[BaseModel]]],
        family: tuple[Any, ...] | None = None,
    ) -> Response:
        """A JSON response, cached; ``family``: the key whose latest body may answer while
        this one is computed (default ``key``; a 766 response keyed by its evaluation
        second names the key without it)."""

        async def encoded() -> bytes:
            # on the loop: pydantic-core encodes a 117-unit ranking in well under a
            # millisecond, less than a worker thread's hand-over costs the loop
            return to_json(await compute())

        body, _ = await self.body(
            key, catalog_version, agencies, encoded, previous_ok=True, family=family
        )
        return Response(body, media_type="application/json")

    def __len__(self) -> int:
        """Responses held (one per route and parameters, whatever versions were seen)."""
        return len(self._entries)

    async def full_key(
        self,
        key: tuple[Any, ...],
        catalog_version: int,
        agencies: Sequence[str],
        periods: Sequence[str] | None = None,
    ) -> Hashable:
        """The key a response is cached under now (the versions of what it sums): the
        agencies' data versions, or — for a response that reads only the buckets of
        ``periods`` (``keys.period_version_fields``) — their versions of those periods."""
        if periods is not None:
            by_period = await self.store.period_versions(agencies, periods)
            return (key, catalog_version, tuple(by_period), tuple(periods))
        versions = await self.store.data_versions(agencies)
        return (key, catalog_version, tuple(versions))

    @staticmethod
    def etag(full_key: Hashable) -> str:
        """An entity tag naming a full key: equal tags, equal bytes, so an HTTP client may
        revalidate with ``If-None-Match``."""
        return '"' + hashlib.blake2b(repr(full_key).encode(), digest_size=12).hexdigest() + '"'

    async def body(
        self,
        key: tuple[Any, ...],
        catalog_version: int,
        agencies: Sequence[str],
        compute: Callable[[], Awaitable[bytes]],
        full_key: Hashable | None = None,
        *,
        previous_ok: bool = False,
        family: tuple[Any, ...] | None = None,
    ) -> tuple[bytes, Hashable]:
        """Any encoded response (JSON, HTML, CSV) under the same rule; returns the bytes and
        the full key they are cached under (``full_key``: from :meth:`full_key`, if read).

        ``previous_ok``: a response that may trail the writes by up to ``stale_s``: answered
        from its latest entry while that entry is younger (checked behind it past half its
        age), or while a computation of it is under way; a request that asked for fresh
        figures (``FRESH``) is not. Not for responses whose entity tag names the versions
        (the public pages)."""
        asked = self.clock()  # before the versions are read: the age of what they show
        previous_ok = previous_ok and not FRESH.get()
        named = (family or key, catalog_version)
        latest = self._entries.get(named)
        if previous_ok and full_key is None and latest is not None:
            age = asked - latest[3]
            if age < self.stale_s:
                LOOKUPS.labels("young").inc()
                if age >= self.stale_s / 2 and not self._computing.get(named):
                    self._check_behind(key, catalog_version, agencies, compute, named)
                return latest[1], latest[0]
        if full_key is None:
            full_key = await self.full_key(key, catalog_version, agencies)
        latest = self._entries.get(named)
        body: bytes | None = None
        if latest is not None and latest[0] == full_key:
            LOOKUPS.labels("hit").inc()
            self._renew(named, latest, asked)
            body = latest[1]
        elif previous_ok and latest is not None and self._computing.get(named):
            LOOKUPS.labels("previous").inc()
            body = latest[1]
        elif (pending := self._pending.get(full_key)) is not None:
            # the same response is being computed: wait for it rather than compute it again
            LOOKUPS.labels("joined").inc()
            body = await asyncio.shield(pending)
        else:
            LOOKUPS.labels("miss").inc()
            task = self._start(full_key, compute, named, asked)
            body = await asyncio.shield(task)  # a client that goes away leaves it to the others
        return body, full_key

    def _renew(
        self, named: Hashable, held: tuple[Hashable, bytes, int, float], checked: float
    ) -> None:
        """``held``'s versions were still current at ``checked``: it is as young as that."""
        if held[3] < checked and self._entries.get(named) is held:
            self._entries[named] = (held[0], held[1], held[2], checked)

    def _check_behind(
        self,
        key: tuple[Any, ...],
        catalog_version: int,
        agencies: Sequence[str],
        compute: Callable[[], Awaitable[bytes]],
        named: Hashable,
    ) -> None:
        """Check an entry's versions in the background: renew it, or compute it anew."""

        async def check() -> bytes:
            checked = self.clock()
            full_key = await self.full_key(key, catalog_version, agencies)
            held = self._entries.get(named)
            if held is not None and held[0] == full_key:
                self._renew(named, held, checked)
                return held[1]
            pending = self._pending.get(full_key)
            if pending is None:
                pending = self._start(full_key, compute, named, checked)
            return await pending

        self._computing[named] = self._computing.get(named, 0) + 1
        task = asyncio.ensure_future(check())
        task.add_done_callback(lambda _: self._computed(named))
        task.add_done_callback(_retrieved)

    def _start(
        self,
        full_key: Hashable,
        compute: Callable[[], Awaitable[bytes]],
        named: Hashable,
        asked: float,
    ) -> asyncio.Future[bytes]:
        # counted now, not when the task first runs: requests in between answer too
        self._computing[named] = self._computing.get(named, 0) + 1
        self._started += 1
        task = asyncio.ensure_future(self._compute(full_key, compute, named, self._started, asked))
        task.add_done_callback(lambda _: self._computed(named))
        self._pending[full_key] = task
        return task

    async def staged_body(
        self,
        key: tuple[Any, ...],
        catalog_version: int,
        agencies: Sequence[str],
        fingerprint: Callable[[], Awaitable[bytes]],
        read: Callable[[], Awaitable[T]],
        render: Callable[[T], bytes],
        full_key: Hashable | None = None,
    ) -> tuple[bytes, Hashable]:
        """:meth:`body` for a response made by ``render`` (CPU only, run off the loop) of
        what ``read`` returns (Redis). ``fingerprint()`` names, cheaply, everything ``read``
        would return (a digest computed in Redis): a miss whose fingerprint has a rendering
        already serves its bytes without reading or rendering. A rendering is kept under
        its fingerprint only when the fingerprint is the same after the read (nothing
        changed while reading)."""

        async def compute() -> bytes:
            before = await fingerprint()
            named = (key, catalog_version, before)
            found = self._renderings.get(named)
            if found is not None:
                RENDERS.labels("unchanged").inc()
                return found
            RENDERS.labels("rendered").inc()
            body = await off_loop(render, await read())
            if await fingerprint() == before:
                self._renderings[named] = body
            return body

        return await self.body(key, catalog_version, agencies, compute, full_key)

    async def _compute(
        self,
        full_key: Hashable,
        compute: Callable[[], Awaitable[bytes]],
        named: Hashable,
        started: int,
        started_at: float,
    ) -> bytes:
        try:
            body = await compute()
            held = self._entries.get(named)
            if held is None or held[2] < started:
                self._entries[named] = (full_key, body, started, started_at)
            return body
        finally:
            self._pending.pop(full_key, None)

    def _computed(self, named: Hashable) -> None:
        """A computation of ``named`` ended (done, failed or cancelled, even unstarted)."""
        if (left := self._computing[named] - 1) > 0:
            self._computing[named] = left
        else:
            del self._computing[named]


def _retrieved(task: asyncio.Future[bytes]) -> None:
    """A computation nobody waits for (started in the background): its failure is logged,
    and the next request computes again (it left no entry)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("background_computation_failed", error=type(exc).__name__)
