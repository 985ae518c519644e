"""A rebuild that cannot lose history (issue 10, item 2): refused while a calculator is
live in the group, refused when retention cut the topics' beginning, Redis untouched;
rebuild and restore refused on a compacted event topic (issue 20, item 6)."""

from __future__ import annotations

import asyncio
import time
import uuid

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from redis.asyncio import Redis

from services.ops.exceptions import RebuildRefused, RestoreRefused
from services.ops.rebuild import live_calculators, rebuild
from services.ops.snapshots import restore
from shared.platform.config import Settings
from shared.platform.topic_check import DURABLE_CONFIGS
from tests.factories import received
from tests.integration.test_counting_redis import snapshot

pytestmark = pytest.mark.integration


def settings_of(isolated) -> Settings:
    return Settings(
        kafka_bootstrap=isolated["bootstrap"],
        redis_url=isolated["redis_url"],
        topics=isolated["topics"],
        calculator_group=isolated["env"]["EGOV_CALCULATOR_GROUP"],
    )


def produce(bootstrap: str, topic: str, raws: list[dict[str, object]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for raw in raws:
        producer.send(topic, key=str(raw["agency_code"]).encode(), value=orjson.dumps(raw))
    producer.flush()
    producer.close()


def figures(url: str) -> dict[str, dict[str, int]]:
    async def run() -> dict[str, dict[str, int]]:
        redis = Redis.from_url(url)
        try:
            return await snapshot(redis)
        finally:
            await redis.aclose()

    return asyncio.run(run())


def test_rebuild_refuses_a_live_calculator_and_a_cut_history(isolated, service_factory) -> None:
    settings = settings_of(isolated)
    raws = [
        received(agency="so-y-te", dossier=f"g{i}", at="2024-03-04T08:00:00+07:00")
        for i in range(40)
    ]
    produce(settings.kafka_bootstrap, settings.topics.dossier, raws)
    calculator = service_factory("calculator", isolated["env"])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not figures(settings.redis_url):
        time.sleep(0.3)
    before = figures(settings.redis_url)
    assert before, "the calculator applied the events"
    assert live_calculators(settings) >= 1
    with pytest.raises(RebuildRefused, match="stop the calculator"):
        asyncio.run(rebuild(settings, show_progress=False))
    assert figures(settings.redis_url) == before

    calculator.process.stop()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and live_calculators(settings):
        time.sleep(0.5)
    # retention (or a deletion) removes the oldest records of the partitions that had any
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    ends = consumer.end_offsets([TopicPartition(settings.topics.dossier, p) for p in range(6)])
    consumer.close()
    cut = {tp: off for tp, off in ends.items() if off > 0}
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_records(cut)
    finally:
        admin.close()
    with pytest.raises(RebuildRefused, match="history is missing") as refused:
        asyncio.run(rebuild(settings, show_progress=False))
    assert all(f"[{tp.partition}] starts at offset" in str(refused.value) for tp in cut)
    assert figures(settings.redis_url) == before  # Redis untouched


def test_rebuild_and_restore_refuse_a_compacted_event_topic(isolated, tmp_path) -> None:
    """A compacted topic keeps only each key's last record while its offsets still start
    at 0: the offset check cannot see the loss, so the topic's settings must refuse it."""
    compacted = f"t.compacted.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=isolated["bootstrap"])
    try:
        admin.create_topics(
            {
                compacted: {
                    "num_partitions": 6,
                    "replication_factor": 1,
                    "configs": {**DURABLE_CONFIGS, "cleanup.policy": "compact"},
                }
            },
            wait_for_metadata=True,
        )
    finally:
        admin.close()
    settings = settings_of(isolated)
    settings = settings.model_copy(
        update={"topics": settings.topics.model_copy(update={"dossier": compacted})}
    )
    # two events of one dossier under one key: compaction would keep only the second
    dossier = [
        received(agency="so-y-te", dossier="c1", at="2024-03-04T08:00:00+07:00"),
        {**received(agency="so-y-te", dossier="c1"), "event_type": "withdrawn"},
    ]
    produce(settings.kafka_bootstrap, compacted, dossier)
    with pytest.raises(RebuildRefused, match=rf"{compacted}.*cleanup\.policy is 'compact'"):
        asyncio.run(rebuild(settings, show_progress=False))
    assert figures(settings.redis_url) == {}  # nothing derived, nothing switched
    with pytest.raises(RestoreRefused, match=rf"{compacted}.*cleanup\.policy is 'compact'"):
        asyncio.run(restore(settings, None))
    assert figures(settings.redis_url) == {}
