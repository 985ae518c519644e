"""Alert state, history and the notification outbox in Redis.

A state change, its history entry and the notifications it causes are written in one
atomic block (``AtomicBlock``: one script on the ``{alerts}`` slot), so a crash never
leaves an alert changed without its messages queued (or the reverse). The outbox is a
sorted set of notification ids scored by their next attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.alerts.model import Alert, AlertState, Notification
from shared.store.client import AtomicBlock, Key, RedisClient

# One hash tag for every alert and outbox key: the MULTI/EXEC blocks stay on one Redis
# Cluster slot (alerts are few; one slot holds them all).
ALERT_PREFIX = "alert:{alerts}:"
INDEX = "alerts:{alerts}:index"
HISTORY = "alerts:{alerts}:history"
QUEUE = "outbox:{alerts}:queue"
ITEM_PREFIX = "outbox:{alerts}:item:"
FAILED = "outbox:{alerts}:failed"
LOCK_PREFIX = "outbox:{alerts}:lock:"
HISTORY_MAXLEN = 100_000


def queue_notification(block: AtomicBlock, note: Notification, at: datetime) -> None:
    """Queue a notification once (its id: a repeat changes nothing) in ``block``."""
    block.add("SET", Key(ITEM_PREFIX + note.id), note.model_dump_json(), "NX")
    block.add("ZADD", Key(QUEUE), "NX", repr(at.timestamp()), note.id)


class AlertStore:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def get(self, key: str) -> Alert | None:
        raw = await self.redis.get(ALERT_PREFIX + key)
        return None if raw is None else Alert.model_validate_json(raw)

    async def save(
        self, alert: Alert, notifications: Sequence[Notification] = (), changed: bool = False
    ) -> None:
        block = AtomicBlock()
        block.add("SET", Key(ALERT_PREFIX + alert.key), alert.model_dump_json())
        block.add("SADD", Key(INDEX), alert.key)
        if changed:
            block.add(
                "XADD", Key(HISTORY), "MAXLEN", "~", HISTORY_MAXLEN, "*",
                "alert", alert.model_dump_json(),
            )  # fmt: skip
        for note in notifications:
            queue_notification(block, note, note.queued_at)
        await block.execute(self.redis)

    async def all(self) -> list[Alert]:
        keys = sorted(
            k.decode() if isinstance(k, bytes) else str(k) for k in await self.redis.smembers(INDEX)
        )
        if not keys:
            return []
        raws = await self.redis.mget([ALERT_PREFIX + k for k in keys])
        return [Alert.model_validate_json(r) for r in raws if r is not None]

    async def firing(self) -> list[Alert]:
        return [a for a in await self.all() if a.state is AlertState.firing]

    async def history(self, key: str | None = None, count: int = 100) -> list[Alert]:
        entries = await self.redis.xrevrange(HISTORY, count=count if key is None else 10 * count)
        out = [Alert.model_validate_json(fields[b"alert"]) for _, fields in entries or [] if fields]
        return [a for a in out if key is None or a.key == key][:count]


class Outbox:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def due(self, now: datetime, limit: int = 50) -> list[str]:
        ids = await self.redis.zrangebyscore(QUEUE, "-inf", now.timestamp(), start=0, num=limit)
        return [i.decode() if isinstance(i, bytes) else str(i) for i in ids]

    async def claim(self, note_id: str, lease_s: float = 60.0) -> Notification | None:
        """Take a notification for sending; None if another sender holds it or it is gone.
        A sender that dies mid-send leaves the lease to expire: the next one resends."""
        lease_ms = max(1, int(lease_s * 1000))
        if not await self.redis.set(LOCK_PREFIX + note_id, 1, nx=True, px=lease_ms):
            return None
        raw = await self.redis.get(ITEM_PREFIX + note_id)
        if raw is None:
            await self.redis.zrem(QUEUE, note_id)
            return None
        return Notification.model_validate_json(raw)

    async def done(self, note: Notification) -> None:
        block = AtomicBlock().add("ZREM", Key(QUEUE), note.id)
        block.add("DEL", Key(ITEM_PREFIX + note.id), Key(LOCK_PREFIX + note.id))
        await block.execute(self.redis)

    async def retry_later(self, note: Notification, next_at: datetime) -> None:
        note = note.model_copy(update={"attempts": note.attempts + 1})
        block = AtomicBlock().add("SET", Key(ITEM_PREFIX + note.id), note.model_dump_json())
        block.add("ZADD", Key(QUEUE), repr(next_at.timestamp()), note.id)
        block.add("DEL", Key(LOCK_PREFIX + note.id))
        await block.execute(self.redis)

    async def give_up(self, note: Notification, reason: str) -> None:
        block = AtomicBlock().add("ZREM", Key(QUEUE), note.id)
        block.add("RPUSH", Key(FAILED), note.model_copy(update={"body": reason}).model_dump_json())
        block.add("DEL", Key(ITEM_PREFIX + note.id), Key(LOCK_PREFIX + note.id))
        await block.execute(self.redis)

    async def depth(self) -> int:
        return int(await self.redis.zcard(QUEUE))
