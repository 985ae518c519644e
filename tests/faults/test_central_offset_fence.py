"""The central ``applied:offsets`` raise is fenced (issue 20, item 3).

A real Redis (AOF, ``appendfsync everysec``) takes three batches of one partition, each of
other agencies; it is SIGKILLed after the second and its AOF cut back to the end of the
first (the second never reached the disk), then restarted. The third batch is sent to it
the way the client's reconnect retry sends a batch in flight: no gap check in between.
Unfenced, its raise of the central offset covers the second batch's lost writes, whose
agencies the third batch does not name: the gap check finds nothing and they are never
re-applied. Fenced, the raise is refused (the batch's first offset is past the central
offset + 1), the gap check finds [end of the first batch, end of the third) and the replay
of that range restores every agency: events in − events counted = 0."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.ports import free_port
from devstack.redis import RedisServer
from shared.contract.events import Event
from shared.store.client import redis_from_url
from shared.store.indicator_store import IndicatorStore
from tests.faults.test_calculator_faults import _incr_aof
from tests.integration.test_exactly_once import event_stream, parse

pytestmark = pytest.mark.integration

TP = ("t.dossier", 0)


def _batches() -> list[list[Event]]:
    """Three batches of disjoint agencies (a dossier's events stay in one batch)."""
    events = parse(event_stream(600, seed=71))
    agencies = sorted({e.agency_code for e in events})
    thirds = [set(agencies[i::3]) for i in range(3)]
    return [[e for e in events if e.agency_code in part] for part in thirds]


async def _apply(url: str, batches: list[list[Event]], first: int) -> int:
    """Apply ``batches`` from offset ``first`` on (one offset per event), each fenced by
    its first offset like the calculator's; returns the next offset."""
    redis = redis_from_url(url)
    try:
        store = IndicatorStore(redis)
        for batch in batches:
            last = first + len(batch) - 1
            await store.apply_many(batch, {TP: last}, floor={TP: first})
            first = last + 1
        return first
    finally:
        await redis.aclose()


async def _replay(url: str, events: list[Event], start: int, end: int) -> None:
    """Re-apply [start, end) (here: every event; the script skips those it holds)."""
    redis = redis_from_url(url)
    try:
        await IndicatorStore(redis).apply_many(events, {TP: end - 1}, floor={TP: start})
    finally:
        await redis.aclose()


async def _gaps_and_counts(
    url: str, reached: int, batches: list[list[Event]]
) -> tuple[dict[tuple[str, int], tuple[int, int, list[str]]], dict[str, int]]:
    redis = redis_from_url(url)
    try:
        store = IndicatorStore(redis)
        gaps = await store.gaps({TP: reached})
        agencies = {e.agency_code for b in batches for e in b}
        return gaps, await store.applied_events(agencies)
    finally:
        await redis.aclose()


def _want(batches: list[list[Event]]) -> dict[str, int]:
    ids: dict[str, set[str]] = {}
    for e in (e for b in batches for e in b):
        ids.setdefault(e.agency_code, set()).add(str(e.event_id))
    return {a: len(v) for a, v in ids.items()}


def test_a_retried_batch_on_a_regressed_redis_leaves_a_gap_the_check_finds(
    tmp_path: Path,
) -> None:
    server = RedisServer(tmp_path / "redis", free_port())
    server.start()
    try:
        batches = _batches()
        after_first = asyncio.run(_apply(server.url, batches[:1], 0))
        server.kill()  # the first batch is on disk: cut the AOF there on the next crash
        aof = _incr_aof(server.data_dir)
        keep = aof.stat().st_size
        server.start()
        after_second = asyncio.run(_apply(server.url, batches[1:2], after_first))
        server.kill()  # SIGKILL; the second batch's writes never reached the disk
        with _incr_aof(server.data_dir).open("r+b") as f:
            f.truncate(keep)
        server.start()
        # the third batch, sent on the regressed Redis with no gap check before it
        end = asyncio.run(_apply(server.url, batches[2:], after_second))
        gaps, counted = asyncio.run(_gaps_and_counts(server.url, end, batches))
        # the gap check must see that the second batch's range is missing
        assert TP in gaps, "the central offset covered the lost batch: nothing to replay"
        start, stop, _ = gaps[TP]
        assert start <= after_first and stop == end
        # replaying the range the check names (idempotent) restores every agency
        asyncio.run(_replay(server.url, [e for b in batches for e in b], start, stop))
        gaps, counted = asyncio.run(_gaps_and_counts(server.url, end, batches))
        assert gaps == {}
        assert counted == _want(batches)
    finally:
        server.stop()
