"""Bearer tokens with scopes: ``ingest`` (limited to the sources and agencies it is issued
for), ``read``, ``operate`` (acknowledge and silence alerts) and ``admin`` (which implies
``read`` and ``operate``). Only SHA-256 digests are kept; a presented token is hashed and
compared with every digest in constant time. Tokens are never logged or echoed."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel, Field

Scope = Literal["ingest", "read", "operate", "admin"]
# Every agency: an ingest token of a source that speaks for all of them (a provincial
# gateway) must say so explicitly, ``"agencies": ["*"]``.
ALL_AGENCIES = "*"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenSpec(BaseModel):
    """One issued token (env ``EGOV_TOKENS``: a JSON list of these, with digests only)."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the token")
    scopes: list[Scope]
    sources: list[str] = Field(
        default_factory=list,
        description="ingest: allowed sources (none: the token's name is its only source)",
    )
    agencies: list[str] = Field(
        default_factory=list,
        description='ingest: allowed agencies ("*" = every agency; none = refused in production)',
    )

    def allows(self, scope: Scope) -> bool:
        """Whether the token may act in ``scope``; admin implies read and operate."""
        return scope in self.scopes or ("admin" in self.scopes and scope in ("read", "operate"))

    @property
    def default_source(self) -> str:
        """The source stamped on this token's events that name none."""
        return self.sources[0] if self.sources else self.name

    def allows_source(self, source: str) -> bool:
        """Ingest tokens write only their sources; a token issued without a list writes
        under its own name only (any other name would be a new source that can fall silent
        and raise an alert)."""
        return source in (self.sources or [self.name])

    def allows_agency(self, agency: str) -> bool:
        """Ingest tokens write only their agencies. No list at all is accepted in
        development only (every agency); production refuses to start with one."""
        return not self.agencies or ALL_AGENCIES in self.agencies or agency in self.agencies


class TokenBook:
    def __init__(self, specs: list[TokenSpec]) -> None:
        self.specs = specs

    def identify(self, token: str) -> TokenSpec | None:
        return self.by_digest(digest(token))

    def by_digest(self, presented: str) -> TokenSpec | None:
        """The token whose SHA-256 is ``presented`` (hex), if one is in force."""
        found: TokenSpec | None = None
        for spec in self.specs:  # every digest compared: no early exit to time
            if hmac.compare_digest(presented, spec.sha256):
                found = spec
        return found
