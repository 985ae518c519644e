"""The response cache's keying and single flight, with a stand-in for the store's versions."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import orjson
from pydantic import BaseModel

from services.api.response_cache import ResponseCache


class Versions:
    def __init__(self) -> None:
        self.by_agency: dict[str, int] = {}

    async def data_versions(self, agencies: Iterable[str]) -> list[int]:
        return [self.by_agency.get(a, 0) for a in agencies]


class Value(BaseModel):
    n: int


def test_concurrent_misses_compute_once_and_writes_invalidate() -> None:
    async def go() -> None:
        versions = Versions()
        cache = ResponseCache(versions)
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
