"""Alertmanager (Debian package ``prometheus-alertmanager``) on loopback.

Prometheus sends it the pipeline alerts of ``prometheus/rules/``; the alerts service
re-posts what fires on each evaluation. Its minimal route hands Prometheus' alerts to the
alerts service's webhook (``/v1/alertmanager/webhook``, operate token), which mails them in
Vietnamese through the configured routes; egov-monitor's own alerts (label
``origin="egov-alerts"``) are already mailed by the alerts service and stop there.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from devstack.processes import ManagedProcess, ServerProcess, wait_for_http

BINARY = "prometheus-alertmanager"
EGOV_ORIGIN = 'origin="egov-alerts"'


def alertmanager_binary() -> str:
    """``prometheus-alertmanager`` (Debian), else ``alertmanager`` (upstream tarball)."""
    return shutil.which(BINARY) or shutil.which("alertmanager") or BINARY


def alertmanager_config(
    webhook_url: str | None, credentials_file: Path | None = None
) -> dict[str, object]:
    """alertmanager.yml: Prometheus' alerts to ``webhook_url`` (none: kept in Alertmanager
    only), egov-monitor's own alerts to no one (they were mailed already)."""
    receivers: list[dict[str, object]] = [{"name": "null"}]
    default = "null"
    if webhook_url:
        hook: dict[str, object] = {"url": webhook_url, "send_resolved": True}
        if credentials_file is not None:
            hook["http_config"] = {
                "authorization": {"type": "Bearer", "credentials_file": str(credentials_file)}
            }
        receivers.append({"name": "egov-alerts", "webhook_configs": [hook]})
        default = "egov-alerts"
    return {
        "route": {
            "receiver": default,
            "group_by": ["alertname", "job"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "4h",
            "routes": [{"matchers": [EGOV_ORIGIN], "receiver": "null"}],
        },
        "receivers": receivers,
    }


class AlertmanagerServer(ServerProcess):
    """``prometheus-alertmanager`` with its configuration and silences/notification log in
    ``data_dir``; no clustering (``--cluster.listen-address=``)."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        webhook_url: str | None = None,
        token: str | None = None,
        *,
        log_dir: Path | None = None,
        pid_file: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.webhook_url = webhook_url
        self.token = token
        self.log_path = (log_dir or data_dir) / "alertmanager.log"
        self.pid_file = pid_file
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "alertmanager.yml"

    @property
    def token_path(self) -> Path:
        return self.data_dir / "egov-operate-token"

    def argv(self) -> list[str]:
        return [
            alertmanager_binary(),
            f"--config.file={self.config_path}",
            f"--storage.path={self.data_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        credentials: Path | None = None
        if self.webhook_url and self.token:
            self.token_path.touch(mode=0o600, exist_ok=True)
            self.token_path.chmod(0o600)
            self.token_path.write_text(self.token)
            credentials = self.token_path
        url = self.webhook_url if credentials is not None else None
        self.config_path.write_text(
            yaml.safe_dump(alertmanager_config(url, credentials), sort_keys=False)
        )

    def start(self, timeout: float = 30.0) -> None:
        """Write alertmanager.yml, start, and return once ``/-/ready`` answers 200."""
        if self.alive:
            return
        self.write_config()
        self._launch(
            "alertmanager",
            self.argv(),
            self.log_path,
            lambda process: wait_for_http(f"{self.url}/-/ready", timeout, process),
        )
