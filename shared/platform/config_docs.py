"""docs/configuration.md and .env.example, generated from the settings models.

Every field of :class:`shared.platform.config.Settings` (and of the nested
:class:`~shared.platform.config.Topics`) is one ``EGOV_*`` variable: its type, its default
and its meaning — the field's ``description``, or else the comment block right above it in
the class. A field with neither stops the generator, so a setting cannot be added without
saying what it is for. The variables are grouped by settings section
(:data:`shared.platform.config.SECTIONS`, most basic first), each variable once, under the
most basic section that declares it, with the services that load that section.
``tests/unit/docs/test_config_docs.py`` fails when the committed files differ from what this
produces::

    python -m shared.platform.config_docs      # or: make config-docs
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import textwrap
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from shared.platform.config import (
    ENV_PREFIX,
    SECTIONS,
    AlertsSettings,
    ApiSettings,
    CalculatorSettings,
    IngestSettings,
    OpsSettings,
    PlatformSettings,
    Settings,
)
from shared.platform.exceptions import UndocumentedSetting

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = ROOT / "docs" / "configuration.md"
ENV_EXAMPLE = ROOT / ".env.example"


@dataclass(frozen=True)
class Variable:
    name: str  # EGOV_…
    type: str
    default: str  # as the variable would be written; "" = unset
    meaning: str
    secret: bool
    field: str = ""  # the settings field it comes from ("topics" for EGOV_TOPIC_*)


# Which process loads which section (`load(Section)` in its entry point; the test checks
# the code): a section is read by every process whose own section derives from it.
SERVICES: tuple[tuple[str, type[PlatformSettings]], ...] = (
    ("ingest", IngestSettings),
    ("api", ApiSettings),
    ("calculator", CalculatorSettings),
    ("alerts", AlertsSettings),
    ("egov", OpsSettings),
)


def readers(section: type[PlatformSettings]) -> list[str]:
    """The processes that load ``section`` (theirs or one derived from it)."""
    return [name for name, own in SERVICES if issubclass(own, section)]


def field_readers(field: str) -> list[str]:
    """The processes whose section holds the settings field ``field``."""
    return [name for name, own in SERVICES if field in own.model_fields]


def section_of(field: str) -> type[PlatformSettings]:
    """The most basic section (first of SECTIONS) that declares ``field``."""
    return next(section for section in SECTIONS if field in section.model_fields)


def by_section() -> list[tuple[type[PlatformSettings], list[Variable]]]:
    """Each section of SECTIONS with the variables it is the most basic holder of, in the
    section's declaration order; together every variable of Settings, each once."""
    return [
        (section, [v for v in variables(section) if section_of(v.field) is section])
        for section in SECTIONS
    ]


# Deployment variables docker-compose.yml reads that are no service setting.
COMPOSE_ONLY = (
    Variable(
        "EGOV_ALERTMANAGER_TOKEN",
        "secret",
        "",
        "Token with the operate scope that Alertmanager presents to the alerts service's "
        "webhook (a compose secret; Docker Compose ≥ 2.23). Issue it in EGOV_TOKENS.",
        True,
    ),
    Variable(
        "GRAFANA_ADMIN_PASSWORD",
        "secret",
        "",
        "Grafana's admin password; compose's Grafana refuses an empty or `admin` one.",
        True,
    ),
)

# Read by the local stack (devstack) or straight from the environment, not by Settings.
OTHER_VARIABLES = (
    ("EGOV_PROMETHEUS_PORT", "int", "9090", "Local stack: Prometheus' port."),
    ("EGOV_ALERTMANAGER_PORT", "int", "a free port", "Local stack: Alertmanager's port."),
    (
        "EGOV_KAFKA_CONTROLLER_PORT",
        "int",
        "Kafka port + 1",
        "Local stack: the KRaft controller's port.",
    ),
    ("EGOV_RUN_DIR", "path", "`.run`", "Local stack: pids, logs, data and `stack.env`."),
    (
        "EGOV_PDF_FONT_DIR",
        "path",
        "Debian's `fonts-dejavu-core`",
        "API: directory holding `DejaVuSans.ttf` and `DejaVuSans-Bold.ttf` for the PDFs.",
    ),
    (
        "EGOV_AGENCIES_CSV",
        "path",
        "`shared/domain/data/agencies-an-giang.csv`",
        "Agency catalog a service seeds an empty Redis with, and `egov catalog load-agencies` "
        "loads without a file: An Giang in time (the catalog in Redis replaces it).",
    ),
    (
        "EGOV_TARGETS_CSV",
        "path",
        "`shared/domain/data/targets.csv`",
        "Targets file (domain §6).",
    ),
)


