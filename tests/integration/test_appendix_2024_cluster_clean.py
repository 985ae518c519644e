"""Acceptance on the distributed profile (issue 12), without faults: the simulated year
2024 through three Kafka brokers, three calculators and a Redis Cluster, every cell and
figure asserted by the single-server tests (imported below, run against this module's
``annual``). The faulted run is ``test_appendix_2024_cluster``."""

from __future__ import annotations

from typing import Any

import pytest

from devstack.kafka import KafkaCluster
from devstack.redis import RedisClusterServers
from devstack.services import RunningService
from tests.integration.test_appendix_2024 import (  # noqa: F401 (collected here)
    test_csv_reads_back_as_the_published_table,
    test_every_cell_of_the_published_table,
    test_lifecycle_figures_follow_the_rules,
    test_the_stream_has_every_lifecycle_event,
    test_totals_verdicts_and_data_quality,
    test_xlsx_has_the_published_layout_and_figures,
)
from tests.integration.test_appendix_2024_cluster import replay_year, services  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def annual(
    kafka_cluster: KafkaCluster,
    redis_cluster: RedisClusterServers,
    services: tuple[RunningService, list[RunningService]],  # noqa: F811
) -> dict[str, Any]:
    return replay_year(kafka_cluster, redis_cluster, services, faults=False)
