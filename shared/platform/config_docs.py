"""docs/configuration.md and .env.example, generated from the settings models.

Every field of :class:`shared.platform.config.Settings` (and of the nested
:class:`~shared.platform.config.Topics`) is one ``EGOV_*`` variable: its type, its default
and its meaning — the field's ``description``, or else the comment block right above it in
the class. A field with neither stops the generator, so a setting cannot be added without
saying what it is for. ``tests/unit/test_config_docs.py`` fails when the committed files
differ from what this produces::

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

from shared.platform.config import ENV_PREFIX, Settings
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
        "`shared/domain/data/agencies.csv`",
        "Agency catalog a service starts from (the catalog in Redis replaces it).",
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
            found.extend(variables(annotation, nested))
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
settings models in shared/platform/config.py; tests/unit/test_config_docs.py fails when this
file differs. Edit the models' descriptions, not this file. -->

Every setting of the services is an environment variable with the prefix `EGOV_`, read by
[`Settings`](../shared/platform/config.py) (pydantic-settings). An empty variable means
unset. JSON-typed variables take JSON (`EGOV_CORS_ORIGINS='["https://portal.example"]'`).
Defaults are the local stack's (loopback addresses, development ports). Deployment:
[operating.md](operating.md#production-settings); tokens and scopes:
[operating.md](operating.md#security). [`.env.example`](../.env.example) lists the same
variables for a `.env` beside `docker-compose.yml`.

In `development` (`EGOV_ENV`, the default) and while `EGOV_TOKENS` is empty, unset tokens
fall back to the development ones (`dev-ingest-token`, `dev-read-token`,
`dev-admin-token`) and the webhook secret to `dev-webhook-secret`; `production` refuses
them at start (exit 78, naming the setting).
"""


def markdown() -> str:
    rows = [
        f"| `{v.name}` | {_cell(v.type)} | {_code(_cell(v.default))} | {_cell(v.meaning)} |"
        for v in variables()
    ]
    compose = [
        f"| `{v.name}` | {v.type} | {_code(v.default)} | {_cell(v.meaning)} |" for v in COMPOSE_ONLY
    ]
    other = [
        f"| `{name}` | {kind} | {default} | {meaning} |"
        for name, kind, default, meaning in OTHER_VARIABLES
    ]
    head = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    return "\n".join(
        [
            HEADER,
            "## Services",
            "",
            *head,
            *rows,
            "",
            "## Deployment (docker-compose.yml)",
            "",
            *head,
            *compose,
            "",
            "## Read outside the settings models",
            "",
            *head,
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


def env_example() -> str:
    out = [ENV_HEADER]
    for variable in [*variables(), *COMPOSE_ONLY]:
        out.extend(
            textwrap.wrap(
                variable.meaning,
                88,
                initial_indent="# ",
                subsequent_indent="# ",
                break_on_hyphens=False,
            )
        )
        value = _placeholder(variable) if variable.secret else variable.default
        out.append(f"# {variable.name}={value}")
        out.append("")
    return "\n".join(out)


def main() -> None:
    MARKDOWN.parent.mkdir(parents=True, exist_ok=True)
    MARKDOWN.write_text(markdown(), encoding="utf-8")
    ENV_EXAMPLE.write_text(env_example(), encoding="utf-8")
    sys.stdout.write(f"wrote {MARKDOWN.relative_to(ROOT)} and {ENV_EXAMPLE.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