def _comments_above(model: type[BaseModel]) -> dict[str, str]:
    """Field name → the comment lines right above its declaration in the class body."""
    source = textwrap.dedent(inspect.getsource(model))
    lines = source.splitlines()
    (cls,) = [n for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]
    found: dict[str, str] = {}
    for node in cls.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            block: list[str] = []
            index = node.lineno - 2
            while index >= 0 and lines[index].strip().startswith("#"):
                block.insert(0, lines[index].strip().lstrip("#").strip())
                index -= 1
            if block:
                found[node.target.id] = " ".join(block)
    return found


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(a) for a in typing.get_args(annotation))


def _contains_secret(annotation: Any) -> bool:
    if _is_secret(annotation):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_contains_secret(f.annotation) for f in annotation.model_fields.values())
    return any(_contains_secret(a) for a in typing.get_args(annotation))


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Literal:
        return " | ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        inner = _type_name(args[0]) if len(args) == 1 else " | ".join(map(_type_name, args))
        return f"{inner}, optional"
    if origin is list:
        return f"JSON list of {_type_name(args[0])}"
    if origin is dict:
        return f"JSON object {_type_name(args[0])} → {_type_name(args[1])}"
    if annotation is SecretStr:
        return "secret"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"`{annotation.__name__}`"
    return getattr(annotation, "__name__", str(annotation))


