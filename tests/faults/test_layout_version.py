"""The Redis layout is versioned (issue 20, item 2): an in-place upgrade onto the previous
release's Redis (an RDB of its layout, which records no version) must not replay the log
onto the same counters. The calculator refuses to start (exit 78, naming `egov rebuild`),
Redis untouched; `egov rebuild` derives the figures at this layout, after which the
calculator starts and counts nothing twice. A restore refuses such a snapshot."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import pytest
import redis as redis_sync
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import start_service
from services.ops.exceptions import RestoreRefused
from services.ops.rebuild import rebuild
from services.ops.snapshots import restore
from shared.store import keys as redis_keys
from shared.store.indicator_store import IndicatorStore
from shared.store.layout import layout_problem, wait_for_layout
from tests.factories import received
from tests.faults.test_calculator_faults import produce, report
from tests.faults.test_rebuild_guards import figures, settings_of
from tests.integration.test_exactly_once import parse, reference_snapshot

pytestmark = pytest.mark.integration


class RdbRedisServer(RedisServer):
    """A redis-server started on the ``dump.rdb`` in its directory (Redis 7 with the AOF
    on ignores an RDB: the RDB is loaded, then the AOF switched on, as an upgraded
    server restarted on its old data would run)."""

    def argv(self) -> list[str]:
        args = super().argv()
        args[args.index("--appendonly") + 1] = "no"
        return args

    def start(self, timeout: float = 20.0) -> None:
        super().start(timeout)
        client = redis_sync.Redis.from_url(self.url)
        try:
            client.config_set("appendonly", "yes")
        finally:
            client.close()


def previous_release_rdb(
    directory: Path, counters: dict[str, dict[str, int]], offsets: dict[str, int], n: int
) -> Path:
    """An RDB as the previous release left Redis: the same figures, one key per entity
    (``ent:{agency}:d:<dossier>``, MessagePack state), the central applied offsets — and
    no layout version."""
    writer = RedisServer(directory / "writer", free_port())
    writer.start()
    client = redis_sync.Redis.from_url(writer.url)
    try:
        pipe = client.pipeline()
        for key, fields in counters.items():
            pipe.hset(key, mapping={k: str(v) for k, v in fields.items()})
        for i in range(n):
            pipe.set(f"ent:{{so-y-te}}:d:L{i}", b"\x93\x01\xcf\x00\x00\x01\x8e\x07\x8a\x10\x00\x01")
        pipe.hset("stat:{so-y-te}", "events", n)
        pipe.hset("applied:offsets", mapping={k: str(v) for k, v in offsets.items()})
        pipe.execute()
        client.save()
    finally:
        client.close()
        writer.stop()
    target = directory / "old"
    target.mkdir()
    return Path(shutil.copy(directory / "writer" / "dump.rdb", target / "dump.rdb"))


def last_offsets(bootstrap: str, topic: str) -> dict[str, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in range(6)])
    finally:
        consumer.close()
    return {f"{tp.topic}:{tp.partition}": end - 1 for tp, end in ends.items() if end}


def applied(url: str) -> int:
    async def run() -> int:
        redis = Redis.from_url(url)
        try:
            return sum((await IndicatorStore(redis).applied_events(["so-y-te"])).values())
        finally:
            await redis.aclose()

    return asyncio.run(run())


def test_calculator_refuses_an_older_layout_until_egov_rebuild(
    isolated, service_factory, tmp_path: Path
) -> None:
    settings = settings_of(isolated)
    raws = [
        received(
            agency="so-y-te", dossier=f"L{i}", at="2024-03-04T08:00:00+07:00", event_id=f"lay-{i}"
        )
        for i in range(40)
    ]
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    produce(settings.kafka_bootstrap, settings.topics.dossier, raws)
    rdb = previous_release_rdb(
        tmp_path, expected, last_offsets(settings.kafka_bootstrap, settings.topics.dossier), 40
    )
    server = RdbRedisServer(rdb.parent, free_port())
    server.start()
    settings = settings.model_copy(update={"redis_url": server.url})
    env = {**isolated["env"], "EGOV_REDIS_URL": server.url}
    try:
        assert figures(server.url) == expected, "the RDB of the previous layout is loaded"
        process = start_service(
            "calculator",
            free_port(),
            {
                "EGOV_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                "EGOV_FAUST_DATA_DIR": str(tmp_path / "faust"),
                **env,
            },
            tmp_path / "logs",
            wait=False,
        ).process
        deadline = time.monotonic() + 60
        while process.alive and time.monotonic() < deadline:
            time.sleep(0.2)
        now = figures(server.url)
        process.stop()
        assert now == expected, "the calculator applied the log onto the old layout's figures"
        assert process.returncode == 78
        output = (tmp_path / "logs" / "calculator.log").read_text(errors="replace")
        assert "older layout" in output and "`egov rebuild`" in output, output[-2000:]

        # a restore refuses a snapshot of that layout, copying nothing
        empty = RedisServer(tmp_path / "empty", free_port())
        empty.start()
        try:
            with pytest.raises(RestoreRefused, match="older layout"):
                asyncio.run(restore(settings.model_copy(update={"redis_url": empty.url}), rdb))
            assert redis_sync.Redis.from_url(empty.url).dbsize() == 0
        finally:
            empty.stop()

        # the upgrade: `egov rebuild` re-derives every figure at this layout
        started = time.monotonic()
        rebuilt = asyncio.run(rebuild(settings, show_progress=False))
        assert rebuilt.applied == 40
        assert figures(server.url) == expected

        async def layout() -> tuple[str | None, int | None]:
            redis = Redis.from_url(server.url)
            try:
                return await layout_problem(redis), await IndicatorStore(redis).layout()
            finally:
                await redis.aclose()

        assert asyncio.run(layout()) == (None, redis_keys.LAYOUT_VERSION)
        assert not redis_sync.Redis.from_url(server.url).exists("ent:{so-y-te}:d:L0")
        calculator = service_factory("calculator", env)  # starts now
        # it reads the whole topic from offset 0 (a new group): wait for its commits
        ends = last_offsets(settings.kafka_bootstrap, settings.topics.dossier)
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                committed = admin.list_group_offsets(settings.calculator_group).get(
                    settings.calculator_group, {}
                )
                done = {
                    f"{tp.topic}:{tp.partition}": meta.offset - 1 for tp, meta in committed.items()
                }
                if all(done.get(tp, -1) >= end for tp, end in ends.items()):
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"the calculator did not commit the topic's end: {done}")
        finally:
            admin.close()
        assert calculator.process.alive
        assert figures(server.url) == expected and applied(server.url) == 40
        report(
            "in-place upgrade onto an RDB of the previous layout (no layout version): "
            "calculator exit 78, then egov rebuild",
            40,
            applied(server.url),
            time.monotonic() - started,
        )
    finally:
        server.stop()


def test_this_layout_written_before_the_marker_is_adopted_another_is_refused(isolated) -> None:
    """Deployments of this layout from before the marker start without a rebuild; the
    previous layout's keys, or another version, are refused."""
    events = parse(
        [received(agency="so-y-te", dossier=f"A{i}", event_id=f"adopt-{i}") for i in range(40)]
    )

    async def run() -> None:
        redis = Redis.from_url(isolated["redis_url"])
        central = redis_keys.applied_offsets("")
        try:
            store = IndicatorStore(redis)
            await store.apply_many(events, {("t.adopt", 0): 39})
            assert await store.layout() == redis_keys.LAYOUT_VERSION
            await redis.hdel(central, redis_keys.LAYOUT_FIELD)  # as written before the marker
            assert await wait_for_layout(redis) is None
            assert await store.layout() == redis_keys.LAYOUT_VERSION  # adopted, marked
            await redis.hdel(central, redis_keys.LAYOUT_FIELD)
            await redis.set("ent:{so-y-te}:d:A0", b"\x93")  # one key of the previous layout
            assert "older layout" in str(await wait_for_layout(redis))
            await redis.hset(central, redis_keys.LAYOUT_FIELD, redis_keys.LAYOUT_VERSION + 1)
            problem = str(await wait_for_layout(redis))
            assert f"layout {redis_keys.LAYOUT_VERSION + 1} (written by a newer release)" in problem
        finally:
            await redis.aclose()

    asyncio.run(run())
