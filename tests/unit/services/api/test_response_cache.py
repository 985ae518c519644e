"""The response cache's keying and single flight, with a stand-in for the store's versions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence

import orjson
from pydantic import BaseModel

from services.api.response_cache import FRESH, FreshRequests, ResponseCache


class Versions:
    def __init__(self) -> None:
        self.by_agency: dict[str, int] = {}
        self.reads = 0

    async def data_versions(self, agencies: Iterable[str]) -> list[int]:
        self.reads += 1
        return [self.by_agency.get(a, 0) for a in agencies]

    async def period_versions(self, agencies: Sequence[str], fields: Sequence[str]) -> list[int]:
        return [self.by_agency.get(a, 0) for a in agencies]


class Value(BaseModel):
    n: int


class Gated:
    """A computation that counts its calls; every call after the first waits for
    ``release`` (a recomputation still running)."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def compute(self) -> Value:
        self.calls += 1
        if self.calls > 1:
            await self.release.wait()
        return Value(n=self.calls)


def test_concurrent_misses_compute_once_and_writes_invalidate() -> None:
    async def go() -> None:
        versions = Versions()
        cache = ResponseCache(versions, stale_s=0)  # every change waits for its figures
        calls = 0

        async def compute() -> Value:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.05)
            return Value(n=calls)

        async def ask(key: str = "k", catalog: int = 1) -> int:
            resp = await cache.respond((key,), catalog, ["a", "b"], compute)
            return int(orjson.loads(resp.body)["n"])

        assert await asyncio.gather(*(ask() for _ in range(20))) == [1] * 20
        assert calls == 1
        assert await ask() == 1  # a hit
        versions.by_agency["b"] = 7  # a write to one member agency
        assert await ask() == 2
        assert await ask(catalog=2) == 3  # a new catalog version
        assert await ask(key="other") == 4  # another route or parameter
        assert await ask() == 2 and calls == 4

    asyncio.run(go())


def test_requests_during_a_recomputation_get_the_previous_body() -> None:
    """While the computation for new versions runs, later requests get the latest body
    instead of waiting; the request that started it waits and gets the new one; once it
    ends everyone gets the new one."""

    async def go() -> None:
        versions = Versions()
        cache = ResponseCache(versions, stale_s=0)
        gated = Gated()
        compute, release = gated.compute, gated.release

        async def ask() -> int:
            resp = await cache.respond(("k",), 1, ["a"], compute)
            return int(orjson.loads(resp.body)["n"])

        assert await ask() == 1
        versions.by_agency["a"] = 2  # a write
        starter = asyncio.ensure_future(ask())
        await asyncio.sleep(0.01)  # the starter's computation is under way
        assert await asyncio.gather(*(ask() for _ in range(5))) == [1] * 5
        versions.by_agency["a"] = 3  # another write: no second computation meanwhile
        assert await asyncio.gather(*(ask() for _ in range(5))) == [1] * 5
        assert not starter.done() and gated.calls == 2
        release.set()
        assert await starter == 2
        assert await ask() == 3 and gated.calls == 3  # the next request computes the newest
        assert await ask() == 3 and gated.calls == 3

    asyncio.run(go())


def test_a_failed_computation_is_not_cached() -> None:
    async def go() -> None:
        cache = ResponseCache(Versions())
        attempts = 0

        async def compute() -> list[Value]:
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                raise ConnectionError("redis went away")
            return [Value(n=attempts)]

        try:
            await cache.respond(("k",), 1, ["a"], compute)
        except ConnectionError:
            pass
        else:
            raise AssertionError("the first computation should have failed")
        resp = await cache.respond(("k",), 1, ["a"], compute)
        assert orjson.loads(resp.body) == [{"n": 2}]

    asyncio.run(go())


def test_staged_responses_render_again_only_when_their_figures_change() -> None:
    async def go() -> None:
        versions = Versions()
        cache = ResponseCache(versions)
        figures = {"a": 1}
        fingerprints = reads = renders = 0

        async def fingerprint() -> bytes:  # stands for the digest Redis computes
            nonlocal fingerprints
            fingerprints += 1
            return orjson.dumps(figures)

        async def read() -> dict[str, int]:
            nonlocal reads
            reads += 1
            await asyncio.sleep(0.02)
            return dict(figures)

        def render(inputs: dict[str, int]) -> bytes:
            nonlocal renders
            renders += 1
            return orjson.dumps({"page": inputs, "render": renders})

        async def ask() -> dict[str, object]:
            body, _ = await cache.staged_body(("page",), 1, ["a"], fingerprint, read, render)
            return dict(orjson.loads(body))

        first = await asyncio.gather(*(ask() for _ in range(10)))
        assert first == [{"page": {"a": 1}, "render": 1}] * 10
        assert (reads, renders) == (1, 1)  # concurrent misses: one read, one rendering
        versions.by_agency["a"] = 5  # a write that did not change what the page shows
        assert await ask() == {"page": {"a": 1}, "render": 1}
        assert (reads, renders) == (1, 1)  # its fingerprint had a rendering: nothing read
        figures["a"] = 2
        versions.by_agency["a"] = 6  # a write that did
        assert await ask() == {"page": {"a": 2}, "render": 2}
        assert (reads, renders) == (2, 2)
        asked = fingerprints
        assert await ask() == {"page": {"a": 2}, "render": 2}  # a hit: nothing asked of Redis
        assert (fingerprints, reads) == (asked, 2)

    asyncio.run(go())


