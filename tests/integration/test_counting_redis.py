"""The idempotent apply script against a real Redis: hand counts, and the property that any
permutation and any duplication of an event list gives the same figures."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.store.client import RedisClient
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db
from tests.factories import received

AGENCIES = load_agencies().codes
NOW = datetime(2026, 11, 24, tzinfo=UTC)


def parse(raw: dict) -> Event:  # type: ignore[type-arg]
    event = validate_event(raw, agencies=AGENCIES, now=NOW)
    assert not isinstance(event, list), event
    return event


def scenario() -> list[Event]:
    raws = [
        # d1: full online, received on the last second of 2024 (local time)
        received(dossier="d1", at="2024-12-31T23:59:59+07:00", event_id="a"),
        # d2: received in person, then again online a day later (two categories, one dossier)
        received(
            dossier="d2",
            at="2024-06-01T09:00:00+07:00",
            level="partial_online",
            channel="in_person",
            event_id="b",
        ),
        received(
            dossier="d2",
            at="2024-06-02T09:00:00+07:00",
            level="full_online",
            channel="online",
            event_id="c",
        ),
        # d3: a redelivered received event with a later timestamp: counts on its first day
        received(dossier="d3", at="2025-01-01T00:00:00+07:00", event_id="d"),
        received(dossier="d3", at="2025-01-03T08:00:00+07:00", event_id="e"),
        # another agency
        received(
            agency="ubnd-cho-moi",
            dossier="d1",
            at="2024-03-01T08:00:00+07:00",
            level="partial_online",
            channel="online",
            event_id="f",
        ),
        {
            "event_id": "g",
            "event_type": "resolved",
            "occurred_at": "2024-12-30T10:00:00+07:00",
            "agency_code": "so-tttt",
            "dossier_id": "d2",
            "procedure_code": "p-1",
            "due_at": "2024-12-31T10:00:00+07:00",
            "outcome": "approved",
        },
        {
            "event_id": "h",
            "event_type": "payment",
            "occurred_at": "2024-07-01T10:00:00+07:00",
            "agency_code": "so-tttt",
            "dossier_id": "d2",
            "procedure_code": "p-1",
            "method": "online",
            "amount_vnd": 50000,
        },
        {
            "event_id": "i",
            "event_type": "document_issued",
            "occurred_at": "2024-05-05T10:00:00+07:00",
            "agency_code": "so-tttt",
            "document_id": "vb-1",
            "electronic": True,
            "confidential": True,
        },
        {
            "event_id": "j",
            "event_type": "document_issued",
            "occurred_at": "2024-05-05T11:00:00+07:00",
            "agency_code": "so-tttt",
            "document_id": "vb-2",
            "electronic": False,
            "confidential": False,
        },
    ]
    return [parse(r) for r in raws]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def snapshot(redis: RedisClient) -> dict[str, dict[str, int]]:
    """Every non-zero counter of the current keyspace, keyed without the keyspace prefix."""
    ks = await IndicatorStore(redis).keyspace()
    out: dict[str, dict[str, int]] = {}
    async for key in redis.scan_iter(f"{ks}cnt:*"):
        fields = await redis.hgetall(key)
        values = {_text(k): int(v) for k, v in fields.items() if int(v)}
        if values:
            out[_text(key).removeprefix(ks)] = values
    return out


async def apply_and_snapshot(
    url: str, events: list[Event], batch: int
) -> dict[str, dict[str, int]]:
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
        store = IndicatorStore(redis)
        for i in range(0, len(events), batch):
            await store.apply_many(events[i : i + batch])
        return await snapshot(redis)
    finally:
        await redis.aclose()


def test_hand_counts(redis_server) -> None:
    async def run() -> None:
        redis = Redis.from_url(redis_db(redis_server, 14))
        await redis.flushdb()
        store = IndicatorStore(redis)
        events = scenario()
        assert all(await store.apply_many(events))
        # a second delivery of everything changes nothing
        assert not any(await store.apply_many(events))
        marks = [
            "received",
            "received_full_online_online",
            "cat_partial_online_in_person",
            "resolved",
            "resolved_on_time",
            "payment_online",
            "document_issued",
            "document_electronic",
        ]
        y2024 = (await store.sum_marks(["so-tttt"], date(2024, 1, 1), date(2024, 12, 31), marks))[
            "so-tttt"
        ]
        # d1 (31 Dec, 23:59:59 local) and d2 count in 2024; d3 in 2025
        assert y2024["received"] == 2
        assert y2024["received_full_online_online"] == 2  # d1 and d2 (its online receipt)
        assert y2024["cat_partial_online_in_person"] == 1
        assert (y2024["resolved"], y2024["resolved_on_time"], y2024["payment_online"]) == (1, 1, 1)
        # the confidential document is excluded from both sides
        assert (y2024["document_issued"], y2024["document_electronic"]) == (1, 0)
        y2025 = (
            await store.sum_marks(["so-tttt"], date(2025, 1, 1), date(2025, 12, 31), ["received"])
        )["so-tttt"]
        assert y2025["received"] == 1
        jan1 = (
            await store.sum_marks(["so-tttt"], date(2025, 1, 1), date(2025, 1, 1), ["received"])
        )["so-tttt"]
        assert jan1["received"] == 1
        # §4a.1: d2's online receipt of 2 June adds its category to the cohort of 1 June
        marks2 = ["received", "received_full_online_online"]
        june2 = (await store.sum_marks(["so-tttt"], date(2024, 6, 2), date(2024, 6, 2), marks2))[
            "so-tttt"
        ]
        assert june2 == {"received": 0, "received_full_online_online": 0}
        june1 = (await store.sum_marks(["so-tttt"], date(2024, 6, 1), date(2024, 6, 1), marks2))[
            "so-tttt"
        ]
        assert june1 == {"received": 1, "received_full_online_online": 1}
        await redis.aclose()

    asyncio.run(run())


def test_late_earlier_event_moves_the_count(redis_server) -> None:
    async def run() -> None:
        redis = Redis.from_url(redis_db(redis_server, 14))
        await redis.flushdb()
        store = IndicatorStore(redis)
        late = parse(received(dossier="x", at="2024-02-10T08:00:00+07:00", event_id="late"))
        early = parse(received(dossier="x", at="2024-01-20T08:00:00+07:00", event_id="early"))
        await store.apply(late)
        feb = await store.sum_marks(["so-tttt"], date(2024, 2, 1), date(2024, 2, 29), ["received"])
        assert feb["so-tttt"]["received"] == 1
        await store.apply(early)
        feb = await store.sum_marks(["so-tttt"], date(2024, 2, 1), date(2024, 2, 29), ["received"])
        jan = await store.sum_marks(["so-tttt"], date(2024, 1, 1), date(2024, 1, 31), ["received"])
        assert feb["so-tttt"]["received"] == 0 and jan["so-tttt"]["received"] == 1
        await redis.aclose()

    asyncio.run(run())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_and_duplication_gives_the_same_figures(
    redis_server, data: st.DataObject
) -> None:
    events = scenario()
    expected = asyncio.run(
        apply_and_snapshot(redis_db(redis_server, 14), events, batch=len(events))
    )
    order = data.draw(st.permutations(events))
    dupes = data.draw(st.lists(st.sampled_from(events), max_size=8))
    mixed = list(order)
    for dup in dupes:
        mixed.insert(data.draw(st.integers(0, len(mixed))), dup)
    batch = data.draw(st.integers(1, 5))
    assert asyncio.run(apply_and_snapshot(redis_db(redis_server, 14), mixed, batch)) == expected
