"""The event log is the system of record (issue 10, item 1): durable topics keep every
record forever, a stale topic is repaired by the stack's topic creation, and services
refuse to start on a topic that is missing or would lose history."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaTimeoutError

from devstack.topics import create_topics
from shared.platform.config import Settings, Topics
from shared.platform.exceptions import TopicCheckError
from shared.platform.topic_check import require_topics, topic_configs, topic_problems

pytestmark = pytest.mark.integration


def fresh_settings() -> Settings:
    s = uuid.uuid4().hex[:8]
    return Settings(
        topics=Topics(
            dossier=f"r.dossier.{s}",
            document=f"r.document.{s}",
            deadletter=f"r.dlq.{s}",
            indicator_updates=f"r.updates.{s}",
            alerts=f"r.alerts.{s}",
        )
    )


def test_durable_topics_keep_every_record_and_stale_ones_are_repaired(kafka_broker) -> None:
    settings = fresh_settings()
    t = settings.topics
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        # an old deployment's dossier topic: Kafka's default 7-day retention
        admin.create_topics(
            {t.dossier: {"num_partitions": 6, "replication_factor": 1}}, wait_for_metadata=True
        )
        problems = topic_problems(admin, [t.dossier, t.document], [t.dossier, t.document])
        assert any(t.dossier in p and "retention.ms" in p for p in problems), problems
        assert any(t.document in p and "does not exist" in p for p in problems), problems
        with pytest.raises(TopicCheckError, match=r"retention\.ms"):
            require_topics(kafka_broker.bootstrap, [t.dossier], [t.dossier], wait_s=5)

        create_topics(kafka_broker.bootstrap, settings)
        configs = topic_configs(admin, [t.dossier, t.document, t.deadletter, t.alerts])
        for name in (t.dossier, t.document, t.deadletter):
            assert configs[name]["retention.ms"] == "-1", name
            assert configs[name]["retention.bytes"] == "-1", name
        assert configs[t.document]["compression.type"] == "zstd"
        assert configs[t.alerts]["retention.ms"] != "-1"  # not part of the event log
        used = [t.dossier, t.document, t.deadletter, t.indicator_updates, t.alerts]
        assert topic_problems(admin, used, [t.dossier, t.document, t.deadletter]) == []
    finally:
        admin.close()


def test_the_broker_never_creates_a_topic_by_itself(kafka_broker) -> None:
    name = f"r.stray.{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, max_block_ms=3000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send(name, b"x").get(timeout=5)
    finally:
        producer.close(timeout=2)
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        assert name not in admin.list_topics()
    finally:
        admin.close()


def start_and_wait(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


WEEK = {"retention.ms": "604800000"}
# infinite retention, but compacted: each key (an entity) keeps only its last record
COMPACTED = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "compact"}


@pytest.mark.parametrize(
    ("module", "broken", "reason", "configs"),
    [
        ("services.ingest", "dossier", "retention.ms", WEEK),
        ("services.calculator", "deadletter", "retention.ms", WEEK),
        ("services.alerts", "alerts", "does not exist", {}),
        ("services.calculator", "dossier", "cleanup.policy", COMPACTED),
        ("services.ingest", "document", "cleanup.policy", COMPACTED),
    ],
)
def test_services_refuse_to_start_on_a_topic_that_would_lose_history(
    kafka_broker, module: str, broken: str, reason: str, configs: dict[str, str]
) -> None:
    settings = fresh_settings()
    create_topics(kafka_broker.bootstrap, settings)
    t = settings.topics
    bad = f"r.bad.{uuid.uuid4().hex[:8]}"
    if reason != "does not exist":
        admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        admin.create_topics(
            {
                bad: {
                    "num_partitions": 1,
                    "replication_factor": 1,
                    "configs": configs,
                }
            },
            wait_for_metadata=True,
        )
        admin.close()
    env = {
        "EGOV_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "EGOV_REDIS_URL": "redis://127.0.0.1:1/0",
        "EGOV_TOPIC_CHECK_WAIT_S": "10",
        "EGOV_TOPIC_DOSSIER": t.dossier,
        "EGOV_TOPIC_DOCUMENT": t.document,
        "EGOV_TOPIC_DEADLETTER": t.deadletter,
        "EGOV_TOPIC_INDICATOR_UPDATES": t.indicator_updates,
        "EGOV_TOPIC_ALERTS": t.alerts,
        f"EGOV_TOPIC_{broken.upper()}": bad,
    }
    done = start_and_wait(module, env)
    assert done.returncode == 78, done.stderr[-2000:]
    assert bad in done.stderr and reason in done.stderr, done.stderr[-2000:]
