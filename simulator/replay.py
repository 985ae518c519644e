"""Replay a file of events (NDJSON, or CSV with one column per field) into the ingest API
or straight into Kafka. Resumable: ``<file>.checkpoint`` holds how many events were
acknowledged, and ``resume`` continues after them."""

from __future__ import annotations

import csv
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from kafka import KafkaProducer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.config import Settings
from shared.events import EVENT_MODELS

BOOL_FIELDS = {
    "via_one_stop",
    "digitized",
    "result_electronic",
    "electronic",
    "confidential",
    "processed_online",
}
INT_FIELDS = {"amount_vnd"}


@dataclass
class ReplaySummary:
    sent: int = 0
    accepted: int = 0
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def _csv_value(name: str, value: str) -> Any:
    if value == "":
        return None
    if name in BOOL_FIELDS:
        return value.strip().lower() in ("true", "1", "yes")
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    if path.suffix.lower() == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                yield {k: v for k, raw in row.items() if (v := _csv_value(k, raw)) is not None}
        return
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                yield orjson.loads(line)


def count_events(path: Path) -> int:
    with path.open("rb") as fh:
        lines = sum(1 for line in fh if line.strip())
    return lines - 1 if path.suffix.lower() == ".csv" else lines


def checkpoint_path(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoint")


def _batches(events: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class IngestSink:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url.rstrip("/"),
            timeout=60,
            headers={"Authorization": f"Bearer {token}", "content-type": "application/x-ndjson"},
        )

    def send(self, batch: list[dict[str, Any]], summary: ReplaySummary) -> None:
        body = b"\n".join(orjson.dumps(e) for e in batch)
        while True:
            resp = self.client.post("/v1/events", content=body, params={"partial": "true"})
            if resp.status_code == 503:
                time.sleep(float(resp.headers.get("Retry-After", "2")))
                continue
            if resp.status_code != 202:
                raise RuntimeError(f"ingest answered {resp.status_code}: {resp.text[:300]}")
            data = resp.json()
            summary.accepted += data["accepted"]
            for err in data["rejected"]:
                summary.rejected[(err["field"], err["code"])] += 1
            return

    def close(self) -> None:
        self.client.close()


class KafkaSink:
    def __init__(self, bootstrap: str, settings: Settings) -> None:
        self.settings = settings
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=20,
            batch_size=512 * 1024,
            max_request_size=8 * 1024 * 1024,
        )

    def send(self, batch: list[dict[str, Any]], summary: ReplaySummary) -> None:
        topics = self.settings.topics
        futures = []
        for event in batch:
            model = EVENT_MODELS.get(str(event.get("event_type")))
            topic = (
                topics.document
                if model is not None and model.family == "document"
                else (topics.dossier)
            )
            key = str(event.get("agency_code", "")).encode()
            futures.append(self.producer.send(topic, key=key, value=orjson.dumps(event)))
        self.producer.flush()
        for future in futures:
            future.get(timeout=60)
        summary.accepted += len(batch)  # validation happens in the calculator (dead letters)

    def close(self) -> None:
        self.producer.close()


def replay(
    path: Path,
    sink: IngestSink | KafkaSink,
    *,
    batch_size: int = 1000,
    resume: bool = False,
    show_progress: bool = True,
) -> ReplaySummary:
    summary = ReplaySummary()
    checkpoint = checkpoint_path(path)
    done = int(checkpoint.read_text()) if resume and checkpoint.exists() else 0
    total = count_events(path)
    started = time.perf_counter()
    events = read_events(path)
    for _ in range(done):
        next(events, None)
    summary.skipped = done
    with Progress(
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("events", total=total, completed=done)
        try:
            for batch in _batches(events, batch_size):
                sink.send(batch, summary)
                summary.sent += len(batch)
                done += len(batch)
                checkpoint.write_text(str(done))
                progress.update(task, completed=done)
        finally:
            sink.close()
    summary.seconds = time.perf_counter() - started
    return summary
