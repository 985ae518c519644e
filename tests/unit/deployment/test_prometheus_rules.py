"""Prometheus configuration and rules checked by promtool: the local and compose configs,
the rule file, and the rule unit tests; the Alertmanager configs checked by amtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from devstack.alertmanager import alertmanager_config
from devstack.paths import PROMETHEUS_RULES
from devstack.prometheus import prometheus_config

ROOT = Path(__file__).resolve().parents[3]
PROMTOOL = shutil.which("promtool") or "promtool"
AMTOOL = shutil.which("amtool") or "amtool"


def promtool(*args: str) -> str:
    result = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def amtool(*args: str) -> str:
    result = subprocess.run([AMTOOL, *args], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rules_are_valid() -> None:
    assert "SUCCESS: 13 rules found" in promtool("check", "rules", str(PROMETHEUS_RULES))


def test_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", "prometheus/tests/egov.rules.test.yml")


def test_local_config_with_rules_is_valid(tmp_path: Path) -> None:
    config = prometheus_config(
        {"ingest": ["127.0.0.1:8081"], "calculator": ["127.0.0.1:8083"]},
        rule_files=[str(PROMETHEUS_RULES)],
        alertmanagers=["127.0.0.1:9093"],
    )
    assert config["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": ["127.0.0.1:9093"]}]}]
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    assert "SUCCESS" in promtool("check", "config", str(path))


def test_alertmanager_configs_are_valid(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t")
    for name, config in {
        "local.yml": alertmanager_config("http://127.0.0.1:8084/v1/alertmanager/webhook", token),
        "no-webhook.yml": alertmanager_config(None),
    }.items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump(config))
        assert "SUCCESS" in amtool("check-config", str(path)), name
    assert "SUCCESS" in amtool("check-config", "prometheus/alertmanager.compose.yml")
    # egov-monitor's own alerts (re-posted by the alerts service) are not mailed twice
    routed = amtool(
        "config",
        "routes",
        "test",
        "--config.file=prometheus/alertmanager.compose.yml",
        "origin=egov-alerts",
        "alertname=breach",
    )
    assert routed.strip() == "null"
    routed = amtool(
        "config",
        "routes",
        "test",
        "--config.file=prometheus/alertmanager.compose.yml",
        "alertname=EgovPipelineBehind",
    )
    assert routed.strip() == "egov-alerts"


def test_compose_config_is_valid_and_loads_the_rules(tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "prometheus/prometheus.compose.yml").read_text())
    assert compose["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    # check it with the rule path as it is mounted in the container
    compose["rule_files"] = [str(PROMETHEUS_RULES)]
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(compose))
    assert "SUCCESS" in promtool("check", "config", "--syntax-only", str(path))
