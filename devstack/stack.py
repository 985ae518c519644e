"""`make up` / `make down` / `make run`: the whole stack as local processes.

Everything lives in the run directory (``.run/``, env ``EGOV_RUN_DIR``): ``pids/*.pid``
(one per process ``up`` started), ``logs/``, ``data/`` (Kafka log dirs, Redis AOF,
Prometheus TSDB — kept across ``down``/``up``) and ``stack.env``.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.alertmanager import AlertmanagerServer
from devstack.catalog import ensure_packaged_catalog
from devstack.kafka import KafkaBroker, KafkaCluster, ensure_kafka_jars, kafka_jars_ready
from devstack.mailsink import start_local_mail
from devstack.paths import REPO, RUN
from devstack.ports import free_port, port_in_use
from devstack.processes import (
    ManagedProcess,
    owns,
    read_pid_file,
    stop_pid_files,
)
from devstack.prometheus import PrometheusServer
from devstack.redis import RedisClusterServers, RedisServer
from devstack.services import PORT_VARS, SERVICES, service_env, start_service
from devstack.topics import create_topics
from shared.platform.config import ENV_PREFIX, Settings

# Stop order, in phases stopped together: sources, consumers and Prometheus, then what
# they all need.
# The nodes of a Kafka cluster (`up --kafka-brokers N`) are "kafka-1" … "kafka-N".
MAX_KAFKA_BROKERS = 9
KAFKA_NODES = tuple(f"kafka-{i}" for i in range(1, MAX_KAFKA_BROKERS + 1))
# The nodes of a Redis Cluster (`up --redis-cluster`): 3 primaries + 3 replicas.
REDIS_CLUSTER_NODES = 6
REDIS_NODES = tuple(f"redis-{i}" for i in range(1, REDIS_CLUSTER_NODES + 1))
STOP_PHASES: tuple[tuple[str, ...], ...] = (
    ("demo",),
    ("ingest", "api", "alerts", "calculator", "prometheus", "alertmanager"),
    ("redis", *REDIS_NODES, "kafka", *KAFKA_NODES),
)
STOP_TIMEOUTS = {"kafka": 30.0, **dict.fromkeys(KAFKA_NODES, 30.0)}
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


class StackError(RuntimeError):
    """The stack cannot start as configured (a port taken, already running, …)."""


class StackSettings(BaseSettings):
    """Local-stack settings that no service reads (env ``EGOV_*``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    prometheus_port: int = 9090
    alertmanager_port: int | None = None  # default: a free port
    kafka_controller_port: int | None = None  # default: Kafka port + 1
    run_dir: Path = RUN


@dataclass(frozen=True)
class RunLayout:
    root: Path

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def stack_env(self) -> Path:
        return self.root / "stack.env"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    @classmethod
    def default(cls) -> RunLayout:
        return cls(StackSettings().run_dir.resolve())


@dataclass(frozen=True)
class StackPorts:
    kafka: int
    kafka_controller: int
    redis: int
    redis_db: int
    prometheus: int
    alertmanager: int
    services: dict[str, int]
    kafka_brokers: int = 1
    redis_cluster: bool = False

    def redis_nodes(self) -> list[tuple[int, int]]:
        """(client port, cluster bus port) of each Redis Cluster node: from the configured
        Redis port on, buses 10,000 above (the usual Redis Cluster layout)."""
        return [(self.redis + i, self.redis + 10_000 + i) for i in range(REDIS_CLUSTER_NODES)]

    def kafka_nodes(self) -> list[tuple[int, int]]:
        """(broker, controller) port of each Kafka node: one broker on the configured
        ports; a cluster of N from the configured broker port on, two ports a node."""
        if self.kafka_brokers == 1:
            return [(self.kafka, self.kafka_controller)]
        return [(self.kafka + 2 * i, self.kafka + 2 * i + 1) for i in range(self.kafka_brokers)]

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        stack: StackSettings,
        kafka_brokers: int = 1,
        redis_cluster: bool = False,
    ) -> StackPorts:
        host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
        if host not in LOOPBACK_HOSTS or not port.isdigit():
            raise StackError(
                f"{ENV_PREFIX}KAFKA_BOOTSTRAP={settings.kafka_bootstrap}: the local stack runs "
                "its broker on 127.0.0.1:<port>"
            )
        redis = urlparse(settings.redis_url.split(",")[0].replace("redis+cluster", "redis"))
        if redis.hostname not in LOOPBACK_HOSTS:
            raise StackError(
                f"{ENV_PREFIX}REDIS_URL={settings.redis_url}: the local stack runs Redis on "
                "127.0.0.1"
            )
        db = redis.path.strip("/")
        ports = cls(
            kafka=int(port),
            kafka_controller=stack.kafka_controller_port or int(port) + 1,
            redis=redis.port or 6379,
            redis_db=int(db) if db.isdigit() else 0,
            prometheus=stack.prometheus_port,
            alertmanager=stack.alertmanager_port or 0,
            services={
                "ingest": settings.ingest_port,
                "api": settings.api_port,
                "calculator": settings.calculator_port,
                "alerts": settings.alerts_port,
            },
            kafka_brokers=kafka_brokers,
            redis_cluster=redis_cluster,
        )
        if ports.alertmanager:
            return ports
        # a free port, and none the stack is about to bind (a Kafka cluster's nodes are
        # free until their brokers start)
        taken = set(ports.named().values())
        while (free := free_port()) in taken:
            pass
        return replace(ports, alertmanager=free)

    def named(self) -> dict[str, int]:
        kafka = (
            {"kafka": self.kafka, "kafka controller": self.kafka_controller}
            if self.kafka_brokers == 1
            else {
                name: port
                for i, (broker, controller) in enumerate(self.kafka_nodes(), start=1)
                for name, port in ((f"kafka-{i}", broker), (f"kafka-{i} controller", controller))
            }
        )
        redis = (
            {
                name: port
                for i, (client, bus) in enumerate(self.redis_nodes(), start=1)
                for name, port in ((f"redis-{i}", client), (f"redis-{i} bus", bus))
            }
            if self.redis_cluster
            else {"redis": self.redis}
        )
        return {
            **kafka,
            **redis,
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            **self.services,
        }


