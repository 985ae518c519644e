"""Faults injected into the real broker, calculator and Redis (issue 10, item 4): after
recovery, the figure asserted is *events in − events counted = 0* (distinct valid event
ids produced minus event ids applied in Redis), and every counter equals a clean pass.
Each test appends its row (fault, in, counted, difference, recovery seconds) to
``.run/fault-report.jsonl``."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.exceptions
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from devstack.ports import free_port
from devstack.redis import RedisServer
from shared.domain.catalog import load_agencies
from shared.store.client import redis_from_url
from shared.store.indicator_store import IndicatorStore
from tests.integration.test_counting_redis import snapshot
from tests.integration.test_exactly_once import event_stream, parse, reference_snapshot

pytestmark = pytest.mark.integration
REPORT = Path(__file__).resolve().parents[2] / ".run" / "fault-report.jsonl"


def report(fault: str, events_in: int, counted: int, recovery_s: float) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    row = {
        "fault": fault,
        "events_in": events_in,
        "events_counted": counted,
        "difference": events_in - counted,
        "recovery_s": round(recovery_s, 1),
    }
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")


async def _counted(url: str) -> tuple[int, dict[str, dict[str, int]]]:
    """Event ids applied in the current keyspace (the script's per-agency count), and its
    counters (a single Redis or a cluster URL)."""
    redis = redis_from_url(url)
    try:
        applied = await IndicatorStore(redis).applied_events(load_agencies().codes)
        return sum(applied.values()), await snapshot(redis)
    finally:
        await redis.aclose()


def counted(url: str) -> tuple[int, dict[str, dict[str, int]]]:
    return asyncio.run(_counted(url))


def wait_equal(
    url: str, expected: dict[str, dict[str, int]], timeout: float, ids: int | None = None
) -> Any:
    """Wait until the counters equal ``expected`` (and, with ``ids``, that many event ids
    are applied: events that change no counter, e.g. a repeated receipt, count too)."""
    deadline = time.monotonic() + timeout
    got = counted_when_reachable(url, deadline)
    while (got[1] != expected or (ids is not None and got[0] < ids)) and (
        time.monotonic() < deadline
    ):
        time.sleep(1)
        got = counted_when_reachable(url, deadline)
    return got


def counted_when_reachable(url: str, deadline: float) -> tuple[int, dict[str, dict[str, int]]]:
    """:func:`counted`, retried while the client cannot connect (a cluster mid-failover: a
    new client may still pick the killed primary as its first node) until ``deadline``."""
    while True:
        try:
            return counted(url)
        except redis.exceptions.ConnectionError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)


def produce(
    bootstrap: str,
    topic: str,
    raws: list[dict[str, Any]],
    headers: list[tuple[str, bytes]] | None = None,
) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_request_size=2_000_000
    )
    for raw in raws:
        producer.send(
            topic,
            key=str(raw.get("agency_code", "x")).encode(),
            value=orjson.dumps(raw),
            headers=headers or [],
        )
    producer.flush(60)
    producer.close()


def distinct_ids(raws: list[dict[str, Any]]) -> int:
    return len({r["event_id"] for r in raws})


@pytest.fixture()
def own_redis(tmp_path: Path):
    server = RedisServer(tmp_path / "redis", free_port())
    server.start()
    yield server
    server.stop()


def test_bad_header_and_oversized_invalid_record_then_sigterm_restart(
    isolated, service_factory
) -> None:
    raws = event_stream(1500, seed=21)
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    topics = isolated["topics"]
    half = len(raws) // 2
    produce(isolated["bootstrap"], topics.dossier, raws[:half])
    # a batch with a non-integer header, and an 800 KB record that is no contract event
    produce(
        isolated["bootstrap"], topics.dossier, raws[half : half + 50], [("ingested_at_ms", b"soon")]
    )
    big = {"event_id": "big-1", "agency_code": "so-y-te", "padding": "x" * 800_000}
    produce(isolated["bootstrap"], topics.dossier, [big])
    produce(isolated["bootstrap"], topics.dossier, raws[half + 50 :])
    calculator = service_factory("calculator", isolated["env"])
    started = time.monotonic()
    ids, got = wait_equal(isolated["redis_url"], expected, 180)
    assert got == expected
    assert calculator.process.alive, "the bad records did not stop the calculator"
    calculator.process.stop()  # SIGTERM
    calculator.process.start()
    calculator.wait_healthy()
    more = event_stream(300, seed=22)
    for raw in more:
        raw["event_id"] = f"more-{raw['event_id']}"
        if "dossier_id" in raw:
            raw["dossier_id"] = f"more-{raw['dossier_id']}"
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws + more)))
    produce(isolated["bootstrap"], topics.dossier, more)
    ids, got = wait_equal(isolated["redis_url"], expected, 180, distinct_ids(raws + more))
    assert got == expected
    events_in = distinct_ids(raws + more)
    assert events_in - ids == 0
    report(
        "bad header + 800 KB invalid record, SIGTERM, restart",
        events_in,
        ids,
        time.monotonic() - started,
    )
    # the oversized record is dead-lettered by reference, truncated below the broker limit
    consumer = KafkaConsumer(bootstrap_servers=isolated["bootstrap"], consumer_timeout_ms=5000)
    dlq = [
        TopicPartition(topics.deadletter, p)
        for p in consumer.partitions_for_topic(topics.deadletter) or []
    ]
    consumer.assign(dlq)
    consumer.seek_to_beginning(*dlq)
    entries = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    assert len(entries) == 1
    assert entries[0]["truncated"] is True and entries[0]["value_size"] > 800_000
    assert entries[0]["offset"] >= 0 and entries[0]["topic"] == topics.dossier


def test_redis_sigkill_mid_replay_and_calculator_sigterm_while_it_retries(
    isolated, service_factory, own_redis
) -> None:
    raws = event_stream(5000, seed=31)
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    half = len(raws) // 2
    produce(isolated["bootstrap"], isolated["topics"].dossier, raws[:half])
    env = {**isolated["env"], "EGOV_REDIS_URL": own_redis.url}
    calculator = service_factory("calculator", env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not counted(own_redis.url)[1]:
        time.sleep(0.05)
    # the calculator applies thousands of events a second: the rest of the stream is
    # produced while Redis is down, so the kill lands mid-replay whatever the speed
    assert counted(own_redis.url)[1] != expected, "the kill must land mid-replay"
    own_redis.kill()  # SIGKILL: the last second of writes may be lost
    started = time.monotonic()
    produce(isolated["bootstrap"], isolated["topics"].dossier, raws[half:])
    time.sleep(2)  # the calculator retries
    calculator.process.stop()  # SIGTERM while it retries: the batch must not be acked
    own_redis.start()
    calculator.process.start()
    calculator.wait_healthy()
    ids, got = wait_equal(own_redis.url, expected, 240, distinct_ids(raws))
    assert got == expected
    events_in = distinct_ids(raws)
    assert events_in - ids == 0
    report(
        "Redis SIGKILL mid-replay, calculator SIGTERM while retrying",
        events_in,
        ids,
        time.monotonic() - started,
    )


def _incr_aof(data_dir: Path) -> Path:
    files = sorted((data_dir / "appendonlydir").glob("*.incr.aof"))
    assert files, "Redis writes an incremental AOF"
    return files[-1]


def test_redis_restarted_from_an_aof_truncated_to_an_earlier_point(
    isolated, service_factory, own_redis
) -> None:
    raws = event_stream(3000, seed=41)
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    first = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws[: len(raws) // 2])))
    topic = isolated["topics"].dossier
    produce(isolated["bootstrap"], topic, raws[: len(raws) // 2])
    env = {**isolated["env"], "EGOV_REDIS_URL": own_redis.url}
    calculator = service_factory("calculator", env)
    assert wait_equal(own_redis.url, first, 180)[1] == first
    time.sleep(1.5)  # appendfsync everysec
    aof = _incr_aof(own_redis.data_dir)
    cut = aof.stat().st_size
    produce(isolated["bootstrap"], topic, raws[len(raws) // 2 :])
    assert wait_equal(own_redis.url, expected, 180)[1] == expected
    time.sleep(3)  # offsets committed by now: Kafka is ahead of what Redis will keep
    own_redis.kill()  # host crash: the AOF lost what came after `cut`
    with aof.open("r+b") as f:
        f.truncate(cut)
    started = time.monotonic()
    own_redis.start()
    assert counted(own_redis.url)[1] != expected, "Redis came back behind Kafka"
    # the running calculator notices and re-applies what Redis lost
    ids, got = wait_equal(own_redis.url, expected, 120, distinct_ids(raws))
    assert got == expected
    events_in = distinct_ids(raws)
    assert events_in - ids == 0
    assert calculator.process.alive
    report(
        "Redis restarted from an AOF truncated to an earlier point",
        events_in,
        ids,
        time.monotonic() - started,
    )


def test_three_calculators_one_sigkilled_every_few_seconds(isolated, service_factory) -> None:
    raws = event_stream(8000, seed=51)
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    calculators = [service_factory("calculator", isolated["env"]) for _ in range(3)]
    started = time.monotonic()
    chunks = [raws[i : i + len(raws) // 12 + 1] for i in range(0, len(raws), len(raws) // 12 + 1)]
    kills = 0
    for n, chunk in enumerate(chunks):
        produce(isolated["bootstrap"], isolated["topics"].dossier, chunk)
        time.sleep(1)
        if n % 3 == 1:  # every ~3 s one of them dies mid-replay
            victim = calculators[kills % 3]
            victim.process.kill()  # SIGKILL: no ack, no commit, no leave-group
            kills += 1
            time.sleep(0.5)
            victim.process.start()
    assert kills >= 3
    ids, got = wait_equal(isolated["redis_url"], expected, 300, distinct_ids(raws))
    assert got == expected
    events_in = distinct_ids(raws)
    assert events_in - ids == 0
    report(
        f"3 calculators, {kills} SIGKILLs during the replay",
        events_in,
        ids,
        time.monotonic() - started,
    )
