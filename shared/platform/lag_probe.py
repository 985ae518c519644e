"""Consumer lag of the calculator's group per partition: end offset − committed offset.
Used by the calculator's lag gauge and by the alerts service's pipeline check."""

from __future__ import annotations

import contextlib

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


class LagProbe:
    """End and committed offsets of ``group`` on ``topics`` (blocking clients: run it in a
    thread); a partition without a committed offset counts from 0. After a failure the
    clients are closed and reopened on the next call."""

    def __init__(
        self, bootstrap: str, group: str, topics: list[str], client_id: str = "egov-lag"
    ) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = topics
        self.client_id = client_id
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def offsets(self) -> dict[tuple[str, int], tuple[int, int]]:
        """(topic, partition) → (end offset, committed offset ≤ end)."""
        try:
            if self._admin is None or self._consumer is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    client_id=self.client_id,
                    request_timeout_ms=5000,
                )
                self._consumer = KafkaConsumer(
                    bootstrap_servers=self.bootstrap,
                    group_id=None,
                    client_id=self.client_id,
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
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for tp in parts:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset > 0 else 0
            out[(tp.topic, tp.partition)] = (ends[tp], min(ends[tp], done))
        return out

    def measure(self) -> dict[tuple[str, int], int]:
        """Per partition, the records not yet committed by the group."""
        return {tp: end - done for tp, (end, done) in self.offsets().items()}

    def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for client in (admin, consumer):
            if client is not None:
                with contextlib.suppress(Exception):  # already broken: nothing to release
                    client.close()
