"""Prometheus configuration and rules checked by promtool: the local and compose configs,
the rule file, and the rule unit tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from devstack.paths import PROMETHEUS_RULES
from devstack.prometheus import prometheus_config

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool") or "promtool"


def promtool(*args: str) -> str:
    result = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_rules_are_valid() -> None:
    assert "SUCCESS: 9 rules found" in promtool("check", "rules", str(PROMETHEUS_RULES))


def test_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", "prometheus/tests/egov.rules.test.yml")


def test_local_config_with_rules_is_valid(tmp_path: Path) -> None:
    config = prometheus_config(
        {"ingest": ["127.0.0.1:8081"], "calculator": ["127.0.0.1:8083"]},
        rule_files=[str(PROMETHEUS_RULES)],
    )
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    assert "SUCCESS" in promtool("check", "config", str(path))


def test_compose_config_is_valid_and_loads_the_rules(tmp_path: Path) -> None:
    compose = yaml.safe_load((ROOT / "prometheus/prometheus.compose.yml").read_text())
    assert compose["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    # check it with the rule path as it is mounted in the container
    compose["rule_files"] = [str(PROMETHEUS_RULES)]
    path = tmp_path / "compose.yml"
    path.write_text(yaml.safe_dump(compose))
    assert "SUCCESS" in promtool("check", "config", "--syntax-only", str(path))
