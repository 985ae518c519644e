"""The four services as processes, pointed at a given Kafka and Redis."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from devstack.paths import REPO
from devstack.ports import wait_for_http
from devstack.processes import ManagedProcess

SERVICES = ("ingest", "api", "calculator", "alerts")
PORT_VARS = {name: f"EGOV_{name.upper()}_PORT" for name in SERVICES}


def service_argv(name: str) -> list[str]:
    argv = [sys.executable, "-m", f"services.{name}"]
    if name in ("calculator", "alerts"):
        argv.append("worker")  # Faust workers
    return argv


@dataclass
class RunningService:
    name: str
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60.0) -> None:
        try:
            wait_for_http(f"{self.url}/healthz", timeout)
        except TimeoutError:
            raise RuntimeError(f"{self.name} not healthy:\n{self.process.log_tail()}") from None


def start_service(
    name: str, port: int, env: dict[str, str], log_dir: Path, wait: bool = True
) -> RunningService:
    full_env = {**env, PORT_VARS[name]: str(port), "PYTHONUNBUFFERED": "1"}
    process = ManagedProcess(
        name, service_argv(name), log_dir / f"{name}.log", env=full_env, cwd=REPO
    )
    process.start()
    running = RunningService(name, port, process)
    if wait:
        running.wait_healthy()
    return running