def test_a_rendering_is_not_kept_when_the_figures_moved_while_reading() -> None:
    async def go() -> None:
        versions = Versions()
        cache = ResponseCache(versions)
        figures = {"a": 1}

        async def fingerprint() -> bytes:
            return orjson.dumps(figures)

        async def read() -> dict[str, int]:
            figures["a"] += 1  # a write lands after the fingerprint, before the read
            return dict(figures)

        def render(inputs: dict[str, int]) -> bytes:
            return orjson.dumps(inputs)

        body, _ = await cache.staged_body(("page",), 1, ["a"], fingerprint, read, render)
        assert orjson.loads(body) == {"a": 2}
        figures["a"] = 1  # back to the state fingerprinted before that read
        versions.by_agency["a"] = 9

        async def read_again() -> dict[str, int]:
            return dict(figures)

        body, _ = await cache.staged_body(("page",), 1, ["a"], fingerprint, read_again, render)
        assert orjson.loads(body) == {"a": 1}  # computed, not a rendering of another state

    asyncio.run(go())


def test_a_family_shares_its_latest_body_across_keys() -> None:
    """A 766 response is keyed by its evaluation second; while the next second's is
    computed, the family's latest body answers."""

    async def go() -> None:
        cache = ResponseCache(Versions(), stale_s=0)
        gated = Gated()
        compute, release = gated.compute, gated.release

        async def ask(second: int) -> int:
            resp = await cache.respond(("766", second), 1, ["a"], compute, family=("766",))
            return int(orjson.loads(resp.body)["n"])

        assert await ask(100) == 1
        starter = asyncio.ensure_future(ask(101))
        await asyncio.sleep(0.01)
        assert await ask(101) == 1 and await ask(102) == 1  # the family's latest
        release.set()
        assert await starter == 2 and gated.calls == 2

    asyncio.run(go())


def test_a_response_is_held_once_whatever_versions_it_went_through() -> None:
    """Under steady writes every version makes a new body; the cache keeps the latest one
    per response, so stale versions neither grow it nor push out responses in use."""

    async def go() -> None:
        versions = Versions()
        cache = ResponseCache(versions, maxsize=8, stale_s=0)
        calls = 0

        async def compute() -> Value:
            nonlocal calls
            calls += 1
            return Value(n=calls)

        async def ask(key: str) -> int:
            resp = await cache.respond((key,), 1, ["a"], compute)
            return int(orjson.loads(resp.body)["n"])

        first = await ask("steady")
        for v in range(1, 100):
            versions.by_agency["a"] = v
            await ask("written")
        assert len(cache) == 2
        versions.by_agency["a"] = 99
        assert await ask("written") == calls  # the latest version: a hit
        assert await ask("steady") != first  # versions moved since: recomputed
        assert len(cache) == 2

    asyncio.run(go())


def test_an_older_computation_ending_last_does_not_replace_a_newer_one() -> None:
    """Two computations of one response for two versions: the one that read the older
    versions ends last; the newer body stays the cached one (a hit for the versions in
    force), and the older is not served for them."""

    async def go() -> None:
        versions = Versions()
        cache = ResponseCache(versions)
        release_old = asyncio.Event()
        calls = 0

        async def compute() -> Value:
            nonlocal calls
            calls += 1
            mine = calls
            if mine == 1:
                await release_old.wait()
            return Value(n=mine)

        async def ask() -> int:
            resp = await cache.body(("k",), 1, ["a"], lambda: _encoded(compute))
            return int(orjson.loads(resp[0])["n"])

        old = asyncio.ensure_future(ask())  # reads version 0, waits
        await asyncio.sleep(0)
        versions.by_agency["a"] = 1
        assert await ask() == 2  # version 1 computed and cached
        release_old.set()
        assert await old == 1
        assert await ask() == 2 and calls == 2  # still the newer body: a hit

    asyncio.run(go())