def _plain(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "**********"
    if isinstance(value, BaseModel):
        return {k: _plain(v) for k, v in value.model_dump(exclude_defaults=True).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def variables(model: type[BaseSettings] = Settings, prefix: str = ENV_PREFIX) -> list[Variable]:
    """The environment variables of ``model``, in declaration order; nested settings models
    (``topics``) are expanded under their own prefix (``EGOV_TOPIC_``)."""
    comments = _comments_above(model)
    found: list[Variable] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            nested = annotation.model_config.get("env_prefix", f"{prefix}{name.upper()}_")
            found.extend(
                Variable(v.name, v.type, v.default, v.meaning, v.secret, field=name)
                for v in variables(annotation, nested)
            )
            continue
        meaning = field.description or comments.get(name)
        if not meaning:
            raise UndocumentedSetting(
                f"{model.__name__}.{name} has no description: add Field(description=...)"
            )
        found.append(
            Variable(
                name=f"{prefix}{name.upper()}",
                type=_type_name(annotation),
                default=_default(field),
                meaning=meaning,
                secret=_contains_secret(annotation),
                field=name,
            )
        )
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    if not text:
        return "unset"
    return f"`{text}`" if "`" not in text else f"``{text}``"


HEADER = """\
# Configuration

<!-- Generated by `python -m shared.platform.config_docs` (`make config-docs`) from the
settings models in shared/platform/config.py; tests/unit/docs/test_config_docs.py fails when
this file differs. Edit the models' descriptions, not this file. -->

Every setting of the services is an environment variable with the prefix `EGOV_`, read by
the settings models of [`shared/platform/config.py`](../shared/platform/config.py)
(pydantic-settings). An empty variable means unset. JSON-typed variables take JSON
(`EGOV_CORS_ORIGINS='["https://portal.example"]'`). Defaults are the local stack's
(loopback addresses, development ports). Deployment:
[operating.md](operating.md#production-settings); tokens and scopes:
[operating.md](operating.md#security). [`.env.example`](../.env.example) lists the same
variables for a `.env` beside `docker-compose.yml`.

The settings come in sections: every process reads `PlatformSettings`; the services that
check tokens (ingest, the API, alerts) add `AuthSettings`; each service loads only its own
section (`load(IngestSettings)`, …), so a variable of another service is never read,
validated or needed by it. `Settings` is every section at once, for the local stack and the
tests. Each variable is listed once, under the most basic section that declares it, with
the processes that read it (`egov`: the production commands, `services/ops`).

In `development` (`EGOV_ENV`, the default) and while `EGOV_TOKENS` is empty, unset tokens
fall back to the development ones (`dev-ingest-token`, `dev-read-token`,
`dev-admin-token`) and the webhook secret to `dev-webhook-secret`; `production` refuses
them at start (exit 78, naming the setting).
"""

TABLE_HEAD = ["| variable | type | default | meaning |", "|---|---|---|---|"]


def _summary(section: type[PlatformSettings]) -> str:
    """The first sentence of the section's docstring, on one line."""
    doc = " ".join((section.__doc__ or "").split())
    return doc.split(". ")[0].rstrip(".")


def _row(variable: Variable, also: list[str]) -> str:
    meaning = variable.meaning
    if also:
        meaning = f"{meaning} (also read by {', '.join(also)})"
    default = _code(_cell(variable.default))
    return f"| `{variable.name}` | {_cell(variable.type)} | {default} | {_cell(meaning)} |"


def _inherited(section: type[PlatformSettings], grouped: list[tuple[Any, list[Variable]]]) -> str:
    """What else ``section``'s processes read: whole sections, or single variables listed
    under another section."""
    parts: list[str] = []
    for other, own in grouped:
        held = [v for v in own if other is not section and v.field in section.model_fields]
        if held and len(held) == len(own):
            parts.append(f"[{other.__name__}](#{other.__name__.lower()})")
        elif held:
            names = ", ".join(f"`{v.name}`" for v in held)
            parts.append(f"{names} (under [{other.__name__}](#{other.__name__.lower()}))")
    verb = "It also reads" if len(readers(section)) == 1 else "They also read"
    return f" {verb} {', '.join(parts)}." if parts else ""


def _section_lines(
    section: type[PlatformSettings], own: list[Variable], grouped: list[tuple[Any, list[Variable]]]
) -> list[str]:
    read_by = readers(section)
    lines = [
        f"## {section.__name__}",
        "",
        f"{_summary(section)}. Read by: {', '.join(read_by)}.{_inherited(section, grouped)}",
        "",
    ]
    if not own:
        return [*lines, "No variables of its own.", ""]
    rows = [_row(v, [name for name in field_readers(v.field) if name not in read_by]) for v in own]
    return [*lines, *TABLE_HEAD, *rows, ""]


def markdown() -> str:
    grouped = by_section()
    sections = [line for s, own in grouped for line in _section_lines(s, own, grouped)]
    compose = [
        f"| `{v.name}` | {v.type} | {_code(v.default)} | {_cell(v.meaning)} |" for v in COMPOSE_ONLY
    ]
    other = [
        f"| `{name}` | {kind} | {default} | {meaning} |"
        for name, kind, default, meaning in OTHER_VARIABLES
    ]
    return "\n".join(
        [
            HEADER,
            *sections,
            "## Deployment (docker-compose.yml)",
            "",
            *TABLE_HEAD,
            *compose,
            "",
            "## Read outside the settings models",
            "",
            *TABLE_HEAD,
            *other,
            "",
        ]
    )


ENV_HEADER = """\
# egov-monitor settings for a .env file beside docker-compose.yml (or a service's
# environment). Generated by `python -m shared.platform.config_docs` (make config-docs)
# from shared/platform/config.py; meanings in docs/configuration.md.
#
# Every line is commented out: uncomment what you set. docker-compose.yml forwards the
# tokens, secrets, mail and alert settings (see its `environment:` blocks); set the others
# in the service's environment when running without compose. Secrets below are
# placeholders, never real values: give each a random value of at least 16 characters.
"""


def _placeholder(variable: Variable) -> str:
    name = variable.name.removeprefix(ENV_PREFIX).lower()
    if variable.name == "EGOV_INGEST_TOKENS":
        return '{"<source>": {"token": "<random token>", "agencies": ["<agency_code>"]}}'
    if variable.name == "EGOV_TOKENS":
        return '[{"name": "<name>", "sha256": "<hex sha256 of the token>", "scopes": ["read"]}]'
    return f"<{name.replace('_', '-')}>"


def _env_lines(variable: Variable) -> list[str]:
    lines = textwrap.wrap(
        variable.meaning,
        88,
        initial_indent="# ",
        subsequent_indent="# ",
        break_on_hyphens=False,
    )
    value = _placeholder(variable) if variable.secret else variable.default
    return [*lines, f"# {variable.name}={value}", ""]


def env_example() -> str:
    out = [ENV_HEADER]
    for section, own in by_section():
        if not own:
            continue
        out.append(f"# ---- {section.__name__} (read by {', '.join(readers(section))}) ----")
        out.append("")
        for variable in own:
            out.extend(_env_lines(variable))
    out.append("# ---- Deployment (docker-compose.yml) ----")
    out.append("")
    for variable in COMPOSE_ONLY:
        out.extend(_env_lines(variable))
    return "\n".join(out)


def main() -> None:
    MARKDOWN.parent.mkdir(parents=True, exist_ok=True)
    MARKDOWN.write_text(markdown(), encoding="utf-8")
    ENV_EXAMPLE.write_text(env_example(), encoding="utf-8")
    sys.stdout.write(f"wrote {MARKDOWN.relative_to(ROOT)} and {ENV_EXAMPLE.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
