"""Safe by default in production (``EGOV_ENV=production``): a service refuses to start with
a development token, the development webhook secret or an empty one, an ingest token
without its agency list, or SMTP credentials without STARTTLS. The message names the
setting, never the secret's value."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from pydantic import SecretStr

from shared.platform.config import (
    DEV_TOKENS,
    DEV_WEBHOOK_SECRET,
    ENV_PREFIX,
    AlertsSettings,
    AuthSettings,
    PlatformSettings,
)
from shared.platform.tokens import digest

# Shorter secrets are refused in production: they can be guessed.
MIN_SECRET_CHARS = 16
EX_CONFIG = 78
DEV_DIGESTS = frozenset(digest(t) for t in DEV_TOKENS)


def _secret_problem(name: str, value: SecretStr | None, *, required: bool) -> str | None:
    if value is None or not value.get_secret_value():
        return f"{name} is empty (set it to a secret of your own)" if required else None
    plain = value.get_secret_value()
    if plain in DEV_TOKENS or plain == DEV_WEBHOOK_SECRET:
        return f"{name} is a development value (set it to a secret of your own)"
    if len(plain) < MIN_SECRET_CHARS:
        return f"{name} is shorter than {MIN_SECRET_CHARS} characters"
    return None


def production_problems(settings: PlatformSettings, *, signs_webhooks: bool = False) -> list[str]:
    """What makes ``settings`` unsafe in production, one sentence per setting (empty: safe,
    or not production). ``signs_webhooks``: the service signs webhooks (alerts), so the
    webhook secret is required. A section without tokens (calculator, ops) holds no
    secret of the project's to check."""
    if settings.env != "production" or not isinstance(settings, AuthSettings):
        return []
    p = ENV_PREFIX
    found: list[str] = []
    for source, ingest in settings.ingest_tokens.items():
        name = f"{p}INGEST_TOKENS (source {source!r})"
        if problem := _secret_problem(name, ingest.token, required=True):
            found.append(problem)
        if not ingest.agencies:
            found.append(
                f'{name} has no agency list (give "agencies": [...], or ["*"] for every agency)'
            )
    for var, value in (("READ_TOKEN", settings.read_token), ("ADMIN_TOKEN", settings.admin_token)):
        if problem := _secret_problem(p + var, value, required=False):
            found.append(problem)
    for spec in settings.tokens:
        name = f"{p}TOKENS (token {spec.name!r})"
        if spec.sha256 in DEV_DIGESTS:
            found.append(f"{name} is the digest of a development token")
        if "ingest" in spec.scopes and not spec.agencies:
            found.append(
                f'{name} has the ingest scope but no agency list ("agencies": [...] or ["*"])'
            )
    smtp_login = isinstance(settings, AlertsSettings) and (
        settings.smtp_username or settings.smtp_password
    )
    if smtp_login and isinstance(settings, AlertsSettings) and not settings.smtp_starttls:
        found.append(
            f"{p}SMTP_USERNAME / {p}SMTP_PASSWORD are set but {p}SMTP_STARTTLS is false "
            "(the mail password would cross the network unencrypted)"
        )
    secret = f"{p}WEBHOOK_SECRET"
    if problem := _secret_problem(secret, settings.webhook_secret, required=signs_webhooks):
        found.append(problem)
    return found


def refuse_unsafe_production(
    settings: PlatformSettings, service: str, *, signs_webhooks: bool = False
) -> None:
    """A service's first step: in production, exit 78 (EX_CONFIG) naming each unsafe setting."""
    problems = production_problems(settings, signs_webhooks=signs_webhooks)
    if problems:
        print(refusal(service, problems), file=sys.stderr, flush=True)
        raise SystemExit(EX_CONFIG)


def refusal(service: str, problems: Iterable[str]) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f"{service}: refusing to start with EGOV_ENV=production / từ chối khởi động ở chế độ "
        f"vận hành (production) vì cấu hình không an toàn:\n{lines}"
    )