class Counted:
    """One response of ``cache`` computed by a counter: each computation's number."""

    def __init__(self, cache: ResponseCache) -> None:
        self.cache = cache
        self.calls = 0

    async def compute(self) -> Value:
        self.calls += 1
        return Value(n=self.calls)

    async def ask(self) -> int:
        resp = await self.cache.respond(("k",), 1, ["a"], self.compute)
        return int(orjson.loads(resp.body)["n"])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_young_response_answers_while_its_new_figures_are_computed_behind() -> None:
    """After a write, a response whose computation started less than ``stale_s`` ago
    answers at once and one computation of the new figures starts in the background; the
    requests after it ends get them. Nobody waits."""

    async def go() -> None:
        versions, clock = Versions(), Clock()
        cache = ResponseCache(versions, stale_s=0.5, clock=clock)
        gated = Gated()

        async def ask() -> int:
            resp = await asyncio.wait_for(cache.respond(("k",), 1, ["a"], gated.compute), 1)
            return int(orjson.loads(resp.body)["n"])

        assert await ask() == 1
        clock.now += 0.3
        versions.by_agency["a"] = 1  # a write
        assert await ask() == 1  # answered at once (the computation below is gated)
        assert await asyncio.gather(*(ask() for _ in range(5))) == [1] * 5
        assert gated.calls == 2  # one background computation, whatever the requests
        gated.release.set()
        await asyncio.sleep(0.01)
        assert await ask() == 2 and gated.calls == 2  # its figures: a hit

    asyncio.run(go())


def test_a_young_response_is_answered_from_memory_and_checked_behind_past_half_its_age() -> None:
    """Younger than ``stale_s / 2``: no Redis read at all. Then: answered, and its versions
    read in the background; unchanged, the entry is renewed (young again, no computation)."""

    async def go() -> None:
        versions, clock = Versions(), Clock()
        cached = Counted(ResponseCache(versions, stale_s=0.5, clock=clock))
        ask = cached.ask

        assert await ask() == 1 and versions.reads == 1
        clock.now += 0.2
        assert [await ask() for _ in range(10)] == [1] * 10
        assert versions.reads == 1  # from memory
        clock.now += 0.1  # 0.3 s: past half
        assert await ask() == 1
        await asyncio.sleep(0)
        assert versions.reads == 2 and cached.calls == 1  # checked, unchanged: renewed
        clock.now += 0.2  # 0.2 s after the check: young, not checked
        assert await ask() == 1
        await asyncio.sleep(0)
        assert versions.reads == 2
        versions.by_agency["a"] = 5
        clock.now += 0.1  # 0.3 s: answered, and computed anew behind
        assert await ask() == 1
        await asyncio.sleep(0.01)
        assert cached.calls == 2 and await ask() == 2

    asyncio.run(go())


def test_a_response_older_than_the_staleness_bound_waits_for_the_new_figures() -> None:
    """The bound: a response never lacks a write older than ``stale_s``. Past it, the
    request after a write waits for the new computation."""

    async def go() -> None:
        versions, clock = Versions(), Clock()
        cached = Counted(ResponseCache(versions, stale_s=0.5, clock=clock))
        ask = cached.ask

        assert await ask() == 1
        versions.by_agency["a"] = 1
        clock.now += 0.5  # the cached computation started 0.5 s ago: too old to answer
        assert await ask() == 2
        clock.now += 10
        assert await ask() == 2 and cached.calls == 2  # unchanged figures: a hit, however old

    asyncio.run(go())


def test_a_request_refusing_stored_responses_waits_for_the_new_figures() -> None:
    """``Cache-Control: no-cache`` or ``max-age=0`` (a reload, a client after its own
    write): never the previous body."""

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(FRESH.get())

    seen: list[bool] = []
    middleware = FreshRequests(app)  # type: ignore[arg-type]
    for headers in (
        [(b"cache-control", b"no-cache")],
        [(b"cache-control", b"Max-Age=0, must-revalidate")],
        [(b"cache-control", b"max-age=60")],
        [],
    ):
        asyncio.run(middleware({"type": "http", "headers": headers}, None, None))  # type: ignore[arg-type]
    assert seen == [True, True, False, False]

    async def go() -> None:
        versions, clock = Versions(), Clock()
        cached = Counted(ResponseCache(versions, stale_s=0.5, clock=clock))
        ask = cached.ask

        assert await ask() == 1
        versions.by_agency["a"] = 1
        FRESH.set(True)
        assert await ask() == 2  # young, but refused
        versions.by_agency["a"] = 2
        FRESH.set(False)
        assert await ask() == 2  # the default: the young body, its successor behind it

    asyncio.run(go())


def test_a_background_computation_that_fails_leaves_the_last_body() -> None:
    async def go() -> None:
        versions, clock = Versions(), Clock()
        cache = ResponseCache(versions, stale_s=0.5, clock=clock)
        fail = False
        calls = 0

        async def compute() -> Value:
            nonlocal calls
            calls += 1
            if fail:
                raise ConnectionError("redis went away")
            return Value(n=calls)

        async def ask() -> int:
            resp = await cache.respond(("k",), 1, ["a"], compute)
            return int(orjson.loads(resp.body)["n"])

        assert await ask() == 1
        versions.by_agency["a"] = 1
        fail = True
        clock.now += 0.3  # past half its age: checked behind the answer
        assert await ask() == 1  # answered; its background computation fails
        await asyncio.sleep(0.01)
        assert calls == 2
        fail = False
        clock.now += 1
        assert await ask() == 3  # nothing cached for the new versions: computed, waited for

    asyncio.run(go())


async def _encoded(compute: Callable[[], Awaitable[Value]]) -> bytes:
    return (await compute()).model_dump_json().encode()
