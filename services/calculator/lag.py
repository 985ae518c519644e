"""Consumer lag of the calculator's group per partition: end offset − committed offset."""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition


class LagProbe:
    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.topics = topics
        self._admin: KafkaAdminClient | None = None
        self._consumer: KafkaConsumer | None = None

    def measure(self) -> dict[tuple[str, int], int]:
        """Blocking (run it in a thread)."""
        if self._admin is None or self._consumer is None:
            self._admin = KafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id="egov-calculator-lag"
            )
            self._consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=None, client_id="egov-calculator-lag"
            )
        committed = self._admin.list_group_offsets(self.group).get(self.group, {})
        parts = [
            TopicPartition(t, p)
            for t in self.topics
            for p in sorted(self._consumer.partitions_for_topic(t) or [])
        ]
        ends = self._consumer.end_offsets(parts)
        lag = {}
        for tp in parts:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            lag[(tp.topic, tp.partition)] = max(0, ends[tp] - done)
        return lag

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()
        if self._consumer is not None:
            self._consumer.close()
