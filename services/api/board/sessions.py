"""Board sessions: the cookie holds an opaque random id, never a token; Redis keeps what it
stands for — the digest of the token that signed in — for ``EGOV_BOARD_SESSION_TTL_S``.

Redis rather than this process's memory: every API process (and replica behind a load
balancer) sees the same sessions, a restart signs nobody out, and logging out in one
process ends the session everywhere. The board reads its figures from Redis anyway, so
this adds no dependency; Redis down means 503, as for the figures. The key is the SHA-256
of the id (``board:session:<hex>``): a copy of Redis holds no usable cookie. Each request
looks the digest up among the tokens in force, so a token withdrawn from the configuration
ends its sessions at the next restart."""

from __future__ import annotations

import secrets

from shared.platform.tokens import TokenBook, TokenSpec, digest
from shared.store.client import RedisClient

SESSION_PREFIX = "board:session:"
SESSION_ID_BYTES = 32  # 256 random bits, URL-safe base64 in the cookie


def session_key(session_id: str) -> str:
    return SESSION_PREFIX + digest(session_id)


class BoardSessions:
    def __init__(self, redis: RedisClient, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def open(self, spec: TokenSpec) -> str:
        """A new session for the token ``spec``; its id, for the cookie."""
        session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
        await self.redis.set(session_key(session_id), spec.sha256, ex=self.ttl_s)
        return session_id

    async def holder(self, session_id: str, tokens: TokenBook) -> TokenSpec | None:
        """The token in force behind ``session_id``; None when there is none (unknown or
        expired session, token withdrawn)."""
        if not session_id or len(session_id) > 128:
            return None
        raw = await self.redis.get(session_key(session_id))
        if raw is None:
            return None
        return tokens.by_digest(raw.decode() if isinstance(raw, bytes) else str(raw))

    async def close(self, session_id: str) -> None:
        if session_id and len(session_id) <= 128:
            await self.redis.delete(session_key(session_id))
