"""Where the local stack keeps things: caches outside git, run state under ``.run``."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"
RUN = REPO / ".run"
KAFKA_POM = REPO / "infra" / "kafka" / "pom.xml"
PROMETHEUS_RULES = REPO / "prometheus" / "rules" / "egov.rules.yml"
