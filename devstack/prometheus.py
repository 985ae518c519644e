"""Prometheus (Debian package) on loopback, scraping every service's /metrics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import yaml

from devstack.paths import PROMETHEUS_RULES
from devstack.processes import ManagedProcess, ServerProcess, wait_for_http


def prometheus_config(
    scrape_targets: Mapping[str, Sequence[str]],
    interval: str = "2s",
    rule_files: Sequence[str] | None = None,
    alertmanagers: Sequence[str] = (),
) -> dict[str, object]:
    """prometheus.yml: one job per service scraping ``/metrics`` on its ``host:port``s;
    alerts sent to the Alertmanagers at ``host:port``."""
    config: dict[str, object] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": list(rule_files or []),
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(targets)}],
            }
            for job, targets in scrape_targets.items()
        ],
    }
    if alertmanagers:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": list(alertmanagers)}]}]
        }
    return config


class PrometheusServer(ServerProcess):
    """``prometheus`` with its configuration and TSDB in ``data_dir``.

    ``rule_files`` defaults to the project's rules (prometheus/rules/); pass ``[]`` for none.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int,
        scrape_targets: Mapping[str, Sequence[str]],
        rule_files: Sequence[str | Path] | None = None,
        *,
        scrape_interval: str = "2s",
        log_dir: Path | None = None,
        pid_file: Path | None = None,
        alertmanagers: Sequence[str] = (),
        alert_resend_delay: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.alertmanagers = list(alertmanagers)
        # Prometheus 2.x sends a new alert only once this delay (default 1m) has passed
        self.alert_resend_delay = alert_resend_delay
        self.log_path = (log_dir or data_dir) / "prometheus.log"
        self.port = port
        self.scrape_targets = {job: list(targets) for job, targets in scrape_targets.items()}
        self.rule_files = (
            [str(PROMETHEUS_RULES)] if rule_files is None else [str(p) for p in rule_files]
        )
        self.scrape_interval = scrape_interval
        self.pid_file = pid_file
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "prometheus.yml"

    def argv(self) -> list[str]:
        return [
            "prometheus",
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=15d",
            "--log.level=warn",
            *(
                [f"--rules.alert.resend-delay={self.alert_resend_delay}"]
                if self.alert_resend_delay
                else []
            ),
        ]

    def start(self, timeout: float = 30.0) -> None:
        """Write prometheus.yml, start, and return once ``/-/ready`` answers 200."""
        if self.alive:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = prometheus_config(
            self.scrape_targets, self.scrape_interval, self.rule_files, self.alertmanagers
        )
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self._launch(
            "prometheus",
            self.argv(),
            self.log_path,
            lambda process: wait_for_http(f"{self.url}/-/ready", timeout, process),
        )
