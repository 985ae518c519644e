"""Redis lost entirely (issue 10, items 2–3): ``egov restore`` = the latest snapshot + the
catalogs from the catalog topic + a replay of the log's tail gives every figure and every
catalog back; a rebuild validates each event with the agency catalog in force then."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import date
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from services.ops.exceptions import RestoreRefused
from services.ops.rebuild import rebuild
from services.ops.snapshots import restore
from shared.domain.catalog import AgencyCatalog, load_agencies, parse_agencies_csv
from shared.domain.procedures import Procedure
from shared.platform.config import Settings
from shared.store.catalog_log import CatalogLog
from shared.store.catalogs import AGENCIES_KEY, PROCEDURES_KEY, CatalogStore
from shared.store.indicator_store import IndicatorStore
from shared.store.snapshots import list_snapshots, take_snapshot
from tests.factories import received
from tests.faults.test_calculator_faults import counted, distinct_ids, produce, report, wait_equal
from tests.fixtures import AGENCIES_2024, REORGANISATION_EXAMPLE
from tests.integration.test_exactly_once import event_stream, parse, reference_snapshot

pytestmark = pytest.mark.integration

PROCEDURES = [
    Procedure(
        procedure_code=f"p{i}",
        agency_code="so-y-te",
        name=f"Thủ tục mẫu {i}",
        service_level="full_online" if i % 2 else "partial_online",
        eligible_full_online=True,
        fee_required=i % 3 == 0,
    )
    for i in range(1, 31)
]


async def catalogs_of(url: str) -> tuple[object, object]:
    redis = Redis.from_url(url)
    try:
        agencies, procedures = await redis.mget([AGENCIES_KEY, PROCEDURES_KEY])
        return orjson.loads(agencies or b"null"), orjson.loads(procedures or b"null")
    finally:
        await redis.aclose()


def test_redis_lost_entirely_then_restore_gives_every_figure_and_catalog_back(
    isolated, service_factory, tmp_path: Path
) -> None:
    redis_dir = tmp_path / "redis"
    server = RedisServer(redis_dir, free_port())
    server.start()
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        redis_url=server.url,
        topics=isolated["topics"],
        calculator_group=isolated["env"]["EGOV_CALCULATOR_GROUP"],
        snapshot_dir=str(tmp_path / "snapshots"),
    )
    try:
        # catalogs replaced through the log (as the API and the CLI do)
        async def load_catalogs() -> None:
            redis = Redis.from_url(server.url)
            log = CatalogLog(settings.kafka_bootstrap, settings.topics.catalog)
            try:
                store = CatalogStore(redis, log)
                await store.replace_agencies(load_agencies().agencies.values())
                await store.replace_procedures(PROCEDURES)
            finally:
                log.close()
                await redis.aclose()

        asyncio.run(load_catalogs())
        raws = event_stream(4000, seed=61)
        first, second = raws[: len(raws) // 2], raws[len(raws) // 2 :]
        expected_first = asyncio.run(reference_snapshot(isolated["redis_url"], parse(first)))
        expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
        produce(settings.kafka_bootstrap, settings.topics.dossier, first)
        env = {**isolated["env"], "EGOV_REDIS_URL": server.url}
        calculator = service_factory("calculator", env)
        assert wait_equal(server.url, expected_first, 180, distinct_ids(first))[1] == expected_first
        snapshot = take_snapshot(server.url, Path(settings.snapshot_dir or ""))
        assert list_snapshots(snapshot.parent) == [snapshot]
        produce(settings.kafka_bootstrap, settings.topics.dossier, second)  # the tail
        ids_before, before = wait_equal(server.url, expected, 180, distinct_ids(raws))
        assert before == expected
        catalogs_before = asyncio.run(catalogs_of(server.url))
        calculator.process.stop()

        # Redis lost entirely: process and data gone
        server.kill()
        shutil.rmtree(redis_dir)
        server.start()
        assert counted(server.url) == (0, {})
        started = time.monotonic()
        result = asyncio.run(restore(settings))
        took = time.monotonic() - started
        assert result.snapshot == str(snapshot) and result.keys > 0
        assert result.tail_records >= len(second)  # only the tail is replayed
        assert result.catalogs_restored == 2
        ids, got = counted(server.url)
        assert got == before
        assert asyncio.run(catalogs_of(server.url)) == catalogs_before
        events_in = distinct_ids(raws)
        assert events_in - ids == 0 and ids == ids_before
        report("Redis lost entirely → egov restore (snapshot + tail)", events_in, ids, took)

        # a second restore onto a Redis with data is refused unless forced
        with pytest.raises(RestoreRefused, match="not empty"):
            asyncio.run(restore(settings))
        # the calculator continues from the restored offsets: nothing re-counted, nothing lost
        calculator.process.start()
        calculator.wait_healthy()
        more = event_stream(200, seed=62)
        for raw in more:
            raw["event_id"] = f"after-{raw['event_id']}"
            raw["dossier_id"] = f"after-{raw['dossier_id']}"
        produce(settings.kafka_bootstrap, settings.topics.dossier, more)
        final = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws + more)))
        ids, got = wait_equal(server.url, final, 180, distinct_ids(raws + more))
        assert got == final and ids == distinct_ids(raws + more)
    finally:
        server.stop()


def test_rebuild_validates_each_event_with_the_catalog_in_force_then(isolated) -> None:
    """so-tttt's event of 5 March 2025 was accepted under the catalog of the time; after
    the reorganisation ended so-tttt on 28 Feb, its next one was not. A rebuild (with
    today's catalog, both would be rejected) gives exactly what happened."""
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        redis_url=isolated["redis_url"],
        topics=isolated["topics"],
        calculator_group=isolated["env"]["EGOV_CALCULATOR_GROUP"],
    )
    reorganised = parse_agencies_csv(REORGANISATION_EXAMPLE.read_text(encoding="utf-8"))
    undated = parse_agencies_csv(AGENCIES_2024.read_text(encoding="utf-8"))

    async def publish(catalog: AgencyCatalog) -> None:
        redis = Redis.from_url(settings.redis_url)
        log = CatalogLog(settings.kafka_bootstrap, settings.topics.catalog)
        try:
            await CatalogStore(redis, log).replace_agencies(
                catalog.agencies.values(), allow_drop=True
            )
        finally:
            log.close()
            await redis.aclose()

    def event(dossier: str, day: int) -> dict[str, object]:
        return received(agency="so-tttt", dossier=dossier, at=f"2025-03-{day:02d}T09:00:00+07:00")

    asyncio.run(publish(undated))  # the 2024 catalog, no dates: so-tttt valid in March
    produce(settings.kafka_bootstrap, settings.topics.dossier, [event("before", 5)])
    time.sleep(0.05)
    asyncio.run(publish(reorganised))
    time.sleep(0.05)
    produce(settings.kafka_bootstrap, settings.topics.dossier, [event("after", 6)])
    result = asyncio.run(rebuild(settings, show_progress=False))
    assert (result.records, result.applied, result.invalid) == (2, 1, 1)

    async def march() -> int:
        redis = Redis.from_url(settings.redis_url)
        try:
            sums = await IndicatorStore(redis).sum_marks(
                ["so-tttt"], date(2025, 3, 1), date(2025, 3, 31), ["received"]
            )
            return sums["so-tttt"]["received"]
        finally:
            await redis.aclose()

    assert asyncio.run(march()) == 1
