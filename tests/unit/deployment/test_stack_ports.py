"""The local stack's ports: the alertmanager's default port is free and none the stack is
about to bind — a Kafka cluster's node ports are free until its brokers start, so a free
port alone could be one of them (seen: "alertmanager and kafka-3 are both configured")."""

from __future__ import annotations

import pytest

from devstack import stack
from devstack.stack import StackPorts, StackSettings
from shared.platform.config import Settings


def test_the_alertmanager_default_avoids_the_kafka_nodes_ports(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:21570")
    nodes = [port for node in range(3) for port in (21570 + 2 * node, 21571 + 2 * node)]
    handed = iter([nodes[-1], nodes[0], 21600])  # two of the nodes' ports first
    monkeypatch.setattr(stack, "free_port", lambda: next(handed))
    ports = StackPorts.from_settings(settings, StackSettings(), kafka_brokers=3)
    assert [p for node in ports.kafka_nodes() for p in node] == nodes
    assert ports.alertmanager == 21600
    assert len(set(ports.named().values())) == len(ports.named())


def test_a_configured_alertmanager_port_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EGOV_ALERTMANAGER_PORT", "9093")
    ports = StackPorts.from_settings(Settings(), StackSettings(), kafka_brokers=3)
    assert ports.alertmanager == 9093