# Which variable moves each port elsewhere, for the error message.
PORT_HINTS = {
    "kafka": f"{ENV_PREFIX}KAFKA_BOOTSTRAP=127.0.0.1:<port>",
    "kafka controller": f"{ENV_PREFIX}KAFKA_CONTROLLER_PORT",
    "redis": f"{ENV_PREFIX}REDIS_URL=redis://127.0.0.1:<port>/0",
    "prometheus": f"{ENV_PREFIX}PROMETHEUS_PORT",
    "alertmanager": f"{ENV_PREFIX}ALERTMANAGER_PORT",
    **PORT_VARS,
}


def check_ports(ports: StackPorts) -> None:
    named = ports.named()
    seen: dict[int, str] = {}
    for name, port in named.items():
        if port in seen:
            raise StackError(f"{name} and {seen[port]} are both configured on port {port}")
        seen[port] = name
    taken = [(name, port) for name, port in named.items() if port_in_use(port)]
    if taken:
        lines = "\n".join(
            f"  {name:<17} 127.0.0.1:{port:<6} move it with "
            + PORT_HINTS.get(name, PORT_HINTS["redis" if name.startswith("redis") else "kafka"])
            for name, port in taken
        )
        raise StackError(
            "ports already in use by something else (another stack? `make down`, or stop it):\n"
            + lines
        )


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int | None
    running: bool


def status(layout: RunLayout | None = None) -> list[ProcessStatus]:
    """The processes ``up`` recorded, and whether each is still that same process."""
    layout = layout or RunLayout.default()
    out: list[ProcessStatus] = []
    for pid_file in sorted(layout.pids.glob("*.pid")) if layout.pids.exists() else []:
        record = read_pid_file(pid_file)
        out.append(
            ProcessStatus(
                pid_file.stem,
                record.pid if record else None,
                record is not None and owns(record),
            )
        )
    return out


def read_stack_env(layout: RunLayout | None = None) -> dict[str, str]:
    layout = layout or RunLayout.default()
    env: dict[str, str] = {}
    if layout.stack_env.exists():
        for line in layout.stack_env.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and not line.startswith("#"):
                env[key] = "".join(shlex.split(value)) if value else ""
    return env


