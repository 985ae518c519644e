"""Ingest's producer (confluent-kafka) on a real broker: every record acknowledged lands on
the partition kafka-python and the Java client choose for its key (replays and the
simulator produce with kafka-python: one entity, one partition, whoever produced it)."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from services.ingest.producer import EventProducer, Record

pytestmark = pytest.mark.integration


def test_records_are_acknowledged_on_the_java_partition_of_their_key(isolated) -> None:
    topic = isolated["topics"].dossier
    keys = [f"so-tttt/d:HS-{i:05d}".encode() for i in range(600)]
    producer = EventProducer(isolated["bootstrap"], 10.0)
    assert producer.connected()
    producer.send_all(
        [
            Record(topic, key, b'{"n": %d}' % i, [("ingested_at_ms", b"1")])
            for i, key in enumerate(keys)
        ]
    )
    producer.close()
    consumer = KafkaConsumer(
        bootstrap_servers=isolated["bootstrap"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    parts = [TopicPartition(topic, p) for p in range(6)]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    placed = {m.key: m.partition for m in consumer}
    consumer.close()
    assert len(placed) == len(keys)
    expected = {key: (murmur2(key) & 0x7FFFFFFF) % 6 for key in keys}
    assert placed == expected
    assert len(set(placed.values())) == 6
