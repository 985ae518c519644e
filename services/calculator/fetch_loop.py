"""The calculator's fetch loop: whole fetches of the event topics as batches.

It runs in place of Faust's (``services.calculator.faust_adapter``): each fetch (up to
``broker_max_poll_records`` records) of the partitions still assigned is one batch,
decoded by ``prepare`` while earlier batches are applied, then started in fetch order on
the :class:`~services.calculator.checkpoint.Checkpoint`, which says when it is done and
commits it. Records of a partition no longer assigned are left to its new owner (it
reads from the committed offset); records of Faust's own topics go to Faust.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from services.calculator import garbage, metrics
from services.calculator.checkpoint import BatchInFlight, Checkpoint, Offsets
from services.calculator.faust_adapter import FaustConsumer
from shared.platform.logs import get_logger

log = get_logger("calculator.fetch")

Prepared = TypeVar("Prepared")


class FetchLoop(Generic[Prepared]):
    """Pulls whole fetches of ``topics``; ``prepare(records)`` then ``apply(prepared,
    batch)`` on each (``apply`` returns once Redis confirmed the batch)."""

    def __init__(
        self,
        consumer: FaustConsumer,
        topics: Iterable[str],
        checkpoint: Checkpoint,
        prepare: Callable[[list[Any]], Awaitable[Prepared]],
        apply: Callable[[Prepared, BatchInFlight], Awaitable[None]],
        *,
        stop_grace_s: float = 10.0,
        fetch_wait_ms: int | None = None,
    ) -> None:
        self.consumer = consumer
        self.topics = frozenset(topics)
        self.checkpoint = checkpoint
        self.prepare = prepare
        self.apply = apply
        self.stop_grace_s = stop_grace_s
        self.fetch_wait_ms = fetch_wait_ms
        self._wait_bounded = False

    def install(self) -> None:
        """Run in place of Faust's fetch loop; every revocation settles the checkpoint."""
        self.consumer.replace_fetch_loop(self.run)
        self.consumer.on_revoked(self.checkpoint.on_revoked)

    def bound_fetch_wait(self) -> None:
        if self.fetch_wait_ms is None:
            return
        bounded = self.consumer.bound_fetch_wait(self.fetch_wait_ms)
        if bounded != self._wait_bounded:
            self._wait_bounded = bounded
            metrics.FETCH_WAIT.set(self.fetch_wait_ms / 1000 if bounded else 0)
            log.info("fetch_wait", bounded=bounded, ms=self.fetch_wait_ms)

    async def run(self, fetcher: Any) -> None:
        # The worker's long-lived objects (Faust's, the catalogs) leave the collector's
        # generations, and the collector runs on the calculator's timer only
        # (services/calculator/garbage.py): not every few thousand allocations of records.
        garbage.take_over()
        self.bound_fetch_wait()
        consumer, checkpoint, topics = self.consumer, self.checkpoint, self.topics
        try:
            while not consumer.stopped(fetcher):
                records, active = await consumer.next_fetch(1.0)
                await asyncio.sleep(0)
                if not records or consumer.should_stop:
                    self.bound_fetch_wait()  # at the start, and if Faust made a new consumer
                    await checkpoint.when_idle()  # the last batches are committed too
                    continue
                # Records of a partition still ours are applied, even if fetched across a
                # rebalance: dropping them would leave a hole when Faust's seek to the
                # committed offsets came before this fetch returned; applying twice what
                # a seek re-reads is idempotent.
                assigned = consumer.assignment()
                batch: list[Any] = []
                first: Offsets = {}
                last: Offsets = {}
                for tp, recs in records.items():
                    if tp not in assigned or (active is not None and tp not in active):
                        continue
                    if tp.topic in topics:
                        batch += recs  # a partition's records come in offset order
                        first[tp] = recs[0].offset
                        last[tp] = recs[-1].offset
                    else:
                        await consumer.forward(tp, recs)
                    consumer.note_read(tp, recs[-1].offset)
                if not batch:
                    continue
                prepared = await self.prepare(batch)
                await checkpoint.make_room()
                checkpoint.start(first, last, functools.partial(self.apply, prepared))
                await checkpoint.note_finished()  # those done meanwhile
                await checkpoint.commit()
        except asyncio.CancelledError:
            await checkpoint.settle_within(self.stop_grace_s)
            raise
