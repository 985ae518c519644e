"""Topics that could lose acknowledged records with a broker (issue 20, item 6): on three
brokers, a topic with fewer replicas than ``EGOV_TOPIC_REPLICATION`` or a
``min.insync.replicas`` that lets ``acks=all`` succeed on one broker is refused by the
start-up check, by the services and by ``egov rebuild``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest
from kafka.admin import KafkaAdminClient

from devstack.kafka import KafkaCluster
from devstack.topics import create_topics
from services.ops.exceptions import RebuildRefused
from services.ops.rebuild import rebuild
from shared.platform.config import Settings, Topics
from shared.platform.topic_check import DURABLE_CONFIGS, topic_problems

pytestmark = pytest.mark.integration


def cluster_settings(cluster: KafkaCluster) -> Settings:
    s = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=cluster.bootstrap,
        redis_url="redis://127.0.0.1:1/0",
        topic_replication=3,
        calculator_group=f"calc-{s}",
        topics=Topics(
            dossier=f"q.dossier.{s}",
            document=f"q.document.{s}",
            deadletter=f"q.dlq.{s}",
            indicator_updates=f"q.updates.{s}",
            alerts=f"q.alerts.{s}",
            catalog=f"q.catalog.{s}",
        ),
    )


def test_too_few_replicas_or_in_sync_replicas_are_refused(kafka_cluster: KafkaCluster) -> None:
    settings = cluster_settings(kafka_cluster)
    create_topics(kafka_cluster.bootstrap, settings, replication=3)
    t = settings.topics
    one_in_sync, two_replicas = f"q.isr1.{uuid.uuid4().hex[:8]}", f"q.rf2.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap)
    try:
        admin.create_topics(
            {
                one_in_sync: {
                    "num_partitions": 6,
                    "replication_factor": 3,
                    "configs": {**DURABLE_CONFIGS, "min.insync.replicas": "1"},
                },
                two_replicas: {
                    "num_partitions": 6,
                    "replication_factor": 2,
                    "configs": dict(DURABLE_CONFIGS),
                },
            },
            wait_for_metadata=True,
        )
        used = [t.dossier, t.document, t.deadletter, one_in_sync, two_replicas]
        # a broker may answer before the new topics' metadata reached it (a loaded machine)
        deadline = time.monotonic() + 30
        problems = topic_problems(admin, used, used, replication=3)
        # (or answers with the topic but not yet its partitions and configs: replication 0,
        # retention None)
        unsettled = ("does not exist", "replication factor is 0", "is None")
        while any(u in p for p in problems for u in unsettled):
            assert time.monotonic() < deadline, problems
            time.sleep(0.5)
            problems = topic_problems(admin, used, used, replication=3)
        # the stack's own topics (3 replicas, 2 in sync) pass
        assert not [p for p in problems if one_in_sync not in p and two_replicas not in p]
        assert [p for p in problems if one_in_sync in p] == [
            f"topic {one_in_sync!r}: min.insync.replicas is 1, must be at least 2 with 3 "
            "replicas (an acknowledged record must be on more than one broker)"
        ]
        assert any(
            two_replicas in p and "replication factor is 2, must be at least 3" in p
            for p in problems
        ), problems
        # configured for one broker (the default), a 3-replica topic still needs 2 in sync
        assert any(one_in_sync in p for p in topic_problems(admin, used, used, replication=1))
    finally:
        admin.close()

    env = {
        **os.environ,
        "EGOV_KAFKA_BOOTSTRAP": kafka_cluster.bootstrap,
        "EGOV_REDIS_URL": "redis://127.0.0.1:1/0",
        "EGOV_TOPIC_CHECK_WAIT_S": "10",
        "EGOV_TOPIC_REPLICATION": "3",
        "EGOV_TOPIC_DOSSIER": one_in_sync,
        "EGOV_TOPIC_DOCUMENT": t.document,
        "EGOV_TOPIC_DEADLETTER": t.deadletter,
        "EGOV_TOPIC_INDICATOR_UPDATES": t.indicator_updates,
        "EGOV_TOPIC_ALERTS": t.alerts,
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.calculator"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78, done.stderr[-2000:]
    assert one_in_sync in done.stderr and "min.insync.replicas is 1" in done.stderr

    thin = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"document": two_replicas})}
    )
    with pytest.raises(RebuildRefused, match=rf"{two_replicas}.*replication factor is 2"):
        asyncio.run(rebuild(thin, show_progress=False))
