"""Exactly once in effect, against the real broker, Faust and Redis:
a calculator killed with SIGKILL mid-stream and restarted, and a rebuild from offset 0
into emptied state, both end with the figures a single clean pass gives."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import date
from typing import Any

import httpx
import orjson
from kafka import KafkaProducer
from redis.asyncio import Redis

from services.ops.rebuild import delete_derived_state, rebuild
from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings
from shared.store.indicator_store import IndicatorStore
from tests.factories import received
from tests.integration.test_counting_redis import snapshot

# the agencies of 2024 (the stream's year): the catalog in time refuses events of a unit
# on a day it is not valid
AGENCY_CODES = sorted(
    a.agency_code for a in load_agencies().valid_between(date(2024, 1, 1), date(2024, 12, 31))
)


def event_stream(n_dossiers: int, seed: int) -> list[dict[str, Any]]:
    """Dossiers with receipts (some twice, some late), resolutions, payments and duplicates."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n_dossiers):
        agency = rng.choice(AGENCY_CODES)
        day = rng.randint(1, 28)
        month = rng.randint(1, 12)
        at = f"2024-{month:02d}-{day:02d}T{rng.randint(7, 16):02d}:00:00+07:00"
        level, channel = rng.choice(
            [
                ("full_online", "online"),
                ("partial_online", "online"),
                ("partial_online", "in_person"),
                ("in_person_only", "in_person"),
            ]
        )
        out.append(
            received(
                agency=agency,
                dossier=f"k{i}",
                at=at,
                level=level,
                channel=channel,
                procedure_code=f"p{rng.randint(1, 30)}",
            )
        )
        if rng.random() < 0.1:  # received again under another category
            out.append(
                received(
                    agency=agency,
                    dossier=f"k{i}",
                    at=f"2024-{month:02d}-{day:02d}T17:30:00+07:00",
                    level="full_online",
                    channel="in_person",
                )
            )
        if rng.random() < 0.6:
            out.append(
                {
                    "event_id": f"r{i}",
                    "event_type": "resolved",
                    "occurred_at": at,
                    "agency_code": agency,
                    "dossier_id": f"k{i}",
                    "procedure_code": "p1",
                    "due_at": "2024-12-31T17:00:00+07:00",
                    "outcome": "approved",
                }
            )
    dupes = rng.sample(out, len(out) // 10)
    out += dupes
    rng.shuffle(out)
    return out


def parse(raws: list[dict[str, Any]]) -> list[Event]:
    agencies = load_agencies().codes
    parsed = [validate_event(r, agencies=agencies) for r in raws]
    assert all(not isinstance(p, list) for p in parsed)
    return parsed  # type: ignore[return-value]


async def reference_snapshot(url: str, events: list[Event]) -> dict[str, dict[str, int]]:
    redis = Redis.from_url(url)
    await redis.flushdb()
    store = IndicatorStore(redis)
    for i in range(0, len(events), 1000):
        await store.apply_many(events[i : i + 1000])
    snap = await snapshot(redis)
    await redis.flushdb()
    await redis.aclose()
    return snap


async def current_snapshot(url: str) -> dict[str, dict[str, int]]:
    redis = Redis.from_url(url)
    try:
        return await snapshot(redis)
    finally:
        await redis.aclose()


def produce(bootstrap: str, topic: str, raws: list[dict[str, Any]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    for raw in raws:
        producer.send(topic, key=raw["agency_code"].encode(), value=orjson.dumps(raw))
    producer.flush(60)
    producer.close()


def wait_until_equal(url: str, expected: dict[str, dict[str, int]], timeout: float) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    got = asyncio.run(current_snapshot(url))
    while got != expected and time.monotonic() < deadline:
        time.sleep(1)
        got = asyncio.run(current_snapshot(url))
    return got


def test_sigkill_mid_stream_then_restart_gives_identical_figures(isolated, service_factory) -> None:
    raws = event_stream(6000, seed=7)
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    produce(isolated["bootstrap"], isolated["topics"].dossier, raws)
    calculator = service_factory("calculator", isolated["env"])
    # kill as soon as part of the stream is applied, well before the end
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        applied = asyncio.run(current_snapshot(isolated["redis_url"]))
        if applied:
            break
        time.sleep(0.05)
    assert applied and applied != expected, "the kill must land mid-stream"
    calculator.process.kill()
    time.sleep(1)
    calculator.process.start()
    assert wait_until_equal(isolated["redis_url"], expected, timeout=180) == expected


def test_rebuild_from_offset_zero_gives_identical_figures(isolated, service_factory) -> None:
    raws = event_stream(3000, seed=11)
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    produce(isolated["bootstrap"], isolated["topics"].dossier, raws)
    calculator = service_factory("calculator", isolated["env"])
    assert wait_until_equal(isolated["redis_url"], expected, timeout=180) == expected
    calculator.process.stop()

    async def wipe() -> int:
        redis = Redis.from_url(isolated["redis_url"])
        n = await delete_derived_state(redis)
        await redis.aclose()
        return n

    assert asyncio.run(wipe()) > 0
    assert asyncio.run(current_snapshot(isolated["redis_url"])) == {}
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        redis_url=isolated["redis_url"],
        topics=isolated["topics"],
    )
    report = asyncio.run(rebuild(settings, show_progress=False))
    assert report.records == len(raws)
    unique = len({r["event_id"] for r in raws})
    assert (report.applied, report.duplicates) == (unique, len(raws) - unique)
    assert asyncio.run(current_snapshot(isolated["redis_url"])) == expected


def metric(url: str, name: str) -> float:
    text = httpx.get(url, timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_batches_in_flight_leave_no_gap_to_replay(isolated, service_factory) -> None:
    # Two batches in flight: the second's gap check runs before the first is in Redis and
    # must not take its records for writes Redis lost (it would replay them from Kafka).
    raws = event_stream(6000, seed=11)
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    produce(isolated["bootstrap"], isolated["topics"].dossier, raws)
    calculator = service_factory("calculator", isolated["env"])
    assert wait_until_equal(isolated["redis_url"], expected, timeout=180) == expected
    assert metric(calculator.metrics_url, "egov_calculator_batch_seconds_count") >= 2
    assert metric(calculator.metrics_url, "egov_calculator_gap_records_total ") == 0
    # its fetches wait 100 ms at most at the broker (EGOV_CALCULATOR_FETCH_WAIT_MS), not
    # Faust's 1.5 s: an event after a burst is not held behind a fetch of other partitions
    assert metric(calculator.metrics_url, "egov_calculator_fetch_wait_seconds ") == 0.1
    # one writer: every state it applied to (read, or kept from its own writes) was the
    # one in Redis
    assert metric(calculator.metrics_url, "egov_calculator_apply_conflicts_total ") == 0
    assert metric(calculator.metrics_url, 'egov_calculator_entity_states_total{source="read"}') > 0
