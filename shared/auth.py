"""Bearer-token checks for FastAPI: 401 when missing, 403 when unknown or lacking the
scope, 429 with Retry-After above the per-token rate. Tokens are never logged or echoed."""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, Request, status

from shared.tokens import Scope, TokenBook, TokenSpec


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


class RateLimiter:
    """Token bucket per token name, in this process (each instance limits on its own)."""

    def __init__(self, per_s: float, burst: int) -> None:
        self.per_s = per_s
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}

    def retry_after(self, name: str, now: float | None = None) -> float | None:
        """None when allowed (and counted); else seconds until the next request is."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(name, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.per_s)
        if tokens >= 1:
            self._buckets[name] = (tokens - 1, now)
            return None
        self._buckets[name] = (tokens, now)
        return (1 - tokens) / self.per_s


def authorize(
    request: Request, book: TokenBook, scope: Scope, limiter: RateLimiter | None = None
) -> TokenSpec:
    spec = book.identify(bearer_token(request))
    if spec is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"field": "Authorization", "reason": "token not valid for this service"},
        )
    if scope not in spec.scopes:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"field": "Authorization", "reason": f"token lacks the '{scope}' scope"},
        )
    if limiter is not None and (wait := limiter.retry_after(spec.name)) is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail={"field": "Authorization", "reason": "rate limit exceeded for this token"},
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    return spec
