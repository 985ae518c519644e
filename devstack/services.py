"""The four services as processes, configured through ``EGOV_*`` environment variables."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, SecretStr

from devstack.paths import REPO
from devstack.processes import ManagedProcess, wait_for_http
from shared.platform.config import ENV_PREFIX, Settings, Topics

SERVICES = ("ingest", "api", "calculator", "alerts")
PORT_VARS = {name: f"{ENV_PREFIX}{name.upper()}_PORT" for name in SERVICES}


def service_argv(name: str) -> list[str]:
    """``python -m services.<name>``; the Faust workers take the ``worker`` command."""
    if name not in SERVICES:
        raise ValueError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    argv = [sys.executable, "-m", f"services.{name}"]
    if name in ("calculator", "alerts"):
        argv.append("worker")
    return argv


def _plain(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, BaseModel):
        return _plain(value.model_dump())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_plain(v) for v in value]
    return value


def _env_value(value: object) -> str:
    value = _plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # pydantic-settings parses complex as JSON


def service_env(settings_overrides: Mapping[str, object]) -> dict[str, str]:
    """Environment variables for a service process from
    :class:`shared.platform.config.Settings` values.

    Keys are Settings field names (``{"kafka_bootstrap": "127.0.0.1:9092",
    "ingest_tokens": {"src": "tok"}}``) or ready ``EGOV_*`` names. ``topics`` takes a mapping
    (or :class:`Topics`) and gives ``EGOV_TOPIC_<NAME>``. Dicts, lists and models become JSON,
    secrets their value, booleans ``true``/``false``; ``None`` leaves the default.
    """
    env: dict[str, str] = {}
    for key, value in settings_overrides.items():
        if value is None:
            continue
        if key.upper().startswith(ENV_PREFIX):
            env[key.upper()] = _env_value(value)
            continue
        field = key.lower()
        if field == "topics":
            topics = value.model_dump() if isinstance(value, Topics) else value
            if not isinstance(topics, Mapping):
                raise TypeError("topics: a mapping of topic role to name, or Topics")
            for role, name in topics.items():
                if role not in Topics.model_fields:
                    raise ValueError(f"unknown topic role {role!r}")
                env[f"{ENV_PREFIX}TOPIC_{role.upper()}"] = _env_value(name)
            continue
        if field not in Settings.model_fields:
            raise ValueError(f"{key!r} is not a setting of shared.platform.config.Settings")
        env[f"{ENV_PREFIX}{field.upper()}"] = _env_value(value)
    return env


@dataclass
class RunningService:
    name: str
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def metrics_url(self) -> str:
        return f"{self.url}/metrics"

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait for ``GET /healthz`` to answer 200; fails early if the process exits."""
        wait_for_http(f"{self.url}/healthz", timeout, self.process)


def start_service(
    name: str,
    port: int,
    env: Mapping[str, str],
    log_dir: Path,
    wait: bool = True,
    *,
    timeout: float = 60.0,
    pid_file: Path | None = None,
) -> RunningService:
    """Start ``services.<name>`` on 127.0.0.1:``port`` with ``env`` over the inherited
    environment (host and port variables set from the arguments); with ``wait``, return
    once /healthz answers 200 (stopping the process if it never does)."""
    full_env = {
        **dict(env),
        f"{ENV_PREFIX}{name.upper()}_HOST": "127.0.0.1",
        PORT_VARS[name]: str(port),
        "PYTHONUNBUFFERED": "1",
    }
    process = ManagedProcess(
        name,
        service_argv(name),
        log_dir / f"{name}.log",
        env=full_env,
        cwd=REPO,
        pid_file=pid_file,
    )
    process.start()
    running = RunningService(name, port, process)
    if wait:
        try:
            running.wait_healthy(timeout)
        except BaseException:
            process.stop()
            raise
    return running
