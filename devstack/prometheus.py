"""Prometheus (Debian package) on loopback, scraping every service's /metrics."""

from __future__ import annotations

from pathlib import Path

import yaml

from devstack.paths import PROMETHEUS_RULES
from devstack.ports import wait_for_http
from devstack.processes import ManagedProcess


def prometheus_config(
    scrape_targets: dict[str, list[str]], interval: str = "2s", rule_files: list[str] | None = None
) -> dict[str, object]:
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": rule_files or [],
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": targets}]}
            for job, targets in scrape_targets.items()
        ],
    }


class PrometheusServer:
    def __init__(
        self,
        data_dir: Path,
        port: int,
        scrape_targets: dict[str, list[str]],
        rule_files: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.scrape_targets = scrape_targets
        self.rule_files = [str(PROMETHEUS_RULES)] if rule_files is None else rule_files
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(prometheus_config(self.scrape_targets, rule_files=self.rule_files))
        )
        self.process = ManagedProcess(
            "prometheus",
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=15d",
                "--log.level=warn",
            ],
            self.data_dir / "prometheus.log",
        )
        self.process.start()
        try:
            wait_for_http(f"{self.url}/-/ready", timeout)
        except TimeoutError:
            raise RuntimeError(f"Prometheus did not start:\n{self.process.log_tail()}") from None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
