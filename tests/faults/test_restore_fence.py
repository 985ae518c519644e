"""`egov restore` fences the database while it replaces it (issue 20, item 5): a calculator
started meanwhile waits and applies nothing onto the half-restored Redis (a batch meeting
the fence fails before it writes), a second restore is refused, and the alerts' state of
today (states, history, outbox) survives the restore, so what was notified since the
snapshot is not notified again."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from services.ops.exceptions import RestoreRefused
from services.ops.snapshots import restore
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings
from shared.store import keys as redis_keys
from shared.store.exceptions import RestoreInProgress
from shared.store.indicator_store import IndicatorStore
from shared.store.snapshots import take_snapshot
from tests.factories import received
from tests.faults.test_calculator_faults import counted, distinct_ids, produce

pytestmark = pytest.mark.integration


def raws(n: int, tag: str) -> list[dict[str, object]]:
    return [
        received(agency="so-y-te", dossier=f"{tag}-{i}", at="2024-03-04T08:00:00+07:00")
        for i in range(n)
    ]


def test_a_calculator_started_during_a_restore_applies_nothing_until_it_ends(
    isolated, service_factory
) -> None:
    url = isolated["redis_url"]

    async def fence(on: bool) -> None:
        redis = Redis.from_url(url)
        try:
            if on:
                await redis.set(redis_keys.RESTORE_FENCE, "restore-under-way", ex=300)
            else:
                await redis.delete(redis_keys.RESTORE_FENCE)
        finally:
            await redis.aclose()

    asyncio.run(fence(True))
    events = raws(200, "fenced")
    produce(isolated["bootstrap"], isolated["topics"].dossier, events)
    # the calculator starts (healthy only once it may apply: start_service waits for that)
    started: list[object] = []
    starting = threading.Thread(
        target=lambda: started.append(service_factory("calculator", isolated["env"]))
    )
    starting.start()
    time.sleep(10)  # it would have applied 200 events by now
    assert counted(url) == (0, {})  # nothing onto the database being restored

    # a batch that meets the fence fails before writing anything
    async def apply_fenced() -> None:
        redis = Redis.from_url(url)
        try:
            parsed = [validate_event(r, agencies=load_agencies()) for r in raws(3, "direct")]
            with pytest.raises(RestoreInProgress):
                await IndicatorStore(redis).apply_many(parsed)  # type: ignore[arg-type]
        finally:
            await redis.aclose()

    asyncio.run(apply_fenced())
    assert counted(url) == (0, {})

    asyncio.run(fence(False))  # the restore ended
    starting.join(timeout=180)
    assert started, "the calculator did not start once the fence was lifted"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and counted(url)[0] != distinct_ids(events):
        time.sleep(0.5)
    assert counted(url)[0] == distinct_ids(events)  # events in − events counted = 0


def test_a_restore_keeps_todays_alerts_is_alone_and_lifts_its_fence(
    isolated, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis", free_port())
    server.start()
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        redis_url=server.url,
        topics=isolated["topics"],
        calculator_group=isolated["env"]["EGOV_CALCULATOR_GROUP"],
        snapshot_dir=str(tmp_path / "snapshots"),
    )
    events = raws(100, "kept")
    produce(settings.kafka_bootstrap, settings.topics.dossier, events)
    outbox = "outbox:{alerts}:breach-so-y-te"
    try:

        async def before_snapshot() -> None:
            redis = Redis.from_url(server.url)
            try:
                parsed = [validate_event(r, agencies=load_agencies()) for r in events]
                await IndicatorStore(redis).apply_many(parsed)  # type: ignore[arg-type]
                await redis.set(outbox, "pending")
            finally:
                await redis.aclose()

        asyncio.run(before_snapshot())
        snapshot = take_snapshot(server.url, Path(settings.snapshot_dir or ""))
        figures = counted(server.url)

        async def after_snapshot() -> None:  # notified since: the outbox says so
            redis = Redis.from_url(server.url)
            try:
                await redis.set(outbox, "sent")
                await redis.set("alert:{alerts}:silence-H01.05", "firing")
            finally:
                await redis.aclose()

        asyncio.run(after_snapshot())

        async def held_fence() -> None:
            redis = Redis.from_url(server.url)
            try:
                await redis.set(redis_keys.RESTORE_FENCE, "another", ex=60)
            finally:
                await redis.aclose()

        asyncio.run(held_fence())
        with pytest.raises(RestoreRefused, match="another egov restore"):
            asyncio.run(restore(settings, snapshot, force=True))

        async def lift() -> None:
            redis = Redis.from_url(server.url)
            try:
                await redis.delete(redis_keys.RESTORE_FENCE)
            finally:
                await redis.aclose()

        asyncio.run(lift())
        result = asyncio.run(restore(settings, snapshot, force=True))
        assert result.snapshot == str(snapshot)
        assert counted(server.url) == figures  # the figures: snapshot + tail

        async def after_restore() -> tuple[object, object, object]:
            redis = Redis.from_url(server.url)
            try:
                return (
                    await redis.get(outbox),
                    await redis.get("alert:{alerts}:silence-H01.05"),
                    await redis.exists(redis_keys.RESTORE_FENCE),
                )
            finally:
                await redis.aclose()

        # today's alerts, not the snapshot's: "sent" stays sent; the fence is lifted
        assert asyncio.run(after_restore()) == (b"sent", b"firing", 0)
    finally:
        server.stop()
