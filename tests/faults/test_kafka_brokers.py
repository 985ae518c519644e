"""A Kafka broker SIGKILLed during ingest (issue 12, item 2): three KRaft brokers,
replication 3, ``min.insync.replicas`` 2; a real ingest service takes continuous HTTP
batches and a calculator consumes them while one broker — the one leading most event
partitions — is killed. Every event answered 202 is in the topics afterwards (distinct
event ids read back = distinct ids accepted), the figures in Redis equal a clean pass, and
the producers did not stall beyond the broker's fencing. The killed broker is restarted
at the end and catches up. The row goes to ``.run/fault-report.jsonl``."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from devstack.kafka import KafkaCluster
from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import RunningService, start_service
from shared.platform.config import Settings
from tests.faults.test_calculator_faults import REPORT, distinct_ids, wait_equal
from tests.integration.test_exactly_once import event_stream, parse, reference_snapshot

pytestmark = pytest.mark.integration

INGEST = {"Authorization": "Bearer dev-ingest-token", "content-type": "application/x-ndjson"}
TOPICS = Settings().topics
BATCH = 100


@pytest.fixture()
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", free_port())
    server.start()
    yield server
    server.stop()


@dataclass
class Sender:
    """Posts the batches one after another, each until it is answered 202 (a 503 is
    retried after its Retry-After: the event log was unavailable)."""

    url: str
    batches: list[list[dict[str, Any]]]
    pause_s: float
    accepted: set[str] = field(default_factory=set)
    answers: Counter[int] = field(default_factory=Counter)
    accepted_at: list[float] = field(default_factory=list)  # monotonic time of each 202
    slowest_s: float = 0.0
    done_batches: int = 0
    error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(timeout=60) as client:
                for batch in self.batches:
                    body = b"\n".join(orjson.dumps(e) for e in batch)
                    while True:
                        started = time.monotonic()
                        resp = client.post(self.url, content=body, headers=INGEST)
                        self.slowest_s = max(self.slowest_s, time.monotonic() - started)
                        self.answers[resp.status_code] += 1
                        if resp.status_code == 202:
                            assert resp.json()["accepted"] == len(batch), resp.text
                            self.accepted |= {e["event_id"] for e in batch}
                            self.accepted_at.append(time.monotonic())
                            break
                        assert resp.status_code == 503, resp.text
                        time.sleep(float(resp.headers.get("Retry-After", "1")))
                    self.done_batches += 1
                    time.sleep(self.pause_s)
        except BaseException as exc:  # reported by the test
            self.error = exc


def busiest_leader(bootstrap: str) -> int:
    """The broker leading most partitions of the event topics."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_topics([TOPICS.dossier, TOPICS.document])
    finally:
        admin.close()
    leaders = Counter(p["leader_id"] for t in described for p in t["partitions"])
    return int(leaders.most_common(1)[0][0])


def event_ids_in_topics(bootstrap: str) -> set[str]:
    """Every event id in the dossier and document topics, read from offset 0 to the end."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10_000
    )
    try:
        parts = [
            TopicPartition(topic, p)
            for topic in (TOPICS.dossier, TOPICS.document)
            for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        ids: set[str] = set()
        deadline = time.monotonic() + 120
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, "reading the topics back took too long"
            for records in consumer.poll(timeout_ms=1000, max_records=5000).values():
                ids |= {orjson.loads(r.value)["event_id"] for r in records}
        return ids
    finally:
        consumer.close()


def start(name: str, env: dict[str, str], logs: Path) -> RunningService:
    return start_service(name, free_port(), env, logs, timeout=120)


def test_broker_sigkilled_during_ingest_loses_no_accepted_event(
    kafka_cluster: KafkaCluster, redis: RedisServer, tmp_path: Path
) -> None:
    raws = event_stream(4000, seed=61)
    expected = asyncio.run(reference_snapshot(f"{redis.url.rsplit('/', 1)[0]}/1", parse(raws)))
    env = {
        "EGOV_KAFKA_BOOTSTRAP": kafka_cluster.bootstrap,
        "EGOV_TOPIC_REPLICATION": str(kafka_cluster.replication),
        "EGOV_REDIS_URL": redis.url,
        "EGOV_FAUST_DATA_DIR": str(tmp_path / "faust"),
        "EGOV_CALCULATOR_GROUP": f"calc-{uuid.uuid4().hex[:8]}",
        "EGOV_INGEST_RETRY_AFTER_S": "1",
        "EGOV_RATE_LIMIT_PER_S": "1000",
        "EGOV_RATE_LIMIT_BURST": "1000",
    }
    ingest = start("ingest", env, tmp_path / "logs")
    calculator = start("calculator", env, tmp_path / "logs")
    try:
        run_with_a_broker_killed(kafka_cluster, redis, raws, expected, ingest, calculator)
    finally:
        ingest.process.stop()
        calculator.process.stop()


def run_with_a_broker_killed(
    kafka_cluster: KafkaCluster,
    redis: RedisServer,
    raws: list[dict[str, Any]],
    expected: dict[str, dict[str, int]],
    ingest: RunningService,
    calculator: RunningService,
) -> None:
    batches = [raws[i : i + BATCH] for i in range(0, len(raws), BATCH)]
    sender = Sender(f"{ingest.url}/v1/events", batches, pause_s=0.15)
    thread = threading.Thread(target=sender.run, daemon=True)
    thread.start()
    while sender.done_batches < len(batches) // 3 and thread.is_alive():
        time.sleep(0.05)
    victim = busiest_leader(kafka_cluster.bootstrap)
    kafka_cluster.node(victim).kill()  # SIGKILL: no controlled shutdown
    killed_at = time.monotonic()
    done_at_kill = sender.done_batches
    thread.join(600)
    assert not thread.is_alive() and sender.error is None, sender.error
    assert sender.done_batches == len(batches)
    # producing went on while the broker was down: the longest wait for a 202 around the
    # kill is the broker's fencing (5 s) plus a retry, not a stall
    after = [t for t in sender.accepted_at if t >= killed_at]
    stall = max(b - a for a, b in pairwise([killed_at, *after]))
    assert len(after) >= len(batches) - done_at_kill - 1
    assert stall < 20, f"ingest stalled {stall:.1f}s after the broker was killed"

    # every accepted event is in the topics, read from the two brokers left
    in_topics = event_ids_in_topics(kafka_cluster.bootstrap)
    accepted = len(sender.accepted)
    assert accepted == distinct_ids(raws)
    assert sender.accepted - in_topics == set()
    assert len(in_topics) == accepted

    # and the calculator, consuming through the loss, has the figures of a clean pass
    ids, got = wait_equal(redis.url, expected, 240, accepted)
    assert got == expected
    assert accepted - ids == 0
    recovery_s = time.monotonic() - killed_at
    assert calculator.process.alive and ingest.process.alive

    # the killed broker comes back and catches up
    kafka_cluster.start_node(victim)
    kafka_cluster.wait_in_sync([TOPICS.dossier, TOPICS.document], timeout=180)
    assert event_ids_in_topics(kafka_cluster.bootstrap) == in_topics

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    row = {
        "fault": "Kafka broker SIGKILLed during HTTP ingest (3 brokers, RF 3, min ISR 2)",
        "events_in": accepted,
        "events_counted": ids,
        "difference": accepted - ids,
        "recovery_s": round(recovery_s, 1),
        "ingest_stall_s": round(stall, 1),
        "ingest_503": sender.answers[503],
        "slowest_request_s": round(sender.slowest_s, 1),
    }
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(row)
