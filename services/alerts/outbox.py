"""The notification outbox in Redis, and its delivery with retries.

A sorted set of notification ids scored by their next attempt. A notification is queued in
the same atomic block as the alert change that causes it (``state``), so a crash never
leaves one without the other. Delivery: what is due is leased, sent, and then done; a
failure its notifier calls retryable waits 1, 2, 4 … up to 300 s (``alerts_max_attempts``
in all); a final one (4xx, invalid URL or configuration) is given up at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from services.alerts.exceptions import DeliveryError
from services.alerts.metrics import GIVEN_UP, NOTIFICATIONS, OUTBOX_DEPTH
from services.alerts.model import Notification
from shared.platform.logs import get_logger
from shared.store.client import AtomicBlock, Key, RedisClient

log = get_logger("alerts.outbox")

QUEUE = "outbox:{alerts}:queue"
ITEM_PREFIX = "outbox:{alerts}:item:"
FAILED = "outbox:{alerts}:failed"
LOCK_PREFIX = "outbox:{alerts}:lock:"
MAX_BACKOFF_S = 300


class Block(Protocol):
    def add(self, *args: str | bytes | int | float | Key) -> object: ...


def queue_notification(block: Block, note: Notification, at: datetime) -> None:
    """Queue a notification once (its id: a repeat changes nothing) in ``block``."""
    block.add("SET", Key(ITEM_PREFIX + note.id), note.model_dump_json(), "NX")
    block.add("ZADD", Key(QUEUE), "NX", repr(at.timestamp()), note.id)


class Outbox:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def queue(self, notes: list[Notification], at: datetime) -> None:
        block = AtomicBlock()
        for note in notes:
            queue_notification(block, note, at)
        await block.execute(self.redis)

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

    async def failed(self) -> list[Notification]:
        """What was given up (its ``body`` replaced by the reason)."""
        raws = await self.redis.lrange(FAILED, 0, -1)
        return [Notification.model_validate_json(r) for r in raws]

    async def depth(self) -> int:
        return int(await self.redis.zcard(QUEUE))


async def deliver_due(
    outbox: Outbox,
    send: Callable[[Notification], Awaitable[None]],
    now: datetime,
    *,
    lease_s: float,
    max_attempts: int,
) -> int:
    """Send what is due; returns how many were sent."""
    sent = 0
    for note_id in await outbox.due(now):
        note = await outbox.claim(note_id, lease_s)
        if note is None:
            continue
        try:
            try:
                await send(note)
            except DeliveryError:
                raise
            except Exception as exc:  # a notifier's bug must not stall the outbox
                raise DeliveryError(type(exc).__name__, retry=True) from exc
        except DeliveryError as exc:
            attempts = note.attempts + 1
            channel = note.channel.value
            if not exc.retry or attempts >= max_attempts:
                reason = "attempts" if exc.retry else "final"
                await outbox.give_up(note, exc.reason)
                NOTIFICATIONS.labels(channel, "failed").inc()
                GIVEN_UP.labels(channel, reason).inc()
                log.warning(
                    "delivery_given_up", channel=channel, error=exc.reason, reason=reason,
                    attempts=attempts,
                )  # fmt: skip
            else:
                delay = min(MAX_BACKOFF_S, 2**note.attempts)
                await outbox.retry_later(note, now + timedelta(seconds=delay))
                NOTIFICATIONS.labels(channel, "retried").inc()
                log.warning("delivery_failed", channel=channel, error=exc.reason, attempts=attempts)
            continue
        await outbox.done(note)
        NOTIFICATIONS.labels(note.channel.value, "sent").inc()
        sent += 1
    OUTBOX_DEPTH.set(await outbox.depth())
    return sent
