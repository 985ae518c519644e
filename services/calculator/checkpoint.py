"""When a batch is done, and which offsets may be committed: the calculator's checkpoint.

A batch is a whole fetch of the event topics (``services.calculator.fetch_loop``). Up to
``depth`` batches are in flight at once, started in fetch order. For each:

- its script calls run after those of the batch before it returned (:meth:`BatchInFlight.
  wait_turn`, :meth:`BatchInFlight.scripts_returned`, called by ``IndicatorStore.
  apply_many``), so each agency's calls, claims and the central offsets keep the order of a
  single stream while the next batch is sent as soon as the previous one's scripts return;
- its gap floor (:meth:`BatchInFlight.gap_floor`) — the offsets before which everything
  must already be in Redis — is its first offsets, or an earlier batch's still applying
  (not yet applied: not a gap);
- it is done when its apply returned (Redis confirmed it): the batches are noted done in
  fetch order, so a later batch finishing first waits for the earlier ones; an apply that
  raises aborts (``on_failure``), and nothing of it or after it is noted;
- the offsets of the batches noted done are committed, at most every
  ``commit_interval_s``, always before partitions are revoked (the batches in flight
  finish first) and when the worker stops. Never by Faust's per-record acks.

What has been noted done is also what the periodic gap check compares Redis with
(:meth:`Checkpoint.reached`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

# (topic, partition) → offset
TopicPartition = tuple[str, int]
Offsets = dict[TopicPartition, int]


class Committer(Protocol):
    """Where offsets are committed (``services.calculator.faust_adapter.FaustConsumer``)."""

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...

    def assignment(self) -> Collection[TopicPartition]: ...


class BatchInFlight:
    """One batch between its start and being noted done: its first and last offsets per
    partition, and its turn among the batches' script calls."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        first: Offsets,
        last: Offsets,
        previous: asyncio.Future[None] | None,
    ) -> None:
        self.first = first
        self.last = last
        self._checkpoint = checkpoint
        self._previous = previous
        self._scripts: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.task: asyncio.Future[None] | None = None

    async def wait_turn(self) -> None:
        """Return once the previous batch's script calls returned (raises if it failed)."""
        if self._previous is not None:
            await self._previous

    def scripts_returned(self) -> None:
        """This batch's script calls returned: the next batch's may run."""
        if not self._scripts.done():
            self._scripts.set_result(None)

    def gap_floor(self) -> Offsets:
        """Per partition of the batch, the offset before which everything must be in
        Redis: its first, or an earlier batch's still applying."""
        return self._checkpoint.gap_floor(self)

    def _ended(self) -> None:
        if not self._scripts.done():  # failed or cancelled: the later batches must not follow
            self._scripts.set_exception(RuntimeError("an earlier batch did not reach Redis"))
            self._scripts.exception()  # retrieved: the next batch, if any, raises it


