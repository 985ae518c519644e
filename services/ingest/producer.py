"""Kafka producer of accepted events (confluent-kafka, i.e. librdkafka: ``acks=all``,
idempotent, key = the event's entity within its agency, ``shared.contract.partitioning``, placed by
the Java client's murmur2 partitioner like every other producer of the topics).

confluent-kafka rather than kafka-python (DESIGN.md: "if the benchmark shows ingest is the
bottleneck"): ``python -m bench.producers`` measured 91 µs of CPU per event for
kafka-python against 3.2 for librdkafka, and end to end ingest was the bottleneck.

``send_all`` returns only once the broker acknowledged every record; any failure raises
``BrokerUnavailable`` so the request is answered 503 and the sender retries (a retried
event is harmless: the calculator is idempotent on ``event_id``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException, Producer

from services.ingest.exceptions import BrokerUnavailable
from shared.platform.logs import get_logger

log = get_logger("ingest.producer")


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, str | bytes | None]]


class _Delivery:
    """The acknowledgements of one request's records (delivery callbacks run in whichever
    thread polls the producer)."""

    def __init__(self, expected: int) -> None:
        self.remaining = expected
        self.errors: list[Any] = []
        self.done = threading.Event()
        self._lock = threading.Lock()
        if expected == 0:
            self.done.set()

    def __call__(self, err: Any, _msg: Any) -> None:
        with self._lock:
            if err is not None:
                self.errors.append(err)
            self.remaining -= 1
            if self.remaining <= 0:
                self.done.set()


class EventProducer:
    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def _get(self) -> Producer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self.timeout_s * 1000)
                try:
                    self._producer = Producer(
                        {
                            "bootstrap.servers": self.bootstrap,
                            "acks": "all",
                            "enable.idempotence": True,
                            "linger.ms": 5,
                            "compression.type": "none",
                            # the Java client's (and kafka-python's) partitioner: same key,
                            # same partition whoever produces it (replays, the simulator)
                            "partitioner": "murmur2_random",
                            "message.timeout.ms": timeout_ms,
                            "socket.timeout.ms": max(timeout_ms, 10),
                            "reconnect.backoff.max.ms": 1000,
                            "client.id": "egov-ingest",
                        }
                    )
                except KafkaException as exc:
                    raise BrokerUnavailable(str(exc)) from exc
            return self._producer

    def _reset(self, producer: Producer) -> None:
        """A fatal error (e.g. of the idempotent producer's state): start a new one."""
        with self._lock:
            if self._producer is producer:
                self._producer = None
        producer.flush(1)

    def send_all(self, records: Sequence[Record]) -> None:
        """Blocking: produce and wait for the broker's acknowledgement of every record."""
        producer = self._get()
        deadline = time.monotonic() + self.timeout_s
        delivery = _Delivery(len(records))
        try:
            for r in records:
                while True:
                    try:
                        producer.produce(
                            r.topic, r.value, r.key, headers=r.headers, on_delivery=delivery
                        )
                        break
                    except BufferError:  # local queue full: serve callbacks, then retry
                        if time.monotonic() > deadline:
                            raise BrokerUnavailable("local queue full") from None
                        producer.poll(0.01)
            while not delivery.done.is_set():
                if time.monotonic() > deadline:
                    raise BrokerUnavailable("no acknowledgement in time")
                producer.poll(0.005)
        except KafkaException as exc:
            log.warning("produce_failed", error=str(exc), records=len(records))
            raise BrokerUnavailable(str(exc)) from exc
        except BrokerUnavailable as exc:
            log.warning("produce_failed", error=str(exc), records=len(records))
            raise
        if delivery.errors:
            err = delivery.errors[0]
            log.warning("produce_failed", error=err.name(), records=len(records))
            if any(e.fatal() for e in delivery.errors):
                self._reset(producer)
            raise BrokerUnavailable(err.name())

    def connected(self) -> bool:
        try:
            producer = self._get()
            producer.list_topics(timeout=min(2.0, self.timeout_s))
        except (BrokerUnavailable, KafkaException):
            return False
        return True

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.flush(5)
                self._producer = None
