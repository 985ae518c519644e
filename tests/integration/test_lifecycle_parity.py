"""The rules moved from the apply script to Python (``shared/domain/lifecycle.py``, written
by the check-then-write script) write what the previous release's script wrote: the same
v1.1 events, in any order, duplication and batching, leave every counter field, counted
set, set, open dossier and applied count the v1.1 script wrote
(``tests/integration/v1_1_script.py``) byte-identical, and the same entities; what v1.2
adds (its cohort marks, counted sets, sets, 766 open sets; a state's extension) is only
added."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared.contract.events import Event
from shared.domain.lifecycle import DOSSIER_COHORT_MARKS
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
    """Every key and its value (data versions: only that they exist, they hold a clock;
    period versions, which the v1.1 script never wrote, left out: they hold clocks too and
    tests/integration/test_data_versions.py checks them)."""
    out: dict[bytes, Any] = {}
    async for key in redis.scan_iter():
        kind = await redis.type(key)
        if key.startswith(b"verp:"):
            continue
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


V12_SETS = ("proc_received", "proc_returned_e", "proc_full_online", "dos_paid", "dos_paid_online")


def assert_superset(new: dict[bytes, Any], old: dict[bytes, Any]) -> None:
    for key, value in old.items():
        assert key in new, key
        if key.startswith(b"ent:"):  # the same entities (v1.2 extends their states)
            assert set(new[key]) == set(value), key
        elif key.startswith(b"cnt:"):  # the same fields; v1.2 adds its own
            added = {f.decode() for f in new[key]} - {f.decode() for f in value}
            assert {f: new[key][f] for f in value} == value, key
            assert all(f in DOSSIER_COHORT_MARKS[15:] for f in added), added
        else:
            assert new[key] == value, key
    for key in new.keys() - old.keys():
        text = key.decode()
        assert text.startswith("o766:") or any(f":{name}:" in text for name in V12_SETS), text


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
    assert_superset(await dump(new), await dump(old))
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


V11_TYPES = {
    "received",
    "resolved",
    "returned",
    "rated",
    "payment",
    "withdrawn",
    "due_changed",
    "intake_rejected",
    "document_issued",
    "work_file_completed",
}


def v11(raw: dict[str, Any]) -> bool:
    if raw["event_type"] == "due_changed":
        return raw["reason"] != "apology_redated" and (
            "due_at" in raw or raw["reason"] == "suspended"
        )
    if raw["event_type"] == "received":
        return not any(
            raw.get(f) for f in ("reused_digitized_data", "digitized_shared", "citizen_data_used")
        )
    return True


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_random_lifecycles_write_the_same_bytes(urls: tuple[str, str], data: st.DataObject) -> None:
    raws = [data.draw(lifecycle_event(n)) for n in range(data.draw(st.integers(1, 16)))]
    # the events the previous release knew (contract v1.1)
    events = [parse(r) for r in raws if r["event_type"] in V11_TYPES and v11(r)]
    assume(events)
    order = list(data.draw(st.permutations(events)))
    for dup in data.draw(st.lists(st.sampled_from(events), max_size=6)):
        order.insert(data.draw(st.integers(0, len(order))), dup)
    size = data.draw(st.integers(1, 8))
    asyncio.run(both(urls, [order[i : i + size] for i in range(0, len(order), size)]))
