"""One release number, reported everywhere (issue 23 item 3): the package metadata,
``egov --version``, ``/healthz`` and the ``X-Egov-Version`` header of ingest and the API all
say what ``shared/platform/version.py`` says, and CHANGELOG.md's latest entry names it.
The Faust services' /healthz and every service's start log line are checked on the real
processes in ``tests/integration/test_service_versions.py``."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.api.app import create_app as create_api
from services.ingest.app import create_app as create_ingest
from services.ops.cli import app as egov
from shared.platform.config import Settings
from shared.platform.version import VERSION, VERSION_HEADER

ROOT = Path(__file__).resolve().parents[3]
ENTRY = re.compile(r"^## \[(?P<version>[^\]]+)\] — (?P<date>\d{4}-\d{2}-\d{2})$", re.M)
NOWHERE = dict(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")


def changelog_versions() -> list[str]:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    return [m["version"] for m in ENTRY.finditer(text)]


def test_the_version_is_semantic_and_the_changelogs_latest_entry() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION
    versions = changelog_versions()
    assert versions, "CHANGELOG.md has no '## [x.y.z] — YYYY-MM-DD' entry"
    assert versions[0] == VERSION, f"CHANGELOG.md's latest entry is {versions[0]}"
    # newest first, each once
    keys = [tuple(map(int, v.split("."))) for v in versions]
    assert keys == sorted(set(keys), reverse=True), versions


def test_each_release_says_how_to_upgrade() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    entries = ENTRY.split(text)[1:]
    # split yields (version, date, body) triples
    for version, body in zip(entries[0::3], entries[2::3], strict=True):
        assert "### Upgrade" in body, f"{version}: no upgrade steps"


def test_the_package_takes_its_version_from_the_one_source() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in pyproject["project"]
    assert "version" in pyproject["project"]["dynamic"]
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "shared.platform.version.VERSION"


def test_egov_version() -> None:
    result = CliRunner().invoke(egov, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"egov-monitor {VERSION}"


@pytest.fixture(scope="module")
def ingest() -> Iterator[TestClient]:
    with TestClient(create_ingest(Settings(**NOWHERE))) as client:  # type: ignore[arg-type]
        yield client


@pytest.fixture(scope="module")
def api() -> Iterator[TestClient]:
    with TestClient(create_api(Settings(**NOWHERE))) as client:  # type: ignore[arg-type]
        yield client


@pytest.mark.parametrize("service", ["ingest", "api"])
def test_healthz_reports_the_version(service: str, ingest: TestClient, api: TestClient) -> None:
    client = ingest if service == "ingest" else api
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "version": VERSION}
    assert resp.headers[VERSION_HEADER] == VERSION
    assert client.get("/openapi.json").json()["info"]["version"] == VERSION


def test_every_ingest_response_carries_the_version(ingest: TestClient) -> None:
    answers = [
        ingest.post("/v1/events", content=b"[]"),  # no token: 401
        ingest.post("/v1/events", content=b"[", headers={"Authorization": "Bearer x"}),
        ingest.get("/nowhere"),  # 404
        ingest.get("/metrics"),
    ]
    assert [a.status_code for a in answers][:3] == [401, 403, 404]
    for resp in answers:
        assert resp.headers.get(VERSION_HEADER) == VERSION, resp.status_code


def test_every_api_response_carries_the_version(api: TestClient) -> None:
    answers = {
        "unauthorized": api.get("/v1/agencies"),
        "not found": api.get("/nowhere"),
        "too large": api.post(
            "/v1/reconciliations",
            content=b"x" * 10,
            headers={"content-length": str(10**9), "content-type": "application/json"},
        ),
        "public page without Redis": api.get("/public/ket-qua"),
        "static": api.get("/static/site.css"),
    }
    assert answers["unauthorized"].status_code == 401
    assert answers["not found"].status_code == 404
    assert answers["too large"].status_code == 413
    for name, resp in answers.items():
        assert resp.headers.get(VERSION_HEADER) == VERSION, (name, resp.status_code)
