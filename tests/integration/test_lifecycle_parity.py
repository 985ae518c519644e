"""The rules moved from the apply script to Python (``shared/domain/lifecycle.py``, written
by the check-then-write script) write exactly what the previous release's script wrote:
the same events, in any order, duplication and batching, leave every key of the keyspace
byte-identical — entity states, counters, counted sets, sets, open dossiers, applied
counts — to the v1.1 script's (``tests/integration/v1_1_script.py``)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared.contract.events import Event
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db
from tests.integration.test_entity_state import dossiers
from tests.integration.test_lifecycle_rules import lifecycle_event, parse
from tests.integration.v1_1_script import apply_v1_1

pytestmark = pytest.mark.integration


@pytest.fixture()
def urls(redis_server: Any) -> tuple[str, str]:
    return redis_db(redis_server, 8), redis_db(redis_server, 9)


async def dump(redis: Redis) -> dict[bytes, Any]:
    """Every key and its value (data versions: only that they exist, they hold a clock)."""
    out: dict[bytes, Any] = {}
    async for key in redis.scan_iter():
        kind = await redis.type(key)
        if key.startswith(b"ver:"):
            out[key] = "version"
        elif kind == b"hash":
            out[key] = await redis.hgetall(key)
        elif kind == b"set":
            out[key] = await redis.smembers(key)
        elif kind == b"zset":
            out[key] = await redis.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = await redis.get(key)
    return out


async def both(urls: tuple[str, str], batches: list[list[Event]]) -> None:
    old, new = Redis.from_url(urls[0]), Redis.from_url(urls[1])
    await old.flushdb()
    await new.flushdb()
    store = IndicatorStore(new, keyspace="")
    # the previous release records the layout on its first write too
    await IndicatorStore(old, keyspace="").mark_layout("")
    for batch in batches:
        want = await apply_v1_1(old, batch)
        assert await store.apply_many(batch) == want
    assert await dump(new) == await dump(old)
    await old.aclose()
    await new.aclose()


def documents() -> list[Event]:
    """Documents and work files with both marks, first seen in either order of marks."""
    out: list[Event] = []
    for n, (kind, field, yes) in enumerate(
        [
            ("document_issued", "document_id", "electronic"),
            ("work_file_completed", "work_file_id", "processed_online"),
        ]
    ):
        for k, flags in enumerate([(True, False), (False, True), (True, True)]):
            for j, flag in enumerate(flags):
                out.append(
                    parse(
                        {
                            "event_id": f"doc-{n}-{k}-{j}",
                            "event_type": kind,
                            "occurred_at": f"2025-01-{10 - j:02d}T08:00:00+07:00",
                            "agency_code": "so-tttt",
                            field: f"e-{n}-{k}",
                            yes: flag,
                            "confidential": False,
                        }
                    )
                )
    return out


def test_every_state_form_writes_the_same_bytes(urls: tuple[str, str]) -> None:
    """The ties and codes of every form the state writes (test_entity_state), documents with
    both marks, in several orders and batch sizes, with redeliveries."""
    events = dossiers() + documents()
    rng = random.Random(7)
    orders = [events, events[::-1]]
    for _ in range(3):
        order = events + rng.sample(events, 10)
        rng.shuffle(order)
        orders.append(order)
    for n, order in enumerate(orders):
        size = (1, 3, 7, 40, 500)[n % 5]
        asyncio.run(both(urls, [order[i : i + size] for i in range(0, len(order), size)]))


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_lifecycles_write_the_same_bytes(urls: tuple[str, str], data: st.DataObject) -> None:
    raws = [data.draw(lifecycle_event(n)) for n in range(data.draw(st.integers(1, 16)))]
    events = [parse(r) for r in raws]
    order = list(data.draw(st.permutations(events)))
    for dup in data.draw(st.lists(st.sampled_from(events), max_size=6)):
        order.insert(data.draw(st.integers(0, len(order))), dup)
    size = data.draw(st.integers(1, 8))
    asyncio.run(both(urls, [order[i : i + size] for i in range(0, len(order), size)]))
