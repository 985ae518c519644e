"""What the calculator checks in Redis before it joins its consumer group.

- Redis answers: a Redis that is down or still loading its data is waited for (retries
  with backoff, logged), never worked around — the calculator would otherwise validate
  events against a catalog it cannot read.
- The current keyspace holds derived state of this code's layout
  (``shared.store.keys.LAYOUT_VERSION``): another version, or figures without any (every
  layout before the marker), and it refuses to start (exit 78, EX_CONFIG) naming
  ``egov rebuild`` — applying the log onto state it cannot read back would count every
  event again. An empty keyspace is this layout's from its first start on, and one this
  layout wrote before it recorded its version is recognised and marked.
"""

from __future__ import annotations

import asyncio
import re
import sys

from shared.platform.config import PlatformSettings
from shared.platform.logs import get_logger
from shared.store import keys as redis_keys
from shared.store.client import REDIS_UNAVAILABLE, RedisClient, redis_from_url
from shared.store.indicator_store import IndicatorStore

log = get_logger("calculator")

REBUILD_HINT = (
    "stop every calculator, run `egov rebuild` (re-derives every figure from offset 0 into "
    "a fresh keyspace, then switches readers over) and start the calculator again"
)


async def layout_problem(redis: RedisClient) -> str | None:
    """Why the current keyspace cannot be written by this code (None: it can); the
    calculator adds :data:`REBUILD_HINT`."""
    store = IndicatorStore(redis)
    found = await store.layout()
    if found == redis_keys.LAYOUT_VERSION:
        return None
    where = f"keyspace {await store.keyspace() or '(original)'!r}"
    if found is None:
        if not await store.has_derived_state() or await written_by_this_layout(redis, store):
            return None
        return (
            f"Redis holds figures ({where}) of an older layout that records no layout "
            f"version; this calculator reads and writes layout {redis_keys.LAYOUT_VERSION}, "
            "and re-applying the event log onto them would count every event twice"
        )
    newer = " (written by a newer release)" if found > redis_keys.LAYOUT_VERSION else ""
    return (
        f"Redis holds figures ({where}) of layout {found}{newer}; this calculator reads and "
        f"writes layout {redis_keys.LAYOUT_VERSION}"
    )


async def written_by_this_layout(
    redis: RedisClient, store: IndicatorStore, sample: int = 50
) -> bool:
    """Whether an unmarked keyspace was written by this layout before it recorded its
    version (deployments of layout 3 before the marker): its agencies have their own
    applied offsets (``applied:{agency}``, new with it) and its entity keys are bucket
    hashes (``ent:{agency}:d17``), where the layouts before it kept one key per entity
    (``ent:{agency}:d:<dossier id>``)."""
    ks = await store.keyspace()
    pattern = re.compile(rf"^{re.escape(ks)}ent:\{{[^}}]+\}}:(d|doc|wf)\d+$")
    names: list[str] = []
    async for key in redis.scan_iter(f"{ks}ent:*", count=1000):
        names.append(key.decode() if isinstance(key, bytes) else str(key))
        if len(names) >= sample:
            break
    if not names or not all(pattern.match(name) for name in names):
        return False
    for name in names:
        if await redis.type(name) not in (b"hash", "hash"):
            return False
    async for _ in redis.scan_iter(f"{ks}applied:{{*", count=1000):
        return True
    return False


async def wait_for_layout(redis: RedisClient, max_delay_s: float = 5.0) -> str | None:
    """Wait until Redis answers (down, or loading its data), then :func:`layout_problem`;
    an empty keyspace is marked with this layout."""
    delay = 0.2
    while True:
        try:
            if await redis.exists(redis_keys.RESTORE_FENCE):
                # a restore is replacing the database: start once it is done
                log.warning("restore_in_progress", retry_in=1.0)
                await asyncio.sleep(1.0)
                continue
            problem = await layout_problem(redis)
            if problem is None:
                await IndicatorStore(redis).mark_layout()
            return problem
        except REDIS_UNAVAILABLE as exc:
            log.warning("redis_wait", error=type(exc).__name__, retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)


async def _check(settings: PlatformSettings) -> str | None:
    redis = redis_from_url(settings.redis_url)
    try:
        return await wait_for_layout(redis)
    finally:
        await redis.aclose()


def check_redis_at_start(settings: PlatformSettings) -> None:
    """Exit (status 78) with the reason on stderr when Redis holds another layout; return
    once Redis answers with this one (or an empty keyspace)."""
    problem = asyncio.run(_check(settings))
    if problem is not None:
        log.error("layout_refused", reason=problem)
        print(f"refusing to start: {problem}: {REBUILD_HINT}", file=sys.stderr, flush=True)
        raise SystemExit(78)
