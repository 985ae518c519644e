"""The pipeline's own health, measured by the alerts service itself (not the calculator's
gauges): how many events wait in the event topics for the calculator's consumer group, and
how long its committed offsets have not moved while events wait.

While the pipeline is behind, silence of sources and agencies cannot be judged (their events
may be waiting unprocessed): the engine raises one ``pipeline_behind`` alert instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from redis.asyncio import Redis

PROGRESS_KEY = "alerts:pipeline:progress"


@dataclass(frozen=True)
class PipelineReading:
    """Totals over the event topics' partitions: events appended, and committed (processed)
    by the calculator's group; ``lag`` is what waits."""

    end: int
    committed: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class PipelineHealth:
    """What the engine concludes: ``measured`` False when Kafka could not be asked;
    ``behind`` while the ``pipeline_behind`` alert fires."""

    measured: bool
    behind: bool = False
    lag: int = 0
    stalled_s: float = 0.0


Measure = Callable[[], Awaitable[PipelineReading]]


class KafkaPipelineProbe:
    """End and committed offsets of the calculator's group (blocking clients, run in a
    thread); a partition without a committed offset counts from 0."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = topics
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def measure_blocking(self) -> PipelineReading:
        try:
            if self._admin is None or self._consumer is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    client_id="egov-alerts-pipeline",
                    request_timeout_ms=5000,
                )
                self._consumer = KafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    group_id=None,
                    client_id="egov-alerts-pipeline",
                    request_timeout_ms=5000,
                )
            committed = self._admin.list_group_offsets(self.group).get(self.group, {})
            parts = [
                TopicPartition(t, p)
                for t in self.topics
                for p in sorted(self._consumer.partitions_for_topic(t) or [])
            ]
            ends = self._consumer.end_offsets(parts) if parts else {}
        except Exception:
            self.close()  # reconnect next time
            raise
        end_total = done_total = 0
        for tp in parts:
            meta = committed.get(tp)
            end_total += ends[tp]
            done_total += min(ends[tp], meta.offset if meta is not None and meta.offset > 0 else 0)
        return PipelineReading(end_total, done_total)

    async def __call__(self) -> PipelineReading:
        return await asyncio.to_thread(self.measure_blocking)

    def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for client in (admin, consumer):
            if client is not None:
                with contextlib.suppress(Exception):  # already broken: nothing to release
                    client.close()


async def track_progress(redis: Redis, reading: PipelineReading, now: datetime) -> float:
    """Seconds the committed offsets have not moved while events wait (0 when nothing
    waits). Kept in Redis, by the alerts service's clock, so a restart keeps counting."""
    raw = await redis.hgetall(PROGRESS_KEY)
    fields = {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}
    since = fields.get("since")
    if reading.lag == 0 or since is None or fields.get("committed") != reading.committed:
        since = now.timestamp()
        await redis.hset(PROGRESS_KEY, mapping={"committed": reading.committed, "since": since})
    return 0.0 if reading.lag == 0 else max(0.0, now.timestamp() - since)
