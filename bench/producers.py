"""The ingest's Kafka producer: confluent-kafka (the one used, ``services/ingest/producer.py``)
against kafka-python (the one used before), with the ingest's settings (acks=all, idempotent,
linger 5 ms, no compression) and its pattern: a request's ``BENCH_BATCH`` records sent,
then every acknowledgement awaited. Prints events/s and CPU µs per event of this process
(all its threads). ``BENCH_EVENTS`` records of the simulated year, keyed and routed as
ingest does."""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import confluent_kafka
import orjson
from kafka import KafkaProducer

from devstack.kafka import KafkaBroker
from devstack.ports import free_port
from devstack.topics import create_topics
from services.ingest.producer import Record
from shared.platform.config import Settings
from simulator.appendix2024 import YearStream
from simulator.replay import key_for, topic_for

EVENTS = int(os.environ.get("BENCH_EVENTS", "200000"))
BATCH = int(os.environ.get("BENCH_BATCH", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))


def records(settings: Settings) -> list[Record]:
    stamp = str(int(time.time() * 1000)).encode()
    return [
        Record(
            topic=topic_for(e, settings),
            key=key_for(e),
            value=orjson.dumps(e),
            headers=[("ingested_at_ms", stamp)],
        )
        for e in itertools.islice(YearStream(lifecycle_fraction=1.0).events(), EVENTS)
    ]


def kafka_python(bootstrap: str) -> tuple[Callable[[Sequence[Record]], None], Callable[[], None]]:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        compression_type=None,
    )

    def send_all(batch: Sequence[Record]) -> None:
        futures = [
            producer.send(r.topic, key=r.key, value=r.value, headers=r.headers) for r in batch
        ]
        for future in futures:
            future.get(timeout=30)

    return send_all, lambda: producer.close(10)


def confluent(bootstrap: str) -> tuple[Callable[[Sequence[Record]], None], Callable[[], None]]:
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 5,
            "compression.type": "none",
            # the Java client's partitioner, as kafka-python: same key, same partition
            "partitioner": "murmur2_random",
        }
    )

    def send_all(batch: Sequence[Record]) -> None:
        failed: list[object] = []

        def done(err: object, _msg: object) -> None:
            if err is not None:
                failed.append(err)

        for r in batch:
            while True:
                try:
                    producer.produce(
                        r.topic, key=r.key, value=r.value, headers=r.headers, on_delivery=done
                    )
                    break
                except BufferError:
                    producer.poll(0.01)
        if producer.flush(30) or failed:
            raise RuntimeError(f"undelivered: {failed[:3]}")

    def close() -> None:
        producer.flush(10)

    return send_all, close


def measure(
    name: str,
    make: Callable[..., tuple[Callable[..., None], Callable[[], None]]],
    bootstrap: str,
    recs: list[Record],
) -> None:
    send_all, close = make(bootstrap)
    send_all(recs[:BATCH])  # connected, metadata known
    for round_ in range(ROUNDS):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for i in range(0, len(recs), BATCH):
            send_all(recs[i : i + BATCH])
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        print(
            f"  {name:<16} round {round_ + 1}: {len(recs) / wall:>9,.0f} events/s, "
            f"CPU {1e6 * cpu / len(recs):5.1f} µs/event ({100 * cpu / wall:.0f}% of one core)"
        )
    close()


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="egov-bench-producers-"))
    settings = Settings()
    kafka = KafkaBroker(work / "kafka", free_port(), free_port(), heap="1g")
    kafka.start()
    try:
        create_topics(kafka.bootstrap, settings)
        recs = records(settings)
        print(
            f"{len(recs):,} records of the year, requests of {BATCH:,} acknowledged before the "
            "next (acks=all, idempotent, linger 5 ms)"
        )
        measure("kafka-python", kafka_python, kafka.bootstrap, recs)
        measure("confluent-kafka", confluent, kafka.bootstrap, recs)
    finally:
        kafka.stop()


if __name__ == "__main__":
    main()
