"""Session fixtures: a real Kafka broker, Redis and Prometheus on free loopback ports,
and the services as processes; a three-broker Kafka cluster for the modules that ask for
it. Started lazily: unit tests start nothing."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka.admin import KafkaAdminClient

from devstack.kafka import KafkaBroker, KafkaCluster
from devstack.ports import free_port
from devstack.prometheus import PrometheusServer
from devstack.redis import RedisClusterServers, RedisServer
from devstack.services import RunningService, service_env, start_service
from devstack.topics import create_topics
from shared.platform.config import Settings, Topics, forget_loaded
from shared.platform.topic_check import DURABLE_CONFIGS


@pytest.fixture(autouse=True)
def settings_from_this_tests_environment() -> Iterator[None]:
    """``load`` keeps each section once per process; a test that sets ``EGOV_*`` must not
    get the sections an earlier test loaded (nor leave its own to the next)."""
    forget_loaded()
    yield
    forget_loaded()


@pytest.fixture(scope="session")
def stack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def kafka_broker(stack_dir: Path) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(stack_dir / "kafka", free_port(), free_port())
    broker.start()
    create_topics(broker.bootstrap, Settings())
    yield broker
    broker.stop()


@pytest.fixture(scope="module")
def kafka_cluster(stack_dir: Path) -> Iterator[KafkaCluster]:
    """Three KRaft nodes on free loopback ports (replication 3, min.insync.replicas 2, the
    stack's topics), for one module; stopped at its teardown, killed nodes included."""
    cluster = KafkaCluster(
        stack_dir / f"kafka-cluster-{uuid.uuid4().hex[:6]}",
        [(free_port(), free_port()) for _ in range(3)],
    )
    cluster.start()
    try:
        create_topics(cluster.bootstrap, Settings(), replication=cluster.replication)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def redis_server(stack_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(stack_dir / "redis", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    """A Redis Cluster for one module: 3 primaries + 3 replicas on free loopback ports
    (AOF, node timeout 1.5 s), data in the module's tmp dir; ``.url`` is its
    ``redis+cluster://`` URL. Stopped at the module's teardown, killed nodes included."""
    cluster = RedisClusterServers(
        tmp_path_factory.mktemp("redis-cluster"), [(free_port(), free_port()) for _ in range(6)]
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def redis_db(server: RedisServer, db: int) -> str:
    """URL of one database of the session Redis, so modules don't see each other's keys."""
    return f"redis://127.0.0.1:{server.port}/{db}"


PrometheusFactory = Callable[..., PrometheusServer]


@pytest.fixture()
def prometheus_factory(stack_dir: Path) -> Iterator[PrometheusFactory]:
    """``make(scrape_targets, rule_files=None)``: a started Prometheus on a free port scraping
    ``{job: ["host:port", ...]}`` every 2 s (project rules unless ``rule_files`` is given);
    stopped at teardown."""
    started: list[PrometheusServer] = []

    def make(
        scrape_targets: Mapping[str, Sequence[str]], rule_files: Sequence[str] | None = None
    ) -> PrometheusServer:
        data_dir = stack_dir / f"prometheus-{uuid.uuid4().hex[:6]}"
        server = PrometheusServer(data_dir, free_port(), scrape_targets, rule_files)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


ServiceFactory = Callable[..., RunningService]


@pytest.fixture(scope="module")
def service_factory(
    kafka_broker: KafkaBroker, redis_server: RedisServer, stack_dir: Path
) -> Iterator[ServiceFactory]:
    """``make(name, env=None)``: ``services.<name>`` on a free port against the session broker
    and Redis, healthy (/healthz 200) when returned; stopped at the module's teardown.

    ``env`` overrides: ``EGOV_*`` names or Settings field names (see ``service_env``). The
    returned :class:`RunningService` has ``.url``, ``.port`` and ``.process`` (``kill()``,
    ``start()`` again, ``stop()``)."""
    started: list[RunningService] = []

    def make(name: str, env: Mapping[str, object] | None = None) -> RunningService:
        base = {
            "EGOV_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
            "EGOV_REDIS_URL": redis_server.url,
            "EGOV_FAUST_DATA_DIR": str(stack_dir / "faust"),
            "EGOV_CALCULATOR_GROUP": f"calc-{uuid.uuid4().hex[:8]}",
            "EGOV_ALERTS_GROUP": f"alerts-{uuid.uuid4().hex[:8]}",
        }
        service = start_service(
            name,
            free_port(),
            {**base, **service_env(env or {})},
            stack_dir / "logs" / uuid.uuid4().hex[:6],
        )
        started.append(service)
        return service

    yield make
    for service in reversed(started):
        service.process.stop()


# Databases 1–12 of the session Redis go to isolated tests; 13 and 14 to the counting tests.
_ISOLATED_DBS = itertools.cycle(range(1, 13))


@pytest.fixture()
def isolated(kafka_broker: KafkaBroker, redis_server: RedisServer) -> dict[str, Any]:
    return _isolated(kafka_broker, redis_server)


@pytest.fixture(scope="module")
def isolated_module(kafka_broker: KafkaBroker, redis_server: RedisServer) -> dict[str, Any]:
    return _isolated(kafka_broker, redis_server)


def _isolated(kafka_broker: KafkaBroker, redis_server: RedisServer) -> dict[str, Any]:
    """Own topics and Redis database for one test, so it shares nothing with the others."""
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(
        dossier=f"t.dossier.{suffix}",
        document=f"t.document.{suffix}",
        deadletter=f"t.dlq.{suffix}",
        indicator_updates=f"t.updates.{suffix}",
        alerts=f"t.alerts.{suffix}",
        catalog=f"t.catalog.{suffix}",
    )
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    durable = {"num_partitions": 6, "replication_factor": 1, "configs": dict(DURABLE_CONFIGS)}
    admin.create_topics(
        {
            topics.dossier: durable,
            topics.document: durable,
            topics.deadletter: {**durable, "num_partitions": 1},
            topics.indicator_updates: {"num_partitions": 1, "replication_factor": 1},
            topics.alerts: {"num_partitions": 1, "replication_factor": 1},
            topics.catalog: {**durable, "num_partitions": 1},
        }
    )
    admin.close()
    db = next(_ISOLATED_DBS)
    redis.Redis.from_url(redis_db(redis_server, db)).flushdb()
    base = redis_server.url.rsplit("/", 1)[0]
    env = {
        "EGOV_TOPIC_DOSSIER": topics.dossier,
        "EGOV_TOPIC_DOCUMENT": topics.document,
        "EGOV_TOPIC_DEADLETTER": topics.deadletter,
        "EGOV_TOPIC_INDICATOR_UPDATES": topics.indicator_updates,
        "EGOV_TOPIC_ALERTS": topics.alerts,
        "EGOV_TOPIC_CATALOG": topics.catalog,
        "EGOV_REDIS_URL": f"{base}/{db}",
        "EGOV_CALCULATOR_GROUP": f"calc-{suffix}",
    }
    return {
        "topics": topics,
        "env": env,
        "redis_url": f"{base}/{db}",
        "bootstrap": kafka_broker.bootstrap,
    }