def down(layout: RunLayout | None = None) -> list[str]:
    """Stop exactly the processes ``up`` recorded (still the same pid, start time and
    command line); remove their pid files and stack.env. Idempotent."""
    layout = layout or RunLayout.default()
    stopped: list[str] = []
    if layout.pids.exists():
        files = {p.stem: p for p in layout.pids.glob("*.pid")}
        known = {name for phase in STOP_PHASES for name in phase}
        phases = [list(phase) for phase in STOP_PHASES]
        phases[1] += sorted(set(files) - known)  # anything else: with the services
        for phase in phases:
            paths = [files[name] for name in phase if name in files]
            if paths:
                timeout = max(STOP_TIMEOUTS.get(p.stem, 20.0) for p in paths)
                stopped += stop_pid_files(paths, timeout)
    layout.stack_env.unlink(missing_ok=True)
    return stopped


# --- up ------------------------------------------------------------------------------------

Report = Callable[[str, float, str], None]


def print_step(label: str, seconds: float, note: str) -> None:
    print(f"  {label:<24} {seconds:6.1f}s  {note}", flush=True)


@contextmanager
def _timed(report: Report, label: str) -> Iterator[list[str]]:
    """Time a step; what the step appends to the yielded list is printed beside it."""
    started = time.monotonic()
    notes: list[str] = []
    yield notes
    report(label, time.monotonic() - started, " ".join(notes))


def demo_available() -> bool:
    return importlib.util.find_spec("devstack.demo") is not None


def up(
    with_demo: bool = True,
    layout: RunLayout | None = None,
    report: Report = print_step,
    *,
    kafka_brokers: int = 1,
    redis_cluster: bool = False,
) -> dict[str, str]:
    """Start Kafka, Redis, topics, the four services, Prometheus and the demo source in the
    background; write stack.env; return its variables. On failure, stops what it started.

    ``kafka_brokers`` > 1: a Kafka cluster of that many nodes (replication 3,
    ``min.insync.replicas`` 2) with its own data (``data/kafka-cluster``) instead of one
    broker.

    ``redis_cluster``: a Redis Cluster (3 primaries + 3 replicas, ``data/redis-cluster``)
    instead of one server; the services get its ``redis+cluster://`` URL, and no Redis
    snapshots are taken (a cluster relies on its replicas, AOF and ``egov rebuild``)."""
    if not 1 <= kafka_brokers <= MAX_KAFKA_BROKERS:
        raise StackError(f"--kafka-brokers {kafka_brokers}: 1 to {MAX_KAFKA_BROKERS}")
    settings = Settings()
    layout = layout or RunLayout.default()
    ports = StackPorts.from_settings(settings, StackSettings(), kafka_brokers, redis_cluster)
    running = [s.name for s in status(layout) if s.running]
    if running:
        raise StackError(f"the stack is already up ({', '.join(running)}): `make down` first")
    down(layout)  # forget stale pid files of processes that died on their own
    check_ports(ports)
    try:
        return _up(settings, ports, layout, with_demo, report)
    except BaseException:
        down(layout)
        raise


