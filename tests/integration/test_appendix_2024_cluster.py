"""Acceptance on the distributed profile (issue 12), with faults: the simulated year 2024
of ``test_appendix_2024`` through three Kafka brokers (replication 3, min ISR 2), three
calculators and a Redis Cluster (3 primaries + 3 replicas); mid-replay a Redis primary is
SIGKILLed (its replica takes over) and then a Kafka broker. Every cell of the published
table, the lifecycle figures and the exports are asserted by the same tests as on one
server (imported below, run against this module's ``annual``). The same run without
faults is ``test_appendix_2024_cluster_clean``."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.kafka import KafkaCluster
from devstack.ports import free_port
from devstack.redis import RedisClusterServers
from devstack.services import RunningService, start_service
from shared.config import Settings
from simulator.replay import produce_in_batches
from tests.faults.test_kafka_brokers import busiest_leader
from tests.integration.test_appendix_2024 import (  # noqa: F401 (collected here)
    ADMIN,
    LIFECYCLE_FRACTION,
    READ,
    STREAM,
    _cpu_seconds,
    _handled,
    test_csv_reads_back_as_the_published_table,
    test_every_cell_of_the_published_table,
    test_lifecycle_figures_follow_the_rules,
    test_the_stream_has_every_lifecycle_event,
    test_totals_verdicts_and_data_quality,
    test_xlsx_has_the_published_layout_and_figures,
)

pytestmark = pytest.mark.integration

CALCULATORS = 3
REDIS_KILL_AT = 0.3  # share of the stream handled when a Redis primary is SIGKILLed
BROKER_KILL_AT = 0.6  # … and when a Kafka broker is


@pytest.fixture(scope="module")
def services(
    kafka_cluster: KafkaCluster,
    redis_cluster: RedisClusterServers,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningService, list[RunningService]]]:
    logs = tmp_path_factory.mktemp("appendix-cluster-logs")
    env = {
        "EGOV_KAFKA_BOOTSTRAP": kafka_cluster.bootstrap,
        "EGOV_TOPIC_REPLICATION": str(kafka_cluster.replication),
        "EGOV_REDIS_URL": redis_cluster.url,
        "EGOV_FAUST_DATA_DIR": str(logs / "faust"),
        "EGOV_CALCULATOR_GROUP": f"calc-{uuid.uuid4().hex[:8]}",
        "EGOV_ALERTS_GROUP": f"alerts-{uuid.uuid4().hex[:8]}",
    }
    started: list[RunningService] = []
    try:
        api = start_service("api", free_port(), env, logs, timeout=120)
        started.append(api)
        for _ in range(CALCULATORS):
            started.append(start_service("calculator", free_port(), env, logs, timeout=120))
        yield api, started[1:]
    finally:
        for service in reversed(started):
            service.process.stop()


@pytest.fixture(scope="module")
def annual(
    kafka_cluster: KafkaCluster,
    redis_cluster: RedisClusterServers,
    services: tuple[RunningService, list[RunningService]],
) -> dict[str, Any]:
    return replay_year(kafka_cluster, redis_cluster, services, faults=True)


def replay_year(
    kafka_cluster: KafkaCluster,
    redis_cluster: RedisClusterServers,
    services: tuple[RunningService, list[RunningService]],
    *,
    faults: bool,
) -> dict[str, Any]:
    """Replay the year through the profile (``faults``: kill a Redis primary at 30 % and a
    broker at 60 % of the stream handled) and return the annual report once complete."""
    api, calculators = services
    resp = httpx.put(
        f"{api.url}/v1/catalog/procedures",
        content=STREAM.catalog().to_csv_text(),
        headers={**ADMIN, "content-type": "text/csv"},
        timeout=60,
    )
    assert resp.status_code == 200, resp.text

    def handled() -> float:
        return sum(_handled(c.metrics_url) for c in calculators)

    started = time.monotonic()
    produced_box: dict[str, Any] = {}

    async def produce() -> None:
        produced_box["kinds"] = await produce_in_batches(
            STREAM.events(), kafka_cluster.bootstrap, Settings()
        )
        produced_box["seconds"] = time.monotonic() - started

    async def kill_mid_replay() -> dict[str, float]:
        """SIGKILL a Redis primary, then a Kafka broker, once that much is handled (the
        stream's size is known from the single-server run: 966,329 events)."""
        total = 966_329
        out: dict[str, float] = {}
        while handled() < REDIS_KILL_AT * total:
            await asyncio.sleep(1)
        victim = redis_cluster.primary_of("{ubnd-long-xuyen}")
        victim.kill()
        out["redis_killed_at_s"] = time.monotonic() - started
        out["redis_failover_s"] = await asyncio.to_thread(redis_cluster.wait_failover, victim)
        while handled() < BROKER_KILL_AT * total:
            await asyncio.sleep(1)
        kafka_cluster.node(busiest_leader(kafka_cluster.bootstrap)).kill()
        out["broker_killed_at_s"] = time.monotonic() - started
        return out

    statuses: list[int] = []

    async def poll_api() -> None:
        """Readers keep asking for a figure of the agency whose primary is killed."""
        async with httpx.AsyncClient(timeout=60) as client:
            while "seconds" not in produced_box or handled() < BROKER_KILL_AT * 966_329:
                resp = await client.get(
                    f"{api.url}/v1/indicators/on_time_rate",
                    params={"scope": "ubnd-long-xuyen", "period": "2024"},
                    headers=READ,
                )
                statuses.append(resp.status_code)
                await asyncio.sleep(0.5)

    async def run() -> dict[str, float]:
        if not faults:
            await produce()
            return {}
        _, kills, _ = await asyncio.gather(produce(), kill_mid_replay(), poll_api())
        return kills

    kills = asyncio.run(run())
    kinds = produced_box["kinds"]
    produced = sum(kinds.values())
    deadline = time.monotonic() + 1500
    while handled() < produced and time.monotonic() < deadline:
        time.sleep(2)
    applied_s = time.monotonic() - started
    # handled counts every record once at least; duplicates of the re-applied gap too
    table: dict[str, Any] = {}
    for _ in range(60):  # until the figures stop moving (gap re-application finishes)
        table = httpx.get(
            f"{api.url}/v1/reports/annual",
            params={"year": 2024, "target_set": "cv-112-eval-2024"},
            headers=READ,
            timeout=60,
        ).json()
        if table.get("total", {}).get("hstn_total") == 663_690:
            break
        time.sleep(5)
    cpu = sum(_cpu_seconds(c.process.pid) for c in calculators)
    killed = (
        f"; Redis primary killed at {kills['redis_killed_at_s']:.0f}s (failover "
        f"{kills['redis_failover_s']:.1f}s), broker at {kills['broker_killed_at_s']:.0f}s"
        if faults
        else "; no faults"
    )
    print(
        f"appendix 2024 on the cluster profile (lifecycle fraction {LIFECYCLE_FRACTION}): "
        f"{produced:,} events produced in {produced_box['seconds']:.0f}s, all handled after "
        f"{applied_s:.0f}s by {CALCULATORS} calculators (CPU {cpu:.0f}s){killed}",
        file=sys.stderr,
    )
    table["_api_url"] = api.url
    table["_statuses"] = statuses
    table["_kinds"] = kinds
    return table


def test_readers_get_200_or_503_never_500_through_the_faults(annual: dict[str, Any]) -> None:
    statuses = annual["_statuses"]
    assert len(statuses) > 20 and 200 in statuses
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