class Checkpoint:
    """Batches in flight, in fetch order; the offsets noted done; their commits."""

    def __init__(
        self,
        committer: Committer,
        on_failure: Callable[[BaseException], None],
        *,
        depth: int = 1,
        commit_interval_s: float = 1.0,
    ) -> None:
        self.committer = committer
        self.on_failure = on_failure
        self.depth = depth
        self.commit_interval_s = commit_interval_s
        self._in_flight: collections.deque[BatchInFlight] = collections.deque()
        self._last_scripts: asyncio.Future[None] | None = None
        self._done: Offsets = {}  # next offset to read: everything before it is in Redis
        self._committed: Offsets = {}
        self._committed_at = time.monotonic()
        self._commit_lock = asyncio.Lock()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def make_room(self) -> None:
        """Wait until fewer than ``depth`` batches are in flight."""
        while len(self._in_flight) >= self.depth:
            await self._finish_oldest()

    def start(
        self,
        first: Offsets,
        last: Offsets,
        apply: Callable[[BatchInFlight], Awaitable[None]],
    ) -> BatchInFlight:
        """Start the next batch in fetch order: ``apply(batch)`` returns once Redis
        confirmed it (its script calls go through ``batch``'s turn)."""
        batch = BatchInFlight(self, first, last, self._last_scripts)
        self._last_scripts = batch._scripts
        self._in_flight.append(batch)
        batch.task = asyncio.ensure_future(self._run(batch, apply))
        return batch

    @staticmethod
    async def _run(batch: BatchInFlight, apply: Callable[[BatchInFlight], Awaitable[None]]) -> None:
        try:
            await apply(batch)
        finally:
            batch._ended()

    def gap_floor(self, batch: BatchInFlight) -> Offsets:
        floor = dict(batch.first)
        for other in self._in_flight:
            if other is batch:
                break
            if other.task is not None and other.task.done():
                continue  # applied: its records are in Redis
            for tp, offset in other.first.items():
                if tp in floor:
                    floor[tp] = min(floor[tp], offset)
        return floor

    async def note_finished(self) -> None:
        """Note done the oldest batches whose apply already returned."""
        while self._in_flight and self._in_flight[0].task is not None:
            if not self._in_flight[0].task.done():
                return
            await self._finish_oldest()

    async def finish_all(self) -> None:
        """Wait for every batch in flight and note it done."""
        while self._in_flight:
            await self._finish_oldest()

    async def _finish_oldest(self) -> None:
        """Wait for the oldest batch in flight (the fetch loop and a revocation may both
        wait for it: it stays in flight until noted) and note its offsets done."""
        if not self._in_flight:
            return
        batch = self._in_flight[0]
        assert batch.task is not None
        try:
            await asyncio.shield(batch.task)
        except asyncio.CancelledError:
            raise  # we are cancelled, the batch goes on: it stays in flight
        except BaseException as exc:
            self.on_failure(exc)
            raise
        if self._in_flight and self._in_flight[0] is batch:  # the first to see it done notes it
            self._in_flight.popleft()
            for tp, offset in batch.last.items():
                self._done[tp] = max(self._done.get(tp, 0), offset + 1)

    async def commit(self, *, force: bool = False) -> None:
        """Commit the offsets noted done (at most every ``commit_interval_s``)."""
        if not force and time.monotonic() - self._committed_at < self.commit_interval_s:
            return
        async with self._commit_lock:
            offsets = {tp: o for tp, o in self._done.items() if self._committed.get(tp) != o}
            self._committed_at = time.monotonic()
            if not offsets:
                return
            await self.committer.commit(offsets)
            self._committed.update(offsets)
            assigned = self.committer.assignment()
            for tp in [tp for tp in self._done if tp not in assigned]:
                self._done.pop(tp, None)
                self._committed.pop(tp, None)

    async def when_idle(self) -> None:
        """No records fetched: the batches in flight are finished and committed."""
        while self._in_flight:
            await self._finish_oldest()
            await self.commit()

    async def settle(self) -> None:
        """Wait for the batches in flight and commit everything noted done."""
        await self.finish_all()
        await self.commit(force=True)

    async def settle_within(self, grace_s: float) -> None:
        """Stopping or rebalancing: let the batches in flight finish (briefly), commit."""
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.settle(), grace_s)

    async def on_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Before partitions are revoked: settle, then forget the revoked partitions (their
        new owner checks and commits them)."""
        await self.settle()
        self.forget((args[0] if args else kwargs.get("revoked")) or ())

    def forget(self, tps: Iterable[TopicPartition]) -> None:
        for topic, partition in tps:
            self._done.pop((topic, partition), None)
            self._committed.pop((topic, partition), None)

    def reached(
        self, owned: Iterable[TopicPartition], committed: Mapping[TopicPartition, int] = {}
    ) -> Offsets:
        """Per partition owned or noted done, the offset before which everything must be
        in Redis: what this worker noted done, else the group's ``committed`` offset (a
        partition given by a rebalance after another worker applied and committed it:
        if Redis lost those writes since, only the committed offset says so), else 0."""
        tps = set(owned) | set(self._done)
        return {tp: self._done.get(tp, committed.get(tp, 0)) for tp in tps}