def _up(
    settings: Settings, ports: StackPorts, layout: RunLayout, with_demo: bool, report: Report
) -> dict[str, str]:
    total = time.monotonic()
    for d in (layout.pids, layout.logs, layout.data):
        d.mkdir(parents=True, exist_ok=True)

    with _timed(report, "kafka jars") as notes:
        notes.append("cached" if kafka_jars_ready() else "resolved with mvn")
        ensure_kafka_jars()
    kafka: KafkaBroker | KafkaCluster
    replication = 1
    if ports.kafka_brokers == 1:
        kafka = KafkaBroker(
            layout.data / "kafka",
            ports.kafka,
            ports.kafka_controller,
            log_dir=layout.logs,
            pid_file=layout.pid_file("kafka"),
        )
    else:
        kafka = KafkaCluster(
            layout.data / "kafka-cluster",
            ports.kafka_nodes(),
            log_dir=layout.logs,
            pid_dir=layout.pids,
        )
        replication = kafka.replication
    label = "kafka (KRaft)" if ports.kafka_brokers == 1 else f"kafka ({ports.kafka_brokers} nodes)"
    with _timed(report, label) as notes:
        kafka.start()
        notes.append(
            f"{kafka.bootstrap}, "
            + ("storage formatted" if kafka.formatted_now else "existing data")
            + (f", replication {replication}" if replication > 1 else "")
        )
    redis: RedisServer | RedisClusterServers
    if ports.redis_cluster:
        redis = RedisClusterServers(
            layout.data / "redis-cluster",
            ports.redis_nodes(),
            log_dir=layout.logs,
            pid_dir=layout.pids,
        )
        redis_url = redis.url
        with _timed(report, f"redis ({REDIS_CLUSTER_NODES} nodes)") as notes:
            redis.start()
            notes.append(
                f"{redis_url}, " + ("cluster created" if redis.created_now else "existing data")
            )
    else:
        redis = RedisServer(
            layout.data / "redis",
            ports.redis,
            log_dir=layout.logs,
            pid_file=layout.pid_file("redis"),
        )
        redis_url = f"redis://127.0.0.1:{ports.redis}/{ports.redis_db}"
        with _timed(report, "redis") as notes:
            had_aof = (layout.data / "redis" / "appendonlydir").exists()
            redis.start()
            notes.append(f"{redis_url}, " + ("AOF loaded" if had_aof else "new"))
    with _timed(report, "topics") as notes:
        counts = create_topics(kafka.bootstrap, settings, replication=replication)
        notes.append(", ".join(f"{name}:{n}" for name, n in counts.items()))

    env = service_env(
        {
            "kafka_bootstrap": kafka.bootstrap,
            "topic_replication": replication,
            "redis_url": redis_url,
            "faust_data_dir": str(layout.data / "faust"),
            # hourly snapshots of Redis for `egov restore` (the newest 24 kept); none of a
            # cluster
            "snapshot_dir": None
            if ports.redis_cluster
            else settings.snapshot_dir or str(layout.data / "snapshots"),
            # the alerts service re-posts what fires to the stack's Alertmanager
            "alertmanager_url": settings.alertmanager_url
            or f"http://127.0.0.1:{ports.alertmanager}",
        }
    )
    # the mail sink: alert mail lands in <run dir>/mail (.eml + index.jsonl), the board
    # lists it; the API links to the stack's Prometheus
    with _timed(report, "mail sink") as notes:
        mail = start_local_mail(layout.root, layout.logs, layout.pid_file("mail"))
        notes.append(f"smtp://127.0.0.1:{mail.port} -> {mail.directory}")
    env.update(
        service_env(
            {**mail.service_settings(), "prometheus_url": f"http://127.0.0.1:{ports.prometheus}"}
        )
    )
    started = time.monotonic()
    services = {
        name: start_service(
            name,
            ports.services[name],
            env,
            layout.logs,
            wait=False,
            pid_file=layout.pid_file(name),
        )
        for name in SERVICES
    }
    for name, service in services.items():  # started together, waited for in turn
        service.wait_healthy(90.0)
        report(name, time.monotonic() - started, f"{service.url}/healthz ok")
    # the packaged agency catalog (An Giang in time), also in a Redis seeded by an earlier
    # release with the 2024 units only (devstack/catalog.py)
    with _timed(report, "agency catalog") as notes:
        notes.append(
            ensure_packaged_catalog(
                redis_url, settings.model_copy(update={"kafka_bootstrap": kafka.bootstrap})
            )
        )

    # Prometheus' pipeline alerts → Alertmanager → the alerts service's webhook (operate
    # scope: the local admin token; none when only digests are issued)
    alertmanager = AlertmanagerServer(
        layout.data / "alertmanager",
        ports.alertmanager,
        f"{services['alerts'].url}/v1/alertmanager/webhook",
        settings.admin_token.get_secret_value() if settings.admin_token else None,
        log_dir=layout.logs,
        pid_file=layout.pid_file("alertmanager"),
    )
    with _timed(report, "alertmanager") as notes:
        alertmanager.start()
        notes.append(alertmanager.url)
    prometheus = PrometheusServer(
        layout.data / "prometheus",
        ports.prometheus,
        {name: [f"127.0.0.1:{port}"] for name, port in ports.services.items()},
        log_dir=layout.logs,
        pid_file=layout.pid_file("prometheus"),
        alertmanagers=[f"127.0.0.1:{ports.alertmanager}"],
    )
    with _timed(report, "prometheus") as notes:
        prometheus.start()
        notes.append(prometheus.url)

    source, ingest = next(iter(settings.ingest_tokens.items()), ("", None))
    plain = {  # what the local tokens are (empty when only digests are issued: EGOV_TOKENS)
        "INGEST_TOKEN": ingest.token if ingest else None,
        "READ_TOKEN": settings.read_token,
        "ADMIN_TOKEN": settings.admin_token,
    }
    urls = {
        "INGEST_URL": services["ingest"].url,
        "API_URL": services["api"].url,
        "API_DOCS_URL": f"{services['api'].url}/docs",
        "PROMETHEUS_URL": prometheus.url,
        "ALERTMANAGER_URL": alertmanager.url,
        "KAFKA_BOOTSTRAP": kafka.bootstrap,
        "REDIS_URL": redis_url,
        "INGEST_SOURCE": source,
        **{k: v.get_secret_value() if v else "" for k, v in plain.items()},
        **{f"{name.upper()}_METRICS_URL": s.metrics_url for name, s in services.items()},
        "RUN_DIR": str(layout.root),
    }
    urls |= {
        "PUBLIC_URL": f"{services['api'].url}/public/ket-qua",
        "BOARD_URL": f"{services['api'].url}/board",
        "MAIL_DIR": str(mail.directory),
        "MAIL_SMTP": f"127.0.0.1:{mail.port}",
    }
    if with_demo and demo_available():
        with _timed(report, "demo source") as notes:
            demo = ManagedProcess(
                "demo",
                [sys.executable, "-m", "devstack.demo"],
                layout.logs / "demo.log",
                env={"INGEST_URL": urls["INGEST_URL"], "INGEST_TOKEN": urls["INGEST_TOKEN"]},
                cwd=REPO,
                pid_file=layout.pid_file("demo"),
            )
            demo.start()
            notes.append(f"streaming into {urls['INGEST_URL']}")
    layout.stack_env.write_text(
        f"# written by `egov up`; in a shell: . {layout.stack_env}\n"
        + "".join(f"{k}={shlex.quote(v)}\n" for k, v in urls.items())
    )
    report("total", time.monotonic() - total, "")
    return urls


