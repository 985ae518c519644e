"""The local-stack tooling itself, for real: the KRaft broker and its topics, Redis AOF
persistence across a restart, Prometheus scraping, process groups and pid files, and
`egov up` / `status` / `down` on free ports in a temporary run directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient

from devstack.kafka import KafkaBroker
from devstack.paths import REPO
from devstack.ports import free_port, port_in_use, port_open
from devstack.processes import (
    ManagedProcess,
    PidRecord,
    owns,
    proc_running,
    proc_start_time,
    read_pid_file,
    stop_pid_files,
    wait_until,
)
from devstack.prometheus import PrometheusServer
from devstack.redis import RedisServer
from devstack.services import SERVICES, service_env
from devstack.topics import create_topics, partition_counts
from shared.platform.config import Settings
from shared.platform.topic_check import topic_configs

# --- Kafka -------------------------------------------------------------------------------


def test_topics_have_their_partition_counts(kafka_broker: KafkaBroker) -> None:
    settings = Settings()
    t = settings.topics
    counts = partition_counts(
        kafka_broker.bootstrap,
        [t.dossier, t.document, t.deadletter, t.indicator_updates, t.alerts, t.catalog],
    )
    assert counts == {
        t.dossier: 6,
        t.document: 6,
        t.deadletter: 3,
        t.indicator_updates: 3,
        t.alerts: 1,
        t.catalog: 1,
    }
    assert create_topics(kafka_broker.bootstrap, settings) == counts  # idempotent


def produce_one(bootstrap: str, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=5)
    try:
        meta = producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close()
    return meta.partition, meta.offset


def consume_at(bootstrap: str, topic: str, partition: int, offset: int) -> tuple[bytes, bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=20_000
    )
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        for record in consumer:
            return record.key, record.value
    finally:
        consumer.close()
    raise AssertionError(f"nothing at {topic}[{partition}]@{offset}")


def test_message_produced_with_acks_all_is_consumed_back(kafka_broker: KafkaBroker) -> None:
    topic = Settings().topics.dossier
    value = json.dumps({"probe": uuid.uuid4().hex}).encode()
    partition, offset = produce_one(kafka_broker.bootstrap, topic, b"so-tai-chinh", value)
    assert 0 <= partition < 6
    assert consume_at(kafka_broker.bootstrap, topic, partition, offset) == (b"so-tai-chinh", value)


def test_broker_stopped_and_restarted_on_its_data_keeps_messages(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "kafka", free_port(), free_port())
    broker.start()
    try:
        assert broker.formatted_now
        create_topics(broker.bootstrap, Settings())
        topic = Settings().topics.document
        partition, offset = produce_one(broker.bootstrap, topic, b"k", b"before restart")
        broker.stop()
        assert not broker.alive and not port_in_use(broker.port)
        broker.start()
        assert not broker.formatted_now  # storage formatted once only
        assert consume_at(broker.bootstrap, topic, partition, offset) == (b"k", b"before restart")
        assert broker.log_path.exists()
        assert "No configuration found" not in broker.stdout_path.read_text()
    finally:
        broker.stop()


# --- Redis -------------------------------------------------------------------------------


def test_redis_restart_keeps_keys_through_the_aof(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", free_port())
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("egov:probe", "42")
        client.hset("egov:{so-tai-chinh}:h", mapping={"num": 7, "den": 9})
        client.close()
        server.stop()
        assert not server.alive
        assert (tmp_path / "redis" / "appendonlydir").is_dir()
        server.start()
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.get("egov:probe") == "42"
        assert client.hgetall("egov:{so-tai-chinh}:h") == {"num": "7", "den": "9"}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        client.close()
    finally:
        server.stop()


# --- Prometheus --------------------------------------------------------------------------


@pytest.fixture()
def tiny_metrics_server() -> Iterator[str]:
    """An HTTP server whose /metrics exposes one gauge; yields its host:port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self.send_error(404)
                return
            body = b'# TYPE devstack_probe gauge\ndevstack_probe{case="scrape"} 42\n'
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_prometheus_scrapes_a_target_and_answers_queries(
    prometheus_factory: Callable[..., PrometheusServer], tiny_metrics_server: str
) -> None:
    prom = prometheus_factory({"probe": [tiny_metrics_server]}, rule_files=[])
    assert httpx.get(f"{prom.url}/-/ready", timeout=5).status_code == 200
    result: list[dict[str, object]] = []

    def scraped() -> bool:
        nonlocal result
        resp = httpx.get(f"{prom.url}/api/v1/query", params={"query": "devstack_probe"}, timeout=5)
        result = resp.json()["data"]["result"]
        return bool(result)

    wait_until(scraped, 30, "devstack_probe in Prometheus", prom.process, interval=0.5)
    (series,) = result
    assert series["metric"] == {
        "__name__": "devstack_probe",
        "case": "scrape",
        "instance": tiny_metrics_server,
        "job": "probe",
    }
    assert series["value"][1] == "42"  # type: ignore[index]


