"""`make up` / `make down` / `make run`: the whole stack as local processes."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from devstack.kafka import KafkaBroker
from devstack.paths import REPO, RUN
from devstack.ports import port_open
from devstack.processes import ManagedProcess, stop_pid_file, write_pid
from devstack.prometheus import PrometheusServer
from devstack.redis_server import RedisServer
from devstack.services import SERVICES, start_service
from devstack.topics import create_topics
from shared.config import Settings

PIDS = RUN / "pids"
LOGS = RUN / "logs"
DATA = RUN / "data"
STACK_ENV = RUN / "stack.env"
# Stop order: sources first, then consumers, then the infrastructure they need.
STOP_ORDER = ("demo", "ingest", "api", "alerts", "calculator", "prometheus", "redis", "kafka")


@dataclass
class StackPorts:
    kafka: int
    kafka_controller: int
    redis: int
    prometheus: int
    services: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> StackPorts:
        kafka = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
        return cls(
            kafka=kafka,
            kafka_controller=int(os.environ.get("EGOV_KAFKA_CONTROLLER_PORT", kafka + 1)),
            redis=urlparse(settings.redis_url).port or 6379,
            prometheus=int(os.environ.get("EGOV_PROMETHEUS_PORT", "9090")),
            services={
                "ingest": settings.ingest_port,
                "api": settings.api_port,
                "calculator": settings.calculator_port,
                "alerts": settings.alerts_port,
            },
        )

    def all(self) -> dict[str, int]:
        return {
            "kafka": self.kafka,
            "kafka-controller": self.kafka_controller,
            "redis": self.redis,
            "prometheus": self.prometheus,
            **self.services,
        }


def _step(label: str, started: float) -> None:
    print(f"  {label:<28} {time.monotonic() - started:6.1f}s", flush=True)


def _record(process: ManagedProcess | None) -> None:
    if process is not None and process.pid is not None:
        write_pid(PIDS, process.name, process.pid, process.argv)


def up(with_demo: bool = True) -> dict[str, str]:
    settings = Settings()
    ports = StackPorts.from_settings(settings)
    running = [p for p in PIDS.glob("*.pid")] if PIDS.exists() else []
    if running:
        raise SystemExit(
            "the stack is already up (make down first): " + ", ".join(p.stem for p in running)
        )
    taken = {name: port for name, port in ports.all().items() if port_open(port)}
    if taken:
        raise SystemExit(
            "ports already in use: "
            + ", ".join(f"{n}={p}" for n, p in taken.items())
            + " — stop what uses them or set EGOV_*_PORT / EGOV_KAFKA_BOOTSTRAP"
        )
    total = time.monotonic()
    print("starting egov-monitor", flush=True)
    t = time.monotonic()
    kafka = KafkaBroker(DATA / "kafka", ports.kafka, ports.kafka_controller)
    kafka.start()
    _record(kafka.process)
    _step("kafka (KRaft)", t)
    t = time.monotonic()
    redis = RedisServer(DATA / "redis", ports.redis)
    redis.start()
    _record(redis.process)
    _step("redis", t)
    t = time.monotonic()
    create_topics(kafka.bootstrap, settings)
    _step("topics", t)
    env = {
        "EGOV_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "EGOV_REDIS_URL": redis.url,
        "EGOV_FAUST_DATA_DIR": str(DATA / "faust"),
    }
    for name in SERVICES:
        t = time.monotonic()
        service = start_service(name, ports.services[name], env, LOGS)
        _record(service.process)
        _step(name, t)
    t = time.monotonic()
    prometheus = PrometheusServer(
        DATA / "prometheus",
        ports.prometheus,
        {name: [f"127.0.0.1:{port}"] for name, port in ports.services.items()},
    )
    prometheus.start()
    _record(prometheus.process)
    _step("prometheus", t)
    ingest_source, ingest_token = next(iter(settings.ingest_tokens.items()))
    urls = {
        "INGEST_URL": f"http://127.0.0.1:{ports.services['ingest']}",
        "API_URL": f"http://127.0.0.1:{ports.services['api']}",
        "PROMETHEUS_URL": prometheus.url,
        "KAFKA_BOOTSTRAP": kafka.bootstrap,
        "REDIS_URL": redis.url,
        "INGEST_SOURCE": ingest_source,
        "INGEST_TOKEN": ingest_token.get_secret_value(),
        "READ_TOKEN": settings.read_token.get_secret_value(),
        "ADMIN_TOKEN": settings.admin_token.get_secret_value(),
        "CALCULATOR_METRICS_URL": f"http://127.0.0.1:{ports.services['calculator']}/metrics",
        "ALERTS_METRICS_URL": f"http://127.0.0.1:{ports.services['alerts']}/metrics",
        "INGEST_METRICS_URL": f"http://127.0.0.1:{ports.services['ingest']}/metrics",
        "API_METRICS_URL": f"http://127.0.0.1:{ports.services['api']}/metrics",
    }
    if with_demo:
        demo = ManagedProcess(
            "demo",
            [sys.executable, "-m", "devstack.demo"],
            LOGS / "demo.log",
            env={"INGEST_URL": urls["INGEST_URL"], "INGEST_TOKEN": urls["INGEST_TOKEN"]},
            cwd=REPO,
        )
        demo.start()
        _record(demo)
    STACK_ENV.write_text("".join(f"{k}={v}\n" for k, v in urls.items()))
    _step("total", total)
    return urls


def down() -> list[str]:
    stopped: list[str] = []
    if not PIDS.exists():
        return stopped
    files = {p.stem: p for p in PIDS.glob("*.pid")}
    for name in [*STOP_ORDER, *sorted(set(files) - set(STOP_ORDER))]:
        if name in files and stop_pid_file(files[name], timeout=30):
            stopped.append(name)
    STACK_ENV.unlink(missing_ok=True)
    return stopped


def status() -> dict[str, bool]:
    out = {}
    for pid_file in sorted(PIDS.glob("*.pid")) if PIDS.exists() else []:
        pid = int(pid_file.read_text().splitlines()[0])
        out[pid_file.stem] = Path(f"/proc/{pid}").exists()
    return out


def describe(urls: dict[str, str]) -> str:
    return f"""
egov-monitor is running (Asia/Ho_Chi_Minh). Demo events are streaming in.

  API docs (OpenAPI)   {urls["API_URL"]}/docs
  Query example        curl -H 'Authorization: Bearer {urls["READ_TOKEN"]}' \\
                         '{urls["API_URL"]}/v1/indicators/full_online_rate?scope=province&period=rolling:1d'
  Ingest               {urls["INGEST_URL"]}/v1/events
  Prometheus           {urls["PROMETHEUS_URL"]}
  Metrics              {urls["INGEST_METRICS_URL"]}
                       {urls["API_METRICS_URL"]}
                       {urls["CALCULATOR_METRICS_URL"]}
                       {urls["ALERTS_METRICS_URL"]}
  Kafka                {urls["KAFKA_BOOTSTRAP"]}    Redis {urls["REDIS_URL"]}

  Tokens (local defaults)
    ingest ({urls["INGEST_SOURCE"]})  {urls["INGEST_TOKEN"]}
    read                   {urls["READ_TOKEN"]}
    admin                  {urls["ADMIN_TOKEN"]}

  Shell variables: source {STACK_ENV}
"""
