"""The calculator's checkpoint (services/calculator/checkpoint.py), driven by its fetch loop
through the Faust adapter on a fake Faust consumer: offsets are committed only after the
batch's apply returned, a failed apply commits nothing and aborts, a revocation waits for
the batch in flight and commits it, records of a partition not assigned are left alone;
batches in flight run their scripts in fetch order and start their gap check below the
batches still applying."""

from __future__ import annotations

import asyncio
import contextlib
from collections import namedtuple
from typing import Any

from faust.types import TP

from services.calculator.checkpoint import BatchInFlight, Checkpoint
from services.calculator.faust_adapter import FaustConsumer
from services.calculator.fetch_loop import FetchLoop

Rec = namedtuple("Rec", "topic partition offset value")


class FakeConsumer:
    _drain_messages: Any  # installed by the fetch loop

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


def install(
    app: FakeApp,
    prepare: Any,
    apply: Any,
    failures: list[BaseException],
    *,
    depth: int = 1,
) -> FetchLoop[Any]:
    """The calculator's composition: the fetch loop on the Faust adapter, the checkpoint
    committing through it."""
    consumer = FaustConsumer(app)
    checkpoint = Checkpoint(consumer, failures.append, depth=depth, commit_interval_s=0.0)
    loop = FetchLoop(consumer, ["t"], checkpoint, prepare, apply)
    loop.install()
    return loop


async def test_commit_only_after_apply_returned_and_revocation_waits() -> None:
    # partition 2 is not (any more) assigned to this worker: its new owner applies it
    consumer = FakeConsumer([fetch(0, range(0, 5)), fetch(2, range(0, 9)), fetch(1, range(10, 13))])
    app = FakeApp(consumer)
    release = asyncio.Event()
    applied: list[list[int]] = []

    async def prepare(batch: list[Rec]) -> list[Rec]:
        return batch

    async def apply(batch: list[Rec], _: BatchInFlight) -> None:
        await release.wait()
        applied.append([r.offset for r in batch])

    failures: list[BaseException] = []
    install(app, prepare, apply, failures)
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

    async def apply(batch: list[Rec], _: BatchInFlight) -> None:
        raise RuntimeError("Redis said no")

    failures: list[BaseException] = []
    install(app, prepare, apply, failures)
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

    async def apply(batch: list[Rec], _: BatchInFlight) -> None:
        n = batch[0].offset // 3
        started.append(n)
        await releases[n].wait()

    failures: list[BaseException] = []
    install(app, prepare, apply, failures, depth=2)
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


def abort(exc: BaseException) -> None:
    raise AssertionError(f"no batch may fail here: {exc!r}")


class FakeCommitter:
    def __init__(self, assigned: set[tuple[str, int]]) -> None:
        self.assigned = assigned
        self.committed: list[dict[tuple[str, int], int]] = []

    async def commit(self, offsets: Any) -> None:
        self.committed.append(dict(offsets))

    def assignment(self) -> set[tuple[str, int]]:
        return self.assigned


async def test_scripts_run_in_fetch_order_and_gap_floor_starts_below_batches_applying() -> None:
    checkpoint = Checkpoint(FakeCommitter({("t", 0), ("t", 1)}), abort, depth=3)
    order: list[str] = []
    floors: dict[str, dict[tuple[str, int], int]] = {}
    gates = {name: asyncio.Event() for name in "abc"}

    def apply(name: str) -> Any:
        async def run(batch: BatchInFlight) -> None:
            floors[name] = batch.gap_floor()
            await batch.wait_turn()
            order.append(f"{name} scripts")
            await gates[name].wait()
            batch.scripts_returned()
            order.append(f"{name} returned")

        return run

    checkpoint.start({("t", 0): 0, ("t", 1): 0}, {("t", 0): 4, ("t", 1): 9}, apply("a"))
    checkpoint.start({("t", 0): 5}, {("t", 0): 7}, apply("b"))
    await asyncio.sleep(0.01)
    # b's scripts wait for a's: a still applying, its first offsets are b's gap floor
    assert order == ["a scripts"]
    assert floors == {"a": {("t", 0): 0, ("t", 1): 0}, "b": {("t", 0): 0}}
    gates["b"].set()
    await asyncio.sleep(0.01)
    assert order == ["a scripts"]  # b's turn comes only after a's scripts returned
    gates["a"].set()
    await asyncio.sleep(0.01)
    assert order == ["a scripts", "a returned", "b scripts", "b returned"]
    # a and b applied: a third batch's floor is its own first offset
    checkpoint.start({("t", 0): 8}, {("t", 0): 8}, apply("c"))
    await asyncio.sleep(0.01)
    assert floors["c"] == {("t", 0): 8}
    gates["c"].set()
    await checkpoint.settle()
    assert checkpoint.reached([("t", 2)]) == {("t", 0): 9, ("t", 1): 10, ("t", 2): 0}
    # a partition given by a rebalance, applied and committed by another worker: the
    # group's committed offset is what Redis must hold (what this worker noted wins)
    assert checkpoint.reached([("t", 2)], {("t", 2): 40, ("t", 0): 3}) == {
        ("t", 0): 9,
        ("t", 1): 10,
        ("t", 2): 40,
    }


async def test_a_failed_batch_stops_the_scripts_after_it_and_commits_nothing() -> None:
    committer = FakeCommitter({("t", 0)})
    failures: list[BaseException] = []
    checkpoint = Checkpoint(committer, failures.append, depth=2, commit_interval_s=0.0)
    second_ran: list[bool] = []

    async def fails(batch: BatchInFlight) -> None:
        await batch.wait_turn()
        raise RuntimeError("Redis said no")

    async def follows(batch: BatchInFlight) -> None:
        await batch.wait_turn()
        second_ran.append(True)

    checkpoint.start({("t", 0): 0}, {("t", 0): 2}, fails)
    later = checkpoint.start({("t", 0): 3}, {("t", 0): 5}, follows)
    with contextlib.suppress(RuntimeError):
        await checkpoint.finish_all()
    await asyncio.sleep(0.01)
    assert [str(f) for f in failures] == ["Redis said no"]
    assert second_ran == []  # its turn raised: the earlier batch did not reach Redis
    assert later.task is not None and isinstance(later.task.exception(), RuntimeError)
    await checkpoint.commit(force=True)
    assert committer.committed == []


async def test_revocation_settles_then_forgets_the_revoked_partitions() -> None:
    committer = FakeCommitter({("t", 0), ("t", 1)})
    checkpoint = Checkpoint(committer, abort, depth=2, commit_interval_s=60.0)
    release = asyncio.Event()

    async def apply(batch: BatchInFlight) -> None:
        await release.wait()

    checkpoint.start({("t", 0): 0, ("t", 1): 0}, {("t", 0): 1, ("t", 1): 2}, apply)
    revoked = asyncio.ensure_future(checkpoint.on_revoked(None, {TP("t", 1)}))
    await asyncio.sleep(0.01)
    assert not revoked.done() and committer.committed == []
    release.set()
    await revoked
    # committed despite the interval, then partition 1 is its new owner's to check
    assert committer.committed == [{("t", 0): 2, ("t", 1): 3}]
    assert checkpoint.reached([]) == {("t", 0): 2}
