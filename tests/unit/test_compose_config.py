"""docker-compose.yml against the local configuration: same services, ports, topics,
env var names and commands. No Docker engine runs here, so this is how drift is caught."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.services import SERVICES, service_argv
from devstack.topics import topic_partitions
from shared.config import ENV_PREFIX, Settings, Topics

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def valid_env_names() -> set[str]:
    names = {f"{ENV_PREFIX}{f.upper()}" for f in Settings.model_fields if f != "topics"}
    names |= {f"{ENV_PREFIX}TOPIC_{f.upper()}" for f in Topics.model_fields}
    return names


def test_services_are_the_stack(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "kafka",
        "kafka-init",
        "redis",
        "prometheus",
        "grafana",
        *SERVICES,
    }


def test_service_ports_match_settings(compose: dict[str, Any]) -> None:
    settings = Settings()
    for name in SERVICES:
        port = getattr(settings, f"{name}_port")
        svc = compose["services"][name]
        assert svc["environment"][f"EGOV_{name.upper()}_PORT"] == str(port)
        assert f"{port}:{port}" in svc["ports"]


def test_every_egov_env_var_is_a_setting(compose: dict[str, Any]) -> None:
    valid = valid_env_names()
    used = {
        k
        for svc in compose["services"].values()
        for k in (svc.get("environment") or {})
        if k.startswith(ENV_PREFIX)
    }
    assert used, "the services take their settings from EGOV_* variables"
    assert used <= valid, f"not settings: {sorted(used - valid)}"
    for name in SERVICES:
        env = compose["services"][name]["environment"]
        assert env["EGOV_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["EGOV_REDIS_URL"].startswith("redis://redis:6379")


def test_topics_and_partitions_match(compose: dict[str, Any]) -> None:
    script = "\n".join(compose["services"]["kafka-init"]["command"])
    declared = {m[0]: int(m[1]) for m in re.findall(r"(egov\.[a-z.-]+\.v\d+):(\d+)", script)}
    assert declared == topic_partitions(Settings())


def test_prometheus_scrapes_the_four_services(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((ROOT / "prometheus" / "prometheus.compose.yml").read_text())
    settings = Settings()
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    assert jobs == {name: [f"{name}:{getattr(settings, f'{name}_port')}"] for name in SERVICES}
    mount = compose["services"]["prometheus"]["volumes"][0]
    assert mount.startswith("./prometheus/prometheus.compose.yml:")


def test_dockerfiles_run_the_same_commands_as_the_local_stack(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        build = compose["services"][name]["build"]
        dockerfile = ROOT / build["dockerfile"]
        text = dockerfile.read_text()
        cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
        assert cmd is not None, f"{dockerfile} has no CMD"
        assert yaml.safe_load(cmd[1]) == ["python", *service_argv(name)[1:]]
        port = getattr(Settings(), f"{name}_port")
        assert f"EXPOSE {port}" in text


def test_grafana_is_provisioned_from_the_repo(compose: dict[str, Any]) -> None:
    volumes = compose["services"]["grafana"]["volumes"]
    assert any(v.startswith("./grafana/provisioning:/etc/grafana/provisioning") for v in volumes)
    datasource = yaml.safe_load(
        (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((ROOT / "grafana/provisioning/dashboards/egov.yml").read_text())
    dash_mount = next(v for v in volumes if v.startswith("./grafana/dashboards:"))
    assert provider["providers"][0]["options"]["path"] == dash_mount.split(":")[1]
