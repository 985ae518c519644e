"""Bearer-token checks for FastAPI: 401 when missing, 403 when unknown or lacking the
scope, 429 with Retry-After above the per-token rate, and after too many failed
authentications in a minute (:class:`FailureLimiter`: per address and token, and per
address for tokens not already used from it). Tokens are never logged or echoed."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Hashable
from typing import TypeVar

from fastapi import FastAPI, HTTPException, Request, status
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shared.platform.tokens import Scope, TokenBook, TokenSpec, digest

_K = TypeVar("_K", bound=Hashable)
NO_CREDENTIAL = "-"  # no token presented (or a caller that does not say which)


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
    """Failed authentications (no token, an unknown token, a board cookie without a
    session) over a sliding window (a minute), in this process. A *credential* is a
    fingerprint of what was presented (:func:`credential_of`), never the token.

    - Per address and credential: at ``per_minute`` failures of the same credential, that
      credential from that address is refused (429) until the oldest failure leaves the
      window. One misconfigured client behind a shared gateway blocks itself only, not the
      valid tokens of the other clients behind it.
    - Per address: at ``per_minute`` different failing credentials in the window (someone
      guessing), the address is refused for every credential that has not authenticated
      from it in the last ``known_s`` — a right guess gets the same 429 as a wrong one,
      while the sources already working from there keep working."""

    def __init__(
        self,
        per_minute: int,
        window_s: float = 60.0,
        max_clients: int = 100_000,
        known_s: float = 3600.0,
        known_per_client: int = 1000,
    ):
        self.per_minute = max(1, per_minute)
        self.window_s = window_s
        self.max_clients = max_clients
        self.known_s = known_s
        self.known_per_client = known_per_client
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._guesses: dict[str, deque[float]] = {}  # a new failing credential, per address
        self._known: dict[str, dict[str, float]] = {}  # address → credential → last success

    def _recent(self, table: dict[_K, deque[float]], key: _K, now: float) -> deque[float] | None:
        times = table.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del table[key]
            return None
        return times

    def _wait(self, table: dict[_K, deque[float]], key: _K, now: float) -> float | None:
        times = self._recent(table, key, now)
        if times is None or len(times) < self.per_minute:
            return None
        return times[0] + self.window_s - now

    def _known_here(self, client: str, credential: str, now: float) -> bool:
        seen = self._known.get(client, {}).get(credential)
        return seen is not None and seen > now - self.known_s

    def retry_after(
        self, client: str, credential: str = NO_CREDENTIAL, now: float | None = None
    ) -> float | None:
        """None when ``credential`` may be tried from ``client``; else seconds until then.
        (A caller that names no credential limits per address, as before.)"""
        now = time.monotonic() if now is None else now
        wait = self._wait(self._failures, (client, credential), now)
        if wait is not None:
            return wait
        guessing = self._wait(self._guesses, client, now)
        if guessing is not None and not self._known_here(client, credential, now):
            return guessing
        return None

    def failed(
        self, client: str, credential: str = NO_CREDENTIAL, now: float | None = None
    ) -> None:
        now = time.monotonic() if now is None else now
        key = (client, credential)
        if self._recent(self._failures, key, now) is None:  # a credential new in the window
            self._bounded(self._guesses, client, now).append(now)
        self._bounded(self._failures, key, now).append(now)

    def succeeded(
        self, client: str, credential: str = NO_CREDENTIAL, now: float | None = None
    ) -> None:
        """``credential`` authenticated from ``client``: it passes while the address is
        refused for guessing (only a valid token can be recorded here)."""
        now = time.monotonic() if now is None else now
        known = self._known.get(client)
        if known is None:
            if len(self._known) >= self.max_clients:
                self._known.pop(next(iter(self._known)))  # the oldest address
            known = self._known[client] = {}
        known.pop(credential, None)  # re-inserted last: the dict keeps recency order
        known[credential] = now
        if len(known) > self.known_per_client:
            known.pop(next(iter(known)))

    def _bounded(self, table: dict[_K, deque[float]], key: _K, now: float) -> deque[float]:
        """``table[key]``, made room for: at ``max_clients`` keys the expired ones go, then
        the oldest."""
        if key not in table and len(table) >= self.max_clients:
            for old in list(table)[: self.max_clients // 10]:  # oldest first
                self._recent(table, old, now)
            if len(table) >= self.max_clients:
                table.pop(next(iter(table)))
        return table.setdefault(key, deque())


def credential_of(token: str | None) -> str:
    """What the failure limit keys on: a fingerprint of the presented token (``-`` for
    none), never the token itself."""
    return NO_CREDENTIAL if token is None else digest(token)


def client_address(request: Request) -> str:
    """The client's address: the peer's, or — from a trusted proxy (``EGOV_TRUSTED_PROXIES``,
    :func:`trust_proxies`) — the one it forwarded."""
    return request.client.host if request.client else "unknown"


def trust_proxies(app: FastAPI, proxies: list[str]) -> None:
    """Put ``app`` behind ``proxies`` (addresses, CIDR networks, ``*``): from these peers the
    client address comes from ``X-Forwarded-For`` and the scheme from ``X-Forwarded-Proto``
    (uvicorn's middleware); from any other peer those headers are ignored. Added last, so
    it runs first."""
    if proxies:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=proxies)


def too_many_failures(wait: float) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail={
            "field": "Authorization",
            "reason": "too many failed authentications from this address",
        },
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def authorize(
    request: Request,
    book: TokenBook,
    scope: Scope,
    limiter: RateLimiter | None = None,
    failures: FailureLimiter | None = None,
) -> TokenSpec:
    client = client_address(request)
    presented: str | None = None
    missing: HTTPException | None = None
    try:
        presented = bearer_token(request)
    except HTTPException as exc:
        missing = exc
    credential = credential_of(presented)
    if failures is not None and (blocked := failures.retry_after(client, credential)) is not None:
        raise too_many_failures(blocked)
    if missing is not None or presented is None:
        if failures is not None:
            failures.failed(client, credential)
        raise missing or HTTPException(status.HTTP_401_UNAUTHORIZED)
    spec = book.identify(presented)
    if spec is None:
        if failures is not None:
            failures.failed(client, credential)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail={"field": "Authorization", "reason": "token not valid for this service"},
        )
    if failures is not None:
        failures.succeeded(client, credential)
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
