"""Bearer-token checks for FastAPI: 401 when missing, 403 when wrong.

Tokens are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from fastapi import HTTPException, Request, status
from pydantic import SecretStr


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail={"field": "Authorization", "reason": "missing bearer token"},
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token.strip()


def match_token(token: str, known: Mapping[str, SecretStr]) -> str | None:
    """The name whose token equals ``token`` (all compared, constant time each)."""
    found: str | None = None
    for name, secret in known.items():
        if hmac.compare_digest(token.encode(), secret.get_secret_value().encode()):
            found = name
    return found


def require_token(request: Request, known: Mapping[str, SecretStr]) -> str:
    name = match_token(bearer_token(request), known)
    if name is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"field": "Authorization", "reason": "token not valid for this service"},
        )
    return name
