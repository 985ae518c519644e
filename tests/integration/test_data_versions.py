"""Data versions in real Redis: every write that changes an agency's figures raises its
version, a duplicate does not, and a flushed database never repeats an old version (the
API's response cache relies on all three)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.store.indicator_store import IndicatorStore
from tests.factories import received


def _event(**kw: str) -> Event:
    event = validate_event(received(**kw), agencies=load_agencies().codes)
    assert not isinstance(event, list), event
    return event


def test_versions_follow_writes_not_duplicates(isolated) -> None:
    async def go() -> None:
        redis = Redis.from_url(isolated["redis_url"])
        store = IndicatorStore(redis)
        assert await store.data_versions(["so-tttt", "so-y-te"]) == [0, 0]
        first = _event(agency="so-tttt", dossier="v1", event_id="ver-1")
        assert await store.apply_many([first]) == [True]
        v1, other = await store.data_versions(["so-tttt", "so-y-te"])
        assert v1 > 0 and other == 0
        assert await store.apply_many([first]) == [False]  # redelivery changes nothing
        assert await store.data_versions(["so-tttt"]) == [v1]
        await store.apply_many([_event(agency="so-tttt", dossier="v2", event_id="ver-2")])
        (v2,) = await store.data_versions(["so-tttt"])
        assert v2 > v1
        await store.bump_data_versions(["so-tttt", "so-y-te"])
        v3, other = await store.data_versions(["so-tttt", "so-y-te"])
        assert v3 > v2 and other > 0
        # a flushed database starts again from the clock, above every version it had
        await redis.flushdb()
        await store.apply_many([_event(agency="so-tttt", dossier="v1", event_id="ver-1")])
        (v4,) = await store.data_versions(["so-tttt"])
        assert v4 > v3
        await redis.aclose()

    asyncio.run(go())


def test_period_versions_follow_the_buckets_written(isolated) -> None:
    """A write raises the period versions of the months (and year) whose buckets it
    writes, to the agency's new data version, and no other: a closed month's page keeps its
    cache key while today's events come in; a rebuild's bump raises ``all``."""
    fields = ["all", "2024", "202403", "202404"]

    async def each(store: IndicatorStore, agency: str) -> tuple[int, ...]:
        """Every field on its own (``period_versions`` answers the largest)."""
        return tuple([(await store.period_versions([agency], [f]))[0] for f in fields])

    async def go() -> None:
        redis = Redis.from_url(isolated["redis_url"])
        store = IndicatorStore(redis)
        assert await each(store, "so-tttt") == (0, 0, 0, 0)
        march = _event(agency="so-tttt", dossier="pv1", event_id="pv-1")
        await store.apply_many([march])
        (v1,) = await store.data_versions(["so-tttt"])
        assert await each(store, "so-tttt") == (0, v1, v1, 0)
        assert await each(store, "so-y-te") == (0, 0, 0, 0)
        assert await store.period_versions(["so-tttt", "so-y-te"], fields) == [v1, 0]
        april = _event(
            agency="so-tttt", dossier="pv2", event_id="pv-2", at="2024-04-02T09:00:00+07:00"
        )
        await store.apply_many([april])
        (v2,) = await store.data_versions(["so-tttt"])
        assert v2 > v1
        assert await each(store, "so-tttt") == (0, v2, v1, v2)
        # a read of March alone keeps its key; of March and April it moves
        assert await store.period_versions(["so-tttt"], ["all", "202403"]) == [v1]
        assert await store.period_versions(["so-tttt"], fields) == [v2]
        await store.apply_many([april, march])  # redelivered: nothing written
        assert await each(store, "so-tttt") == (0, v2, v1, v2)
        await store.bump_data_versions(["so-tttt"])
        (v3,) = await store.data_versions(["so-tttt"])
        assert await each(store, "so-tttt") == (v3, v2, v1, v2)
        assert await store.period_versions(["so-tttt"], ["all", "202403"]) == [v3]
        await redis.aclose()

    asyncio.run(go())
