"""The places batches take among those computing on one store (``take_place``): each
waits for the one taken before it, whatever order they arrive in, and a place given up
(released twice, or abandoned) never blocks the next."""

from __future__ import annotations

import asyncio

from shared.store.indicator_store import ComputePlace, IndicatorStore


def test_places_chain_in_the_order_taken_and_release_once() -> None:
    async def run() -> None:
        store = IndicatorStore(redis=None, keyspace="")  # type: ignore[arg-type]
        first, second, third = store.take_place(), store.take_place(), store.take_place()
        assert first.previous is None
        assert second.previous is first.mine and third.previous is second.mine
        order: list[str] = []

        async def compute(name: str, place: ComputePlace) -> None:
            if place.previous is not None:
                await place.previous
            order.append(name)
            place.release()

        # arriving last to first, they compute first to last
        tasks = [
            asyncio.ensure_future(compute(n, p))
            for n, p in (("third", third), ("second", second))
        ]
        await asyncio.sleep(0.01)
        assert order == [] and not second.released
        await compute("first", first)
        await asyncio.gather(*tasks)
        assert order == ["first", "second", "third"]
        first.release()  # again: nothing happens
        assert first.released and store.take_place().previous is third.mine

    asyncio.run(run())
