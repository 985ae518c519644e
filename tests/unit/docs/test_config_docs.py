"""docs/configuration.md and .env.example are what the settings models generate
(``python -m shared.platform.config_docs``, ``make config-docs``): a setting added, renamed,
re-defaulted or re-described without regenerating them fails here, and so does a setting
without a description."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from devstack.stack import StackSettings
from shared.platform import config_docs
from shared.platform.config import ENV_PREFIX, SECTIONS, Settings, Topics
from shared.platform.exceptions import UndocumentedSetting

ROOT = Path(__file__).resolve().parents[3]
REGENERATE = "run `make config-docs` (python -m shared.platform.config_docs) and commit"


def test_configuration_page_is_generated_from_the_models() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == config_docs.markdown(), f"docs/configuration.md drifted: {REGENERATE}"


def test_env_example_is_generated_from_the_models() -> None:
    committed = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert committed == config_docs.env_example(), f".env.example drifted: {REGENERATE}"


def test_every_setting_is_documented_with_its_default_and_meaning() -> None:
    page = config_docs.markdown()
    names = [v.name for v in config_docs.variables()]
    expected = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} - {"EGOV_TOPICS"}
    expected |= {f"{ENV_PREFIX}TOPIC_{name.upper()}" for name in Topics.model_fields}
    assert set(names) == expected and len(names) == len(expected)
    for variable in config_docs.variables():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{variable.name}` |"))
        assert variable.meaning and len(row.split(" | ")) == 4, row
    port = next(v for v in config_docs.variables() if v.name == "EGOV_API_PORT")
    assert port.default == str(Settings().api_port) and port.type == "int"


def test_secrets_get_placeholders_never_values() -> None:
    text = config_docs.env_example()
    secrets = [v for v in config_docs.variables() if v.secret]
    assert {
        "EGOV_READ_TOKEN",
        "EGOV_ADMIN_TOKEN",
        "EGOV_WEBHOOK_SECRET",
        "EGOV_SMTP_PASSWORD",
        "EGOV_INGEST_TOKENS",
    } <= {v.name for v in secrets}
    for line in text.splitlines():
        # every assignment is commented out: copying the file sets nothing by accident
        assert not re.match(r"^[A-Z_]+=", line), line
    for variable in [*secrets, *config_docs.COMPOSE_ONLY]:
        (line,) = [ln for ln in text.splitlines() if ln.startswith(f"# {variable.name}=")]
        value = line.split("=", 1)[1]
        assert "<" in value and ">" in value, line
    assert "dev-read-token" not in re.sub(r"^# (?!EGOV_).*$", "", text, flags=re.M)


def test_a_setting_without_a_description_stops_the_generator() -> None:
    class Example(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="EGOV_")

        # A commented setting counts as described.
        commented: int = 1
        described: SecretStr | None = Field(None, description="a secret")
        bare: str = "x"

    with pytest.raises(UndocumentedSetting, match=r"Example\.bare"):
        config_docs.variables(Example)

    class Described(BaseSettings):
        # Before the fields: not the description of any.

        commented: int = 1
        described: SecretStr | None = Field(None, description="a secret")

    with pytest.raises(UndocumentedSetting, match=r"Described\.commented"):
        config_docs.variables(Described)

    class Fine(BaseSettings):
        # How many.
        commented: int = 1
        described: SecretStr | None = Field(None, description="a secret")

    found = {v.name: v for v in config_docs.variables(Fine)}
    assert found["EGOV_COMMENTED"].meaning == "How many." and found["EGOV_COMMENTED"].default == "1"
    assert found["EGOV_DESCRIBED"].secret and found["EGOV_DESCRIBED"].default == ""


def test_every_variable_the_code_reads_is_on_the_page() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    read = {f"{ENV_PREFIX}{name.upper()}" for name in StackSettings.model_fields}
    pattern = re.compile(r"environ(?:\.get)?[(\[]\s*\"(EGOV_[A-Z0-9_]+)\"")
    for package in ("shared", "services", "devstack", "simulator"):
        for path in (ROOT / package).rglob("*.py"):
            read |= set(pattern.findall(path.read_text(encoding="utf-8")))
    assert "EGOV_PDF_FONT_DIR" in read and "EGOV_RUN_DIR" in read
    missing = sorted(name for name in read if f"`{name}`" not in page)
    assert not missing, f"read by the code but not in docs/configuration.md: {missing}"


def test_every_compose_variable_is_in_env_example() -> None:
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose)) - {"GF_SECURITY_ADMIN_PASSWORD"}
    secrets = set(re.findall(r"environment: ([A-Z][A-Z0-9_]*)", compose))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    missing = sorted(n for n in used | secrets if f"# {n}=" not in example)
    assert not missing, f"docker-compose.yml reads {missing}, .env.example does not list them"


def _page_sections(page: str) -> dict[str, list[str]]:
    """``## heading`` → the variables of the rows under it."""
    found: dict[str, list[str]] = {}
    heading = ""
    for line in page.splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
            found[heading] = []
        elif match := re.match(r"^\| `([A-Z][A-Z0-9_]*)` \|", line):
            found.setdefault(heading, []).append(match.group(1))
    return found


def test_each_variable_appears_exactly_once_under_its_most_basic_section() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rows = [name for names in _page_sections(page).values() for name in names]
    listed = [
        *(v.name for v in config_docs.variables()),
        *(v.name for v in config_docs.COMPOSE_ONLY),
        *(name for name, *_ in config_docs.OTHER_VARIABLES),
    ]
    assert sorted(rows) == sorted(listed), "a variable is missing from or repeated on the page"
    assert len(set(rows)) == len(rows), [n for n in rows if rows.count(n) > 1]
    sections = _page_sections(page)
    assert [s.__name__ for s in SECTIONS] == [h for h in sections if h.endswith("Settings")]
    for variable in config_docs.variables():
        # the first section of SECTIONS (most basic first) whose model holds the field
        home = next(s for s in SECTIONS if variable.field in s.model_fields)
        assert variable.name in sections[home.__name__], (variable.name, home.__name__)
    assert "EGOV_REDIS_URL" in sections["PlatformSettings"]
    assert "EGOV_TRUSTED_PROXIES" in sections["AuthSettings"]
    assert "EGOV_DASHBOARD_URL" in sections["ApiSettings"]  # also AlertsSettings'
    assert "EGOV_SNAPSHOT_DIR" in sections["CalculatorSettings"]  # also OpsSettings'
    # the .env.example: each variable assigned once too
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    assigned = re.findall(r"^# ([A-Z][A-Z0-9_]*)=", example, flags=re.M)
    assert len(assigned) == len(set(assigned))


def test_each_section_names_the_processes_that_load_it() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    entry_points = {
        "ingest": "services/ingest",
        "api": "services/api",
        "calculator": "services/calculator",
        "alerts": "services/alerts",
        "egov": "services/ops",
    }
    for service, section in config_docs.SERVICES:
        code = "".join(
            path.read_text(encoding="utf-8")
            for path in (ROOT / entry_points[service]).rglob("*.py")
        )
        assert f"load({section.__name__})" in code, (service, section.__name__)
    assert config_docs.readers(SECTIONS[0]) == [name for name, _ in config_docs.SERVICES]
    for section in SECTIONS:
        block = page.split(f"## {section.__name__}\n", 1)[1].split("\n## ", 1)[0]
        assert f"Read by: {', '.join(config_docs.readers(section))}." in block
    row = next(ln for ln in page.splitlines() if ln.startswith("| `EGOV_DASHBOARD_URL` |"))
    assert "also read by alerts" in row
