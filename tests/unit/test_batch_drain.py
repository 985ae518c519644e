"""The calculator's batch drain (services/calculator/drain.py) on a fake Faust consumer:
offsets are committed only after the batch's apply returned, a failed apply commits
nothing and aborts, a revocation waits for the batch in flight and commits it, and
records of a partition not assigned are left alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections import namedtuple
from typing import Any

from faust.types import TP

from services.calculator.drain import BatchDrain

Rec = namedtuple("Rec", "topic partition offset value")


class FakeConsumer:
    _drain_messages: Any  # installed by the drain

    def __init__(self, fetches: list[dict[TP, list[Rec]]]) -> None:
        self.fetches = fetches
        self.committed: list[dict[TP, int]] = []
        self._stopped = asyncio.Event()
        self.flow_active = True
        self.should_stop = False
        self._read_offset: dict[TP, int] = {}

    async def _wait_next_records(self, timeout: float) -> tuple[dict[TP, list[Rec]], None]:
        if self.fetches:
            return self.fetches.pop(0), None
        await asyncio.sleep(0.01)
        return {}, None

    async def _commit_offsets(self, offsets: dict[TP, int]) -> None:
        self.committed.append(dict(offsets))

    def assignment(self) -> set[TP]:
        return {TP("t", 0), TP("t", 1)}


class FakeSignal:
    def __init__(self) -> None:
        self.receivers: list[Any] = []

    def connect(self, fn: Any) -> None:
        self.receivers.append(fn)


class FakeApp:
    def __init__(self, consumer: FakeConsumer) -> None:
        self.consumer = consumer
        self.consumer_generation_id = 1
        self.on_partitions_revoked = FakeSignal()


class FakeFetcher:
    def __init__(self) -> None:
        self._stopped = asyncio.Event()


def merged(commits: list[dict[TP, int]]) -> dict[TP, int]:
    out: dict[TP, int] = {}
    for commit in commits:
        out |= commit
    return out


def fetch(partition: int, offsets: range) -> dict[TP, list[Rec]]:
    return {TP("t", partition): [Rec("t", partition, o, b"{}") for o in offsets]}


async def test_commit_only_after_apply_returned_and_revocation_waits() -> None:
    # partition 2 is not (any more) assigned to this worker: its new owner applies it
    consumer = FakeConsumer([fetch(0, range(0, 5)), fetch(2, range(0, 9)), fetch(1, range(10, 13))])
    app = FakeApp(consumer)
    release = asyncio.Event()
    applied: list[list[int]] = []

    async def prepare(batch: list[Rec]) -> list[Rec]:
        return batch

    async def apply(batch: list[Rec]) -> dict[tuple[str, int], int]:
        await release.wait()
        applied.append([r.offset for r in batch])
        return {(r.topic, r.partition): r.offset for r in batch}

    failures: list[BaseException] = []
    drain = BatchDrain(app, ["t"], prepare, apply, failures.append, commit_interval_s=0.0)
    drain.install()
    fetcher = FakeFetcher()
    task = asyncio.ensure_future(consumer._drain_messages(fetcher))
    await asyncio.sleep(0.1)
    assert consumer.committed == []  # the first batch is in flight: nothing committed
    assert applied == []
    release.set()
    await asyncio.sleep(0.1)
    assert applied == [[0, 1, 2, 3, 4], [10, 11, 12]]
    assert merged(consumer.committed) == {TP("t", 0): 5, TP("t", 1): 13}
    # a revocation with a batch in flight: it returns only once the batch is committed
    release.clear()
    consumer.fetches.append(fetch(0, range(5, 8)))
    await asyncio.sleep(0.05)
    revoked = asyncio.ensure_future(app.on_partitions_revoked.receivers[0](app, {TP("t", 0)}))
    await asyncio.sleep(0.05)
    assert not revoked.done()
    release.set()
    await revoked
    assert consumer.committed[-1] == {TP("t", 0): 8}
    assert merged(consumer.committed) == {TP("t", 0): 8, TP("t", 1): 13}
    assert failures == []
    fetcher._stopped.set()
    await task


async def test_a_failed_apply_commits_nothing_and_aborts() -> None:
    consumer = FakeConsumer([fetch(0, range(0, 3))])
    app = FakeApp(consumer)

    async def prepare(batch: list[Rec]) -> list[Rec]:
        return batch

    async def apply(batch: list[Rec]) -> dict[tuple[str, int], int]:
        raise RuntimeError("Redis said no")

    failures: list[BaseException] = []
    drain = BatchDrain(app, ["t"], prepare, apply, failures.append, commit_interval_s=0.0)
    drain.install()
    task = asyncio.ensure_future(consumer._drain_messages(FakeFetcher()))
    await asyncio.sleep(0.1)
    assert [type(f) for f in failures] == [RuntimeError]
    assert consumer.committed == []
    assert task.done()  # the fetch loop stopped with the failure (the process exits)


async def test_two_batches_in_flight_are_noted_and_committed_in_fetch_order() -> None:
    # depth 2: the second batch is handed to apply while the first is still in flight, but
    # offsets are committed only up to the batches applied in order
    consumer = FakeConsumer([fetch(0, range(0, 3)), fetch(0, range(3, 6)), fetch(0, range(6, 9))])
    app = FakeApp(consumer)
    releases = [asyncio.Event() for _ in range(3)]
    started: list[int] = []

    async def prepare(batch: list[Rec]) -> list[Rec]:
        return batch

    async def apply(batch: list[Rec]) -> dict[tuple[str, int], int]:
        n = batch[0].offset // 3
        started.append(n)
        await releases[n].wait()
        return {(r.topic, r.partition): r.offset for r in batch}

    failures: list[BaseException] = []
    drain = BatchDrain(app, ["t"], prepare, apply, failures.append, commit_interval_s=0.0, depth=2)
    drain.install()
    task = asyncio.ensure_future(consumer._drain_messages(FakeFetcher()))
    await asyncio.sleep(0.1)
    assert started == [0, 1]  # two in flight, the third waits for the first to finish
    releases[1].set()  # the second finishes first: nothing may be committed yet
    await asyncio.sleep(0.1)
    assert consumer.committed == []
    assert started == [0, 1]
    releases[0].set()
    await asyncio.sleep(0.1)
    assert merged(consumer.committed) == {TP("t", 0): 6}  # both, in order
    assert started == [0, 1, 2]
    releases[2].set()
    await asyncio.sleep(0.1)
    assert merged(consumer.committed) == {TP("t", 0): 9}
    assert failures == []
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
