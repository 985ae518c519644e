"""Bearer-token checks for FastAPI: 401 when missing, 403 when unknown or lacking the
scope, 429 with Retry-After above the per-token rate, and for a client address after too
many failed authentications in a minute. Tokens are never logged or echoed."""

from __future__ import annotations

import math
import time
from collections import deque

from fastapi import HTTPException, Request, status

from shared.platform.tokens import Scope, TokenBook, TokenSpec


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


class FailureLimiter:
    """Failed authentications (no token, unknown token) per client address over a sliding
    minute, in this process. At ``per_minute`` failures the address is refused (429, every
    token, so guesses cannot be told apart) until the oldest failure leaves the window."""

    def __init__(self, per_minute: int, window_s: float = 60.0, max_clients: int = 100_000):
        self.per_minute = max(1, per_minute)
        self.window_s = window_s
        self.max_clients = max_clients
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str, now: float | None = None) -> float | None:
        """None when the address may try; else seconds until it may again."""
        now = time.monotonic() if now is None else now
        times = self._recent(client, now)
        if times is None or len(times) < self.per_minute:
            return None
        return times[0] + self.window_s - now

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if client not in self._failures and len(self._failures) >= self.max_clients:
            for old in list(self._failures)[: self.max_clients // 10]:  # oldest first
                self._recent(old, now)
            if len(self._failures) >= self.max_clients:
                self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(now)


def client_address(request: Request) -> str:
    """The peer address (a proxy in front of the service is one address for everyone)."""
    return request.client.host if request.client else "unknown"


def authorize(
    request: Request,
    book: TokenBook,
    scope: Scope,
    limiter: RateLimiter | None = None,
    failures: FailureLimiter | None = None,
) -> TokenSpec:
    client = client_address(request)
    if failures is not None and (blocked := failures.retry_after(client)) is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail={
                "field": "Authorization",
                "reason": "too many failed authentications from this address",
            },
            headers={"Retry-After": str(max(1, math.ceil(blocked)))},
        )
    try:
        presented = bearer_token(request)
    except HTTPException:
        if failures is not None:
            failures.failed(client)
        raise
    spec = book.identify(presented)
    if spec is None:
        if failures is not None:
            failures.failed(client)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"field": "Authorization", "reason": "token not valid for this service"},
        )
    if not spec.allows(scope):
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