def describe(urls: dict[str, str], layout: RunLayout | None = None) -> str:
    layout = layout or RunLayout.default()
    api, read = urls["API_URL"], urls["READ_TOKEN"]
    return f"""
egov-monitor is running. Logs in {layout.logs}, data in {layout.data}.

  Public results page  {urls["PUBLIC_URL"]}
  ICT live board       {urls["BOARD_URL"]}  (sign in with the read token)
  Alert mail (local)   {urls["MAIL_DIR"]}  (.eml files, index.jsonl; SMTP {urls["MAIL_SMTP"]})

  API docs (OpenAPI)   {urls["API_DOCS_URL"]}
  Query example        curl -H 'Authorization: Bearer {read}' \\
                         '{api}/v1/indicators/full_online_rate?scope=province&period=rolling:1d'
  Ingest               {urls["INGEST_URL"]}/v1/events
  Prometheus           {urls["PROMETHEUS_URL"]}
  Alertmanager         {urls["ALERTMANAGER_URL"]}
  Metrics              {urls["INGEST_METRICS_URL"]}
                       {urls["API_METRICS_URL"]}
                       {urls["CALCULATOR_METRICS_URL"]}
                       {urls["ALERTS_METRICS_URL"]}
  Kafka                {urls["KAFKA_BOOTSTRAP"]}
  Redis                {urls["REDIS_URL"]}

  Local tokens
    ingest ({urls["INGEST_SOURCE"]})   {urls["INGEST_TOKEN"]}
    read                   {urls["READ_TOKEN"]}
    admin                  {urls["ADMIN_TOKEN"]}

  Shell variables: . {layout.stack_env}
"""
