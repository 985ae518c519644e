"""Kafka producer of accepted events (kafka-python, ``acks=all``, idempotent, key = the
event's entity within its agency, ``shared.partitioning``).

``send_all`` returns only once the broker acknowledged every record; any failure raises
``BrokerUnavailable`` so the request is answered 503 and the sender retries (a retried
event is harmless: the calculator is idempotent on ``event_id``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.errors import KafkaError

from shared.logs import get_logger

log = get_logger("ingest.producer")


class BrokerUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class EventProducer:
    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self.bootstrap = bootstrap
        self.timeout_s = timeout_s
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                try:
                    self._producer = KafkaProducer(
                        bootstrap_servers=self.bootstrap,
                        acks="all",
                        enable_idempotence=True,
                        linger_ms=5,
                        compression_type=None,
                        max_block_ms=int(self.timeout_s * 1000),
                        request_timeout_ms=int(self.timeout_s * 1000),
                        delivery_timeout_ms=int(self.timeout_s * 1000) + 5000,
                        bootstrap_timeout_ms=int(self.timeout_s * 1000),
                        reconnect_backoff_max_ms=1000,
                        client_id="egov-ingest",
                    )
                except KafkaError as exc:
                    raise BrokerUnavailable(type(exc).__name__) from exc
            return self._producer

    def send_all(self, records: Sequence[Record]) -> None:
        """Blocking: produce and wait for the broker's acknowledgement of every record."""
        producer = self._get()
        deadline = time.monotonic() + self.timeout_s
        try:
            futures = [
                producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in records
            ]
            for future in futures:
                future.get(timeout=max(0.1, deadline - time.monotonic()))
        except KafkaError as exc:
            log.warning("produce_failed", error=type(exc).__name__, records=len(records))
            raise BrokerUnavailable(type(exc).__name__) from exc

    def connected(self) -> bool:
        try:
            producer = self._get()
        except BrokerUnavailable:
            return False
        return bool(producer.bootstrap_connected())

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
