"""Each of the four services, run as the process it is in production (``python -m
services.<name>``), says which release it is: its first ``service_start`` log line carries
the version, its ``/healthz`` answers it (the Faust web pages of the calculator and the
alerts service included), and ingest and the API put it in ``X-Egov-Version``."""

from __future__ import annotations

import json

import httpx
import pytest

from devstack.services import SERVICES
from shared.platform.version import VERSION, VERSION_HEADER
from tests.conftest import ServiceFactory

pytestmark = pytest.mark.integration


def start_lines(log_text: str) -> list[dict[str, object]]:
    lines = []
    for raw in log_text.splitlines():
        if '"service_start"' in raw:
            lines.append(json.loads(raw[raw.index("{") :]))
    return lines


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_reports_its_version(service_factory: ServiceFactory, name: str) -> None:
    service = service_factory(name)
    health = httpx.get(f"{service.url}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json()["version"] == VERSION
    if name in ("ingest", "api"):
        assert health.headers[VERSION_HEADER] == VERSION
    (line,) = start_lines(service.process.log_path.read_text(errors="replace"))
    assert line["service"] == name and line["version"] == VERSION
    assert line["port"] == service.port and line["env"] == "development"
    assert "token" not in json.dumps(line).lower()
