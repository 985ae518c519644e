"""A rebuild that cannot lose history (issue 10, item 2): refused while a calculator is
live in the group, refused when retention cut the topics' beginning, Redis untouched;
rebuild and restore refused on a compacted event topic (issue 20, item 6)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import orjson
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from services.ops.exceptions import RebuildRefused, RestoreRefused
from services.ops.rebuild import WAIT_REPLICAS_MS, live_calculators, rebuild
from services.ops.snapshots import restore
from shared.platform.config import Settings
from shared.platform.topic_check import DURABLE_CONFIGS
from shared.store import keys as redis_keys
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


# -- one rebuild at a time; the old keyspace deleted only once the replicas have the switch
# (issue 20, item 5)


def test_two_rebuilds_at_once_one_is_refused_and_the_other_counts_everything(isolated) -> None:
    settings = settings_of(isolated)
    raws = [
        received(agency="so-y-te", dossier=f"two-{i}", at="2024-03-04T08:00:00+07:00")
        for i in range(6000)
    ]
    produce(settings.kafka_bootstrap, settings.topics.dossier, raws)

    async def both() -> list[object]:
        # small batches: the first derives for a few seconds
        first = asyncio.create_task(rebuild(settings, show_progress=False, batch_size=10))
        watch = Redis.from_url(settings.redis_url)
        while not await watch.get(redis_keys.REBUILD_LOCK):  # the first holds the lock
            assert not first.done(), first
            await asyncio.sleep(0.02)
        await watch.aclose()
        second = asyncio.create_task(rebuild(settings, show_progress=False))
        return list(await asyncio.gather(first, second, return_exceptions=True))

    first, second = asyncio.run(both())
    assert isinstance(second, RebuildRefused), second
    assert "another egov rebuild is running" in str(second)
    assert not isinstance(first, BaseException), first
    assert first.applied == 6000  # type: ignore[attr-defined]
    # the figures are the first one's, whole; its keyspace was not deleted as "abandoned"
    counters = figures(settings.redis_url)
    assert counters["cnt:{so-y-te}:Y2024"]["received"] == 6000

    async def lock_left() -> object:
        redis = Redis.from_url(settings.redis_url)
        try:
            return await redis.get(redis_keys.REBUILD_LOCK)
        finally:
            await redis.aclose()

    assert asyncio.run(lock_left()) is None  # released
    again = asyncio.run(rebuild(settings, show_progress=False))  # and taken again
    assert again.applied == 6000
    assert figures(settings.redis_url)["cnt:{so-y-te}:Y2024"]["received"] == 6000


def test_a_replica_that_does_not_acknowledge_the_switch_keeps_the_old_keyspace(
    isolated, tmp_path
) -> None:
    primary = RedisServer(tmp_path / "primary", free_port())
    replica = RedisServer(tmp_path / "replica", free_port())
    primary.start()
    replica.start()
    try:
        sync = redis.Redis(host="127.0.0.1", port=replica.port)
        sync.execute_command("REPLICAOF", "127.0.0.1", primary.port)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + 30
        while sync.info("replication").get("master_link_status") != "up":
            assert time.monotonic() < deadline, "the replica did not sync"
            time.sleep(0.2)
        sync.close()
        settings = settings_of(isolated).model_copy(update={"redis_url": primary.url})
        produce(
            settings.kafka_bootstrap,
            settings.topics.dossier,
            [
                received(agency="so-y-te", dossier=f"r-{i}", at="2024-03-04T08:00:00+07:00")
                for i in range(50)
            ],
        )
        one = asyncio.run(rebuild(settings, show_progress=False))
        assert one.kept_keyspace is None  # the replica acknowledged: the old one deleted
        replica_pid = replica.process.pid if replica.process else None
        assert replica_pid is not None
        os.kill(replica_pid, signal.SIGSTOP)  # frozen: acknowledges nothing
        try:
            started = time.monotonic()
            two = asyncio.run(rebuild(settings, show_progress=False))
            waited = time.monotonic() - started
        finally:
            os.kill(replica_pid, signal.SIGCONT)
        old = two.kept_keyspace
        assert old is not None and waited >= WAIT_REPLICAS_MS / 1000
        # readers are on the new keyspace, the old one is still whole
        client = redis.Redis.from_url(primary.url)
        current = client.get(redis_keys.KEYSPACE_CURRENT)
        assert isinstance(current, bytes) and current.decode() != old
        assert client.hget(f"{old}cnt:{{so-y-te}}:Y2024", "received") == b"50"
        client.close()
        # the next rebuild deletes it as abandoned
        three = asyncio.run(rebuild(settings, show_progress=False))
        assert three.kept_keyspace is None
        client = redis.Redis.from_url(primary.url)
        assert not list(client.scan_iter(f"{old}*"))
        client.close()
    finally:
        replica.stop()
        primary.stop()
