"""Every private part of Faust the calculator touches, in one place.

The calculator is a Faust app: its agent subscribes the event topics, and Faust keeps group
membership, rebalances, leader election, timers and the web port (public API). One thing
Faust has no public API for: taking a whole fetch as one batch. Its public
``Consumer.getmany`` wraps every record in a message object and its fetch loop hands them
to a stream one at a time with an ack each, half of the calculator's CPU. So the
calculator replaces the consumer's fetch loop (``Consumer._drain_messages``, the method
Faust's ``Fetcher`` service runs) with its own (``services.calculator.fetch_loop``), which
needs five more private members: the fetch itself (``_wait_next_records``), the commit
path (``_commit_offsets``: drops partitions no longer assigned, flushes the producer,
commits, notes the offsets), the read offsets Faust's commit and seek logic reads
(``_read_offset``), the message wrapper for records of Faust's own topics (``_to_message``)
and the services' stop flags (mode's ``_stopped``: ``should_stop`` also means crashed).
And one of aiokafka's, through Faust's consumer thread: how long a fetch waits at the
broker (Faust fixes 1,500 ms; :meth:`FaustConsumer.bound_fetch_wait`).

They were written against faust-streaming ``TESTED_FAUST_STREAMING`` (pinned in
pyproject.toml). :func:`compatibility_problems` names what an upgrade changed;
``tests/unit/test_faust_adapter.py`` fails on it, and the calculator refuses to start
when a member is missing.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from faust.types import TP

from shared.platform.logs import get_logger

log = get_logger("calculator.faust")

TESTED_FAUST_STREAMING = "0.15.3"

# private methods of Faust's consumer (faust.transport.drivers.aiokafka.Consumer) used
# here, with the parameters they are called with
PRIVATE_METHODS: dict[str, tuple[str, ...]] = {
    "_drain_messages": ("self", "fetcher"),
    "_wait_next_records": ("self", "timeout"),
    "_commit_offsets": ("self", "offsets", "start_new_transaction"),
    "_to_message": ("self", "tp", "record"),
}
# private attributes of a consumer instance (``_stopped``: also of the Fetcher service)
PRIVATE_ATTRIBUTES = ("_read_offset", "_stopped", "_committed_offset")
# aiokafka's fetcher: how long its fetch requests wait at the broker (Faust fixes 1,500 ms)
FETCH_WAIT_ATTRIBUTE = "_fetch_max_wait_ms"

# (topic, partition)
TopicPartition = tuple[str, int]
# a fetch: per partition, its records in offset order (aiokafka ConsumerRecords)
Records = Mapping[TP, list[Any]]
FetchLoop = Callable[[Any], Awaitable[None]]


class FaustConsumer:
    """The calculator's access to its Faust app's consumer."""

    def __init__(self, app: Any) -> None:
        self.app = app

    @property
    def _consumer(self) -> Any:
        return self.app.consumer

    def replace_fetch_loop(self, loop: FetchLoop) -> None:
        """Run ``loop(fetcher)`` instead of Faust's fetch loop (Faust's ``Fetcher`` service
        awaits ``consumer._drain_messages(fetcher)`` and restarts it after a rebalance)."""
        self._consumer._drain_messages = loop

    def on_revoked(self, receiver: Callable[..., Awaitable[None]]) -> None:
        """``receiver(sender, revoked)`` before partitions are revoked (public signal)."""
        self.app.on_partitions_revoked.connect(receiver)

    def bound_fetch_wait(self, ms: int) -> bool:
        """Fetch requests wait at most ``ms`` at the broker. aiokafka leaves a partition out
        of a fetch while its records are still buffered, so after a burst a fetch can wait
        its whole time for partitions that receive nothing while the others' new records
        wait for it to return. False: the consumer is not there (yet)."""
        thread = getattr(self._consumer, "_thread", None)
        kafka = getattr(thread, "_consumer", None)
        fetcher = getattr(kafka, "_fetcher", None)
        if fetcher is None or not hasattr(fetcher, FETCH_WAIT_ATTRIBUTE):
            return False
        setattr(fetcher, FETCH_WAIT_ATTRIBUTE, ms)
        return True

    def stopped(self, fetcher: Any) -> bool:
        """The consumer or the fetcher was stopped (a crash alone does not stop the loop)."""
        return bool(self._consumer._stopped.is_set() or fetcher._stopped.is_set())

    @property
    def should_stop(self) -> bool:
        return bool(self._consumer.should_stop)

    async def next_fetch(self, timeout: float) -> tuple[Records, Collection[TP] | None]:
        """One fetch (up to ``broker_max_poll_records`` records) and the partitions active
        when it was asked for (``None``: all)."""
        records, active = await self._consumer._wait_next_records(timeout)
        return records or {}, active

    def assignment(self) -> Collection[TP]:
        return self._consumer.assignment()  # type: ignore[no-any-return]

    async def forward(self, tp: TP, records: list[Any]) -> None:
        """Records of Faust's own topics (its leader topic) go to Faust's callback."""
        consumer = self._consumer
        for record in records:
            await consumer.callback(consumer._to_message(tp, record))

    def committed(self) -> dict[tuple[str, int], int]:
        """The group's committed offsets (next offset to read) of the partitions assigned,
        as Faust read them at the assignment and noted its commits since."""
        return {
            (tp.topic, tp.partition): offset
            for tp in self._consumer.assignment()
            if (offset := self._consumer._committed_offset.get(tp)) is not None
        }

    def note_read(self, tp: TP, offset: int) -> None:
        """The last offset read on ``tp`` (Faust's seek and commit logic reads it)."""
        self._consumer._read_offset[tp] = offset

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit ``offsets`` (next offset to read) through Faust's commit path: drops
        partitions no longer assigned, flushes the producer, commits, notes them."""
        await self._consumer._commit_offsets({TP(t, p): o for (t, p), o in offsets.items()})


def compatibility_problems(
    version: str | None = None, consumer_class: type | None = None, fetcher: Any = None
) -> list[str]:
    """What differs from the faust-streaming this module was tested with: the installed
    version, a private member missing or called differently, Faust's fetcher no longer
    running ``_drain_messages``. Empty: compatible. (Arguments: for the tests.)"""
    from aiokafka.consumer.fetcher import Fetcher as KafkaFetcher
    from faust.transport.consumer import Fetcher
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

    problems: list[str] = []
    installed = version or importlib.metadata.version("faust-streaming")
    if installed != TESTED_FAUST_STREAMING:
        problems.append(
            f"faust-streaming {installed} installed, the adapter was tested with "
            f"{TESTED_FAUST_STREAMING}"
        )
    cls = consumer_class or Consumer
    for name, params in PRIVATE_METHODS.items():
        method = getattr(cls, name, None)
        if not callable(method):
            problems.append(f"{cls.__name__}.{name} is gone")
        elif (found := tuple(inspect.signature(method).parameters)) != params:
            problems.append(f"{cls.__name__}.{name}({', '.join(found)}) changed")
    annotated: dict[str, Any] = {}
    for base in reversed(cls.__mro__):
        annotated |= getattr(base, "__annotations__", {})
    for name in PRIVATE_ATTRIBUTES:
        if name not in annotated:
            problems.append(f"{cls.__name__}.{name} is gone")
    names = getattr(getattr(KafkaFetcher.__init__, "__code__", None), "co_names", ())
    if FETCH_WAIT_ATTRIBUTE not in names:
        problems.append(f"aiokafka's Fetcher no longer keeps {FETCH_WAIT_ATTRIBUTE}")
    if "_consumer" not in getattr(AIOKafkaConsumerThread, "__annotations__", {}):
        problems.append("AIOKafkaConsumerThread._consumer is gone")
    task = fetcher if fetcher is not None else getattr(Fetcher, "_fetcher", None)
    code = getattr(getattr(task, "fun", None), "__code__", None)
    if code is None or "_drain_messages" not in code.co_names:
        problems.append("Faust's Fetcher no longer runs consumer._drain_messages")
    return problems


def check_compatibility() -> None:
    """At start: refuse a Faust whose private members are gone, warn about another
    version (what the adapter uses may still be there)."""
    problems = compatibility_problems()
    if any("installed" not in p for p in problems):
        raise RuntimeError("; ".join(problems))
    if problems:
        log.warning("faust_version_untested", problems=problems)
