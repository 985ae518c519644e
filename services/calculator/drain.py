"""The calculator's hot path: records pulled from Faust's consumer in whole fetches.

Faust hands a stream one record at a time: a message object, a loop turn, four sensor
callbacks and an ack per record were half of the calculator's CPU. The calculator stays a
Faust app (its agent subscribes the topics; group membership, rebalances, leader
election, timers and web stay Faust's), but its consumer's fetch loop is replaced by this
one, which takes each ``getmany`` result (up to ``broker_max_poll_records`` records) as
one batch:

- ``prepare`` (decoding, synchronous) runs while earlier batches are applied: up to
  ``depth`` batches in flight, started in fetch order and noted as applied in that order
  (``apply`` keeps their Redis writes in order: ``services.calculator.app``), so Redis is
  fed the next batch while this process still decodes, reads answers, commits;
- a batch's offsets are committed only after its ``apply`` returned (Redis confirmed),
  never by Faust's acks (nothing is tracked or acked), at most every
  ``commit_interval_s`` and always before partitions are revoked or the worker stops;
- a rebalance waits for the batches in flight (then commits them); records of a partition
  no longer assigned are left to its new owner, which reads from the committed offset;
- an ``apply`` that raises aborts the process (``on_failure``): nothing of the batch is
  committed, the restart re-reads it, and the idempotent script skips what was applied.

Records of other topics (Faust's leader topic) go through Faust's own callback.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

from faust.types import TP

from shared.platform.logs import get_logger

log = get_logger("calculator.drain")

Prepared = TypeVar("Prepared")
# (topic, partition) → offset of the batch's last record
Offsets = dict[tuple[str, int], int]


class BatchDrain(Generic[Prepared]):
    """Pulls whole fetches of ``topics`` and runs ``prepare`` then ``apply`` on them."""

    def __init__(
        self,
        app: Any,
        topics: Iterable[str],
        prepare: Callable[[list[Any]], Awaitable[Prepared]],
        apply: Callable[[Prepared], Awaitable[Offsets]],
        on_failure: Callable[[BaseException], None],
        *,
        commit_interval_s: float = 1.0,
        stop_grace_s: float = 10.0,
        depth: int = 1,
    ) -> None:
        self.app = app
        self.topics = frozenset(topics)
        self.prepare = prepare
        self.apply = apply
        self.on_failure = on_failure
        self.commit_interval_s = commit_interval_s
        self.stop_grace_s = stop_grace_s
        self.depth = depth
        # batches in flight, oldest first
        self._pending: collections.deque[asyncio.Future[Offsets]] = collections.deque()
        self._done: dict[Any, int] = {}  # TP → next offset to read (applied in Redis)
        self._committed: dict[Any, int] = {}
        self._committed_at = time.monotonic()
        self._commit_lock = asyncio.Lock()

    def install(self) -> None:
        """Replace the fetch loop of the app's consumer, and make every revocation wait
        for the batch in flight and commit it first."""
        self.app.consumer._drain_messages = self._drain
        self.app.on_partitions_revoked.connect(self._on_revoked)

    async def _on_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        await self.settle()

    async def settle(self) -> None:
        """Wait for the batches in flight and commit everything applied."""
        await self._finish_all()
        await self.commit(force=True)

    async def _finish_all(self) -> None:
        while self._pending:
            await self._finish()

    async def _finish(self) -> None:
        """Wait for the oldest batch in flight (the drain and a revocation may both wait
        for it: it stays in flight until done) and note its offsets as applied."""
        if not self._pending:
            return
        pending = self._pending[0]
        try:
            last = await asyncio.shield(pending)
        except asyncio.CancelledError:
            raise  # we are cancelled, the batch goes on: it stays in flight
        except BaseException as exc:
            self.on_failure(exc)
            raise
        if self._pending and self._pending[0] is pending:  # the first to see it done notes it
            self._pending.popleft()
            for (topic, partition), offset in last.items():
                tp = TP(topic, partition)
                self._done[tp] = max(self._done.get(tp, 0), offset + 1)

    async def commit(self, *, force: bool = False) -> None:
        """Commit the offsets of applied batches (at most every ``commit_interval_s``)."""
        if not force and time.monotonic() - self._committed_at < self.commit_interval_s:
            return
        async with self._commit_lock:
            offsets = {tp: o for tp, o in self._done.items() if self._committed.get(tp) != o}
            self._committed_at = time.monotonic()
            if not offsets:
                return
            consumer = self.app.consumer
            # Faust's commit path: drops partitions no longer assigned, flushes the
            # producer (dead letters are already confirmed), commits, notes the offsets
            await consumer._commit_offsets(offsets)
            self._committed.update(offsets)
            assigned = consumer.assignment()
            for tp in [tp for tp in self._done if tp not in assigned]:
                self._done.pop(tp, None)
                self._committed.pop(tp, None)

    async def _drain(self, fetcher: Any) -> None:
        # The worker's long-lived objects (Faust's, the catalogs) leave the collector's
        # generations: a full collection no longer walks them for every few batches of
        # short-lived records (a third of the decoding time otherwise).
        gc.collect()
        gc.freeze()
        consumer = self.app.consumer
        consumer_stopped = consumer._stopped.is_set
        fetcher_stopped = fetcher._stopped.is_set
        topics = self.topics
        try:
            while not (consumer_stopped() or fetcher_stopped()):
                records, active = await consumer._wait_next_records(1.0)
                await asyncio.sleep(0)
                if not records or consumer.should_stop:
                    while self._pending:  # idle: the last batches are committed too
                        await self._finish()
                        await self.commit()
                    continue
                # Records of a partition no longer assigned are the new owner's (it reads
                # from the committed offset). Those of a partition still ours are applied,
                # even if fetched across a rebalance: dropping them would leave a hole
                # when Faust's seek to the committed offsets came before this fetch
                # returned; applying twice what a seek re-reads is idempotent.
                assigned = consumer.assignment()
                batch: list[Any] = []
                for tp, recs in records.items():
                    if tp not in assigned or (active is not None and tp not in active):
                        continue
                    if tp.topic in topics:
                        batch += recs
                    else:
                        for rec in recs:
                            await consumer.callback(consumer._to_message(tp, rec))
                    consumer._read_offset[tp] = recs[-1].offset
                if not batch:
                    continue
                prepared = await self.prepare(batch)
                while len(self._pending) >= self.depth:
                    await self._finish()
                self._pending.append(asyncio.ensure_future(self.apply(prepared)))
                while self._pending and self._pending[0].done():  # done meanwhile: noted
                    await self._finish()
                await self.commit()
        except asyncio.CancelledError:
            # stopping or rebalancing: let the batch in flight finish (briefly) and commit
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self.settle(), self.stop_grace_s)
            raise