# --- processes and pid files -------------------------------------------------------------


def test_stop_kills_the_whole_group_even_when_sigterm_is_ignored(tmp_path: Path) -> None:
    children = tmp_path / "children"
    script = (
        f"sleep 300 & echo $! >> {children}; "
        f"(trap '' TERM; exec sleep 301) & echo $! >> {children}; "
        "trap '' TERM; wait"
    )
    process = ManagedProcess("group", ["bash", "-c", script], tmp_path / "group.log")
    process.start()
    wait_until(lambda: children.exists() and len(children.read_text().split()) == 2, 10, "pids")
    pids = [int(p) for p in children.read_text().split()]
    assert all(os.getpgid(pid) == process.pid for pid in pids)
    started = time.monotonic()
    process.stop(timeout=1.0)  # the leader ignores SIGTERM: SIGKILL after 1 s
    assert time.monotonic() - started < 10
    assert not process.alive
    wait_until(lambda: not any(proc_running(pid) for pid in pids), 5, "children gone")


def test_kill_then_start_again(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", ["sleep", "300"], tmp_path / "s.log")
    process.start()
    first = process.pid
    process.kill()
    assert not process.alive and process.returncode == -9
    process.start()
    try:
        assert process.alive and process.pid != first
    finally:
        process.stop()


def test_pid_files_stop_only_the_recorded_process(tmp_path: Path) -> None:
    process = ManagedProcess(
        "sleeper", ["sleep", "300"], tmp_path / "s.log", pid_file=tmp_path / "pids" / "s.pid"
    )
    process.start()
    assert process.pid is not None
    record = read_pid_file(tmp_path / "pids" / "s.pid")
    assert record is not None and record.pid == process.pid and owns(record)

    # The same pid, but not the same process: another start time or command line.
    stranger = subprocess.Popen(["sleep", "302"], start_new_session=True)
    try:
        start_time = proc_start_time(stranger.pid)
        assert start_time is not None
        forged = [
            PidRecord(name="a", pid=stranger.pid, start_time=start_time + 1, argv=["sleep", "302"]),
            PidRecord(name="b", pid=stranger.pid, start_time=start_time, argv=["python3", "x"]),
        ]
        for i, rec in enumerate(forged):
            (tmp_path / "pids" / f"forged{i}.pid").write_text(rec.model_dump_json())
        assert stop_pid_files(sorted((tmp_path / "pids").glob("forged*.pid")), 2) == []
        assert stranger.poll() is None
        assert not list((tmp_path / "pids").glob("forged*.pid"))  # stale files removed
    finally:
        stranger.kill()
        stranger.wait()

    assert stop_pid_files([tmp_path / "pids" / "s.pid"], 5) == ["sleeper"]
    wait_until(lambda: not process.alive, 5, "sleeper stopped")
    assert stop_pid_files([tmp_path / "pids" / "s.pid"], 5) == []  # idempotent


# --- settings as environment -------------------------------------------------------------


def test_service_env_round_trips_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    env = service_env(
        {
            "kafka_bootstrap": "127.0.0.1:19092",
            "ingest_port": 18081,
            "ingest_tokens": {"so-tai-chinh": "tok-1", "demo-source": "tok-2"},
            "smtp_starttls": True,
            "topics": {"dossier": "t.dossier.x"},
            "EGOV_READ_TOKEN": "r",
            "smtp_username": None,
        }
    )
    assert env["EGOV_INGEST_PORT"] == "18081"
    assert "EGOV_SMTP_USERNAME" not in env
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.ingest_port == 18081
    assert {k: v.token.get_secret_value() for k, v in s.ingest_tokens.items()} == {
        "so-tai-chinh": "tok-1",
        "demo-source": "tok-2",
    }
    assert s.smtp_starttls is True
    assert s.topics.dossier == "t.dossier.x"
    assert s.read_token is not None and s.read_token.get_secret_value() == "r"
    with pytest.raises(ValueError, match="not a setting"):
        service_env({"kafka_bootstrapp": "x"})


# --- egov up / status / down -------------------------------------------------------------


def egov(
    args: list[str], env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_up_status_down_on_free_ports(tmp_path: Path) -> None:
    port_names = ("kafka", "ctrl", "redis", "prom", "i", "a", "c", "al", "am")
    ports = {name: free_port() for name in port_names}
    run_dir = tmp_path / "run"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EGOV_")},
        "EGOV_RUN_DIR": str(run_dir),
        "EGOV_KAFKA_BOOTSTRAP": f"127.0.0.1:{ports['kafka']}",
        "EGOV_KAFKA_CONTROLLER_PORT": str(ports["ctrl"]),
        "EGOV_REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "EGOV_PROMETHEUS_PORT": str(ports["prom"]),
        "EGOV_INGEST_PORT": str(ports["i"]),
        "EGOV_API_PORT": str(ports["a"]),
        "EGOV_CALCULATOR_PORT": str(ports["c"]),
        "EGOV_ALERTS_PORT": str(ports["al"]),
        # set too: its default is a free port picked at start, which may be one of those
        # above (picked free, not yet bound)
        "EGOV_ALERTMANAGER_PORT": str(ports["am"]),
    }

    # A port taken by something else: a clear message, and nothing started.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", ports["redis"]))
        squatter.listen()
        refused = egov(["up", "--no-demo"], env)
    assert refused.returncode == 1
    assert "ports already in use" in refused.stderr and str(ports["redis"]) in refused.stderr
    assert "EGOV_REDIS_URL" in refused.stderr
    assert not list(run_dir.glob("pids/*.pid"))

    pids: list[int] = []
    started = egov(["up", "--no-demo"], env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "kafka (KRaft)" in started.stdout and "storage formatted" in started.stdout
        # a fresh Redis is seeded with the packaged catalog in time (devstack/catalog.py)
        assert "every unit of agencies-an-giang.csv among them" in started.stdout
        stack_env = dict(
            line.split("=", 1)
            for line in (run_dir / "stack.env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        for key in (
            "INGEST_URL",
            "API_URL",
            "PROMETHEUS_URL",
            "KAFKA_BOOTSTRAP",
            "REDIS_URL",
            "INGEST_TOKEN",
            "READ_TOKEN",
            "CALCULATOR_METRICS_URL",
            "ALERTS_METRICS_URL",
            "ALERTMANAGER_URL",
        ):
            assert stack_env[key], key
        assert stack_env["KAFKA_BOOTSTRAP"] == f"127.0.0.1:{ports['kafka']}"
        assert stack_env["API_URL"] == f"http://127.0.0.1:{ports['a']}"
        for url in (stack_env["CALCULATOR_METRICS_URL"], stack_env["ALERTS_METRICS_URL"]):
            assert httpx.get(url, timeout=10).status_code == 200
        assert httpx.get(f"{stack_env['API_URL']}/healthz", timeout=10).status_code == 200
        # what people see: the public page, the board (its login), the mail sink
        assert "Public results page" in started.stdout.split("API docs")[0]  # printed first
        public = httpx.get(stack_env["PUBLIC_URL"], timeout=30)
        assert public.status_code == 200 and "Kết quả chính quyền điện tử" in public.text
        board = httpx.get(stack_env["BOARD_URL"], timeout=10)
        assert board.status_code == 303 and board.headers["location"] == "/board/login"
        assert port_open(int(stack_env["MAIL_SMTP"].rsplit(":", 1)[1]))
        assert stack_env["MAIL_DIR"] == str(run_dir / "mail")
        am = httpx.get(f"{stack_env['ALERTMANAGER_URL']}/api/v2/status", timeout=10).json()
        assert "egov-alerts" in am["config"]["original"]  # routes to the alerts service

        names = {p.stem for p in (run_dir / "pids").glob("*.pid")}
        assert names >= {"kafka", "redis", "prometheus", "alertmanager", "mail"} | set(SERVICES)
        records = [read_pid_file(p) for p in (run_dir / "pids").glob("*.pid")]
        pids += [r.pid for r in records if r is not None]
        assert len(pids) == len(names) and all(proc_running(pid) for pid in pids)

        status = egov(["status"], env)
        assert status.returncode == 0 and status.stdout.count(" up") >= len(names), status.stdout
        again = egov(["up", "--no-demo"], env)
        assert again.returncode == 1 and "already up" in again.stderr
    finally:
        stopped = egov(["down"], env)
    assert stopped.returncode == 0, stopped.stderr
    for name in ("kafka", "redis", "prometheus", "alertmanager", *SERVICES):
        assert name in stopped.stdout
    assert not any(proc_running(pid) for pid in pids)
    assert not (run_dir / "stack.env").exists()
    assert not any(port_in_use(port) for port in ports.values())
    assert "nothing was running" in egov(["down"], env).stdout  # idempotent
    assert egov(["status"], env).returncode == 1


def _free_run(count: int) -> int:
    """A port p with p … p + count - 1 all free (a Kafka cluster's consecutive ports)."""
    for _ in range(200):
        base = free_port()
        if base + count < 65535 and not any(port_in_use(base + i) for i in range(count)):
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


def _free_port_outside(run: range) -> int:
    """A free port not in ``run`` (the Kafka nodes' ports, free until their brokers start:
    ``free_port`` could hand one of them to a service)."""
    while (port := free_port()) in run:
        pass
    return port


def test_up_with_a_three_broker_kafka_cluster(tmp_path: Path) -> None:
    base = _free_run(6)
    kafka = range(base, base + 6)
    run_dir = tmp_path / "run"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EGOV_")},
        "EGOV_RUN_DIR": str(run_dir),
        "EGOV_KAFKA_BOOTSTRAP": f"127.0.0.1:{base}",
        "EGOV_REDIS_URL": f"redis://127.0.0.1:{_free_port_outside(kafka)}/0",
        "EGOV_PROMETHEUS_PORT": str(_free_port_outside(kafka)),
        **{f"EGOV_{name.upper()}_PORT": str(_free_port_outside(kafka)) for name in SERVICES},
    }
    started = egov(["up", "--no-demo", "--kafka-brokers", "3"], env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "kafka (3 nodes)" in started.stdout and "replication 3" in started.stdout
        stack_env = dict(
            line.split("=", 1)
            for line in (run_dir / "stack.env").read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        bootstrap = stack_env["KAFKA_BOOTSTRAP"]
        assert bootstrap == ",".join(f"127.0.0.1:{base + 2 * i}" for i in range(3))
        assert {p.stem for p in (run_dir / "pids").glob("kafka*.pid")} == {
            "kafka-1",
            "kafka-2",
            "kafka-3",
        }
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            assert len(admin.describe_cluster()["brokers"]) == 3
            t = Settings().topics
            calculator_leader = "egov-calculator-__assignor-__leader"
            wait_until(
                lambda: calculator_leader in admin.list_topics(), 60, "the calculator's leader"
            )
            for topic in admin.describe_topics([t.dossier, t.catalog, calculator_leader]):
                assert all(len(p["replica_nodes"]) == 3 for p in topic["partitions"]), topic
            configs = topic_configs(admin, [t.dossier])[t.dossier]
            assert configs["min.insync.replicas"] == "2" and configs["retention.ms"] == "-1"
        finally:
            admin.close()
        event = {
            "event_id": f"cluster-{uuid.uuid4().hex[:8]}",
            "event_type": "received",
            "occurred_at": "2024-03-01T10:00:00+07:00",
            "agency_code": "so-tttt",
            "dossier_id": "HS-cluster",
            "procedure_code": "p-1",
            "service_level": "full_online",
            "channel": "online",
            "submitted_by": "citizen",
            "due_at": "2030-01-01T00:00:00+07:00",
        }
        accepted = httpx.post(
            f"{stack_env['INGEST_URL']}/v1/events",
            json=[event],
            headers={"Authorization": f"Bearer {stack_env['INGEST_TOKEN']}"},
            timeout=30,
        )
        assert accepted.status_code == 202, accepted.text
    finally:
        stopped = egov(["down"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert all(f"kafka-{i}" in stopped.stdout for i in (1, 2, 3))
    assert not any(port_in_use(base + i) for i in range(6))
