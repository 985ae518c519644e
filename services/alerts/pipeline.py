"""The pipeline's own health, measured by the alerts service itself (not the calculator's
gauges): how many events wait in the event topics for the calculator's consumer group, and
how long its committed offsets have not moved while events wait.

While the pipeline is behind, silence of sources and agencies cannot be judged (their events
may be waiting unprocessed): the engine raises one ``pipeline_behind`` alert instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from shared.platform.lag_probe import LagProbe
from shared.store.client import RedisClient

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
    """Totals of the calculator group's end and committed offsets (``LagProbe``)."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.probe = LagProbe(bootstrap, group, topics, client_id="egov-alerts-pipeline")

    def measure_blocking(self) -> PipelineReading:
        offsets = self.probe.offsets().values()
        return PipelineReading(sum(e for e, _ in offsets), sum(d for _, d in offsets))

    async def __call__(self) -> PipelineReading:
        return await asyncio.to_thread(self.measure_blocking)

    def close(self) -> None:
        self.probe.close()


async def track_progress(redis: RedisClient, reading: PipelineReading, now: datetime) -> float:
    """Seconds the committed offsets have not moved while events wait (0 when nothing
    waits). Kept in Redis, by the alerts service's clock, so a restart keeps counting."""
    raw = await redis.hgetall(PROGRESS_KEY)
    fields = {(k.decode() if isinstance(k, bytes) else str(k)): float(v) for k, v in raw.items()}
    since = fields.get("since")
    if reading.lag == 0 or since is None or fields.get("committed") != reading.committed:
        since = now.timestamp()
        await redis.hset(PROGRESS_KEY, mapping={"committed": reading.committed, "since": since})
    return 0.0 if reading.lag == 0 else max(0.0, now.timestamp() - since)
