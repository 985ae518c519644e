"""`replay`: into the ingest API (rejections summarised) and straight into Kafka, resumable."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition

from shared.platform.config import Settings
from simulator.replay import IngestSink, KafkaSink, checkpoint_path, replay
from tests.factories import received


def test_replay_ndjson_into_ingest_reports_rejections(service_factory, tmp_path: Path) -> None:
    ingest = service_factory("ingest")
    events = [received(agency="so-gddt", dossier=f"rp{i}") for i in range(25)]
    events[3]["channel"] = "fax"
    events[7]["agency_code"] = "so-khong-co"
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    summary = replay(
        path, IngestSink(ingest.url, "dev-ingest-token"), batch_size=10, show_progress=False
    )
    assert (summary.sent, summary.accepted) == (25, 23)
    assert summary.rejected == {("channel", "enum"): 1, ("agency_code", "value_error"): 1}
    assert checkpoint_path(path).read_text() == "25"


def test_replay_csv_into_kafka_resumes_after_checkpoint(isolated, tmp_path: Path) -> None:
    events = [received(agency="so-gddt", dossier=f"cv{i}", digitized=True) for i in range(12)]
    path = tmp_path / "events.csv"
    fields = sorted({k for e in events for k in e})
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(events)
    checkpoint_path(path).write_text("5")  # an earlier run stopped after 5 events
    settings = Settings(topics=isolated["topics"])
    summary = replay(
        path,
        KafkaSink(isolated["bootstrap"], settings),
        batch_size=4,
        resume=True,
        show_progress=False,
    )
    assert (summary.skipped, summary.sent) == (5, 7)
    consumer = KafkaConsumer(
        bootstrap_servers=isolated["bootstrap"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    topic = isolated["topics"].dossier
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    got = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    assert sorted(e["dossier_id"] for e in got) == sorted(f"cv{i}" for i in range(5, 12))
    assert all(e["digitized"] is True for e in got)  # CSV booleans converted back
