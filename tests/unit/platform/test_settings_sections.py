"""Settings per service: each service loads only its own section of the ``EGOV_*`` variables
(shared/platform/config.py); the union (``Settings``) is for the local stack and tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from shared.platform.config import (
    SECTIONS,
    AlertsSettings,
    ApiSettings,
    AuthSettings,
    CalculatorSettings,
    IngestSettings,
    OpsSettings,
    PlatformSettings,
    Settings,
    load,
)

ROOT = Path(__file__).resolve().parents[3]
OWN: dict[str, type[PlatformSettings]] = {
    "ingest": IngestSettings,
    "api": ApiSettings,
    "calculator": CalculatorSettings,
    "alerts": AlertsSettings,
    "ops": OpsSettings,
}
PREFIXES = ("ingest_", "api_", "calculator_", "alerts_", "smtp_", "board_", "snapshot_")


def names_used(service: str) -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "services" / service).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Name) and node.id.endswith("Settings"):
                found.add(node.id)
            elif isinstance(node, ast.alias) and node.name.endswith("Settings"):
                found.add(node.name)
            elif isinstance(node, ast.Name) and node.id == "get_settings":
                found.add(node.id)
    return found


@pytest.mark.parametrize("service", sorted(OWN))
def test_a_service_names_only_its_own_section(service: str) -> None:
    used = names_used(service)
    assert OWN[service].__name__ in used
    foreign = used - {OWN[service].__name__, "PlatformSettings", "AuthSettings", "BaseSettings"}
    assert not foreign, f"services/{service} uses {sorted(foreign)}"


@pytest.mark.parametrize("service", sorted(OWN))
def test_a_section_holds_no_other_services_variables(service: str) -> None:
    own_prefix = {
        "ingest": ("ingest_",),
        "api": ("api_", "board_"),
        "calculator": ("calculator_", "snapshot_"),
        "alerts": ("alerts_", "smtp_"),
        "ops": ("snapshot_",),
    }[service]
    fields = OWN[service].model_fields
    strangers = [
        f
        for f in fields
        if f.startswith(PREFIXES)
        and not f.startswith(own_prefix)
        and f not in AuthSettings.model_fields  # the token book and calculator_group: shared
    ]
    assert not strangers, f"{service} loads {strangers}"


def test_every_variable_belongs_to_a_section_and_has_a_meaning() -> None:
    sections = set().union(*(s.model_fields for s in SECTIONS))
    assert sections == set(Settings.model_fields)
    assert [f for f, info in Settings.model_fields.items() if not info.description] == []


def test_a_section_is_read_once_and_reads_its_own_variables(monkeypatch) -> None:
    monkeypatch.setenv("EGOV_INGEST_MAX_EVENTS", "7")
    monkeypatch.setenv("EGOV_ALERTS_DIGEST_HOUR", "9")

    class Fresh(IngestSettings):  # not cached by another test
        pass

    section = load(Fresh)
    assert section.ingest_max_events == 7
    assert not hasattr(section, "alerts_digest_hour")
    assert load(Fresh) is section
    assert issubclass(Fresh, PlatformSettings)
