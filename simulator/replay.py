"""Replay a file of events into the ingest API or straight into Kafka.

Input: NDJSON (one event a line; blank lines ignored) or CSV (a header, one column per
event field; empty cells are absent fields, booleans and integers converted back).

- Into ingest (``IngestSink``): batches POSTed as NDJSON with ``?partial=true``, so a bad
  event does not block the rest; its rejection (field, code, reason) is collected. 503 and
  429 are retried after their ``Retry-After``; a batch too large (413) is split.
- Into Kafka (``KafkaSink``): confluent-kafka's producer as ingest's (``acks=all``,
  idempotent), key = the event's entity within its agency (``key_for``, as ingest keys
  it), topic by event type (dossier events → ``topics.dossier``, document events →
  ``topics.document``), value = the event's JSON. Nothing validates on the way (the
  calculator dead-letters invalid events) unless ``validate`` checks them here first.

Resumable: after every acknowledged batch ``<file>.checkpoint`` holds how many events of
the file are done; ``resume`` continues after them. Sending an event twice is harmless
(``event_id`` is the idempotency key), so a crash between a batch and its checkpoint
costs nothing but a re-send.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from shared.contract.events import EVENT_MODELS
from shared.contract.partitioning import partition_of, raw_key
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings

BOOL_FIELDS = frozenset(
    {
        "via_one_stop",
        "digitized",
        "result_electronic",
        "electronic",
        "confidential",
        "processed_online",
    }
)
INT_FIELDS = frozenset({"amount_vnd"})
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})
MAX_EXAMPLES = 20


# ---------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class Unreadable:
    """A record that is not a JSON object (never sent; counted as rejected)."""

    reason: str


Record = dict[str, Any] | Unreadable


def _csv_value(name: str, value: str) -> Any:
    """A CSV cell as the JSON value it stands for; ``None`` for an empty cell."""
    if value == "":
        return None
    if name in BOOL_FIELDS:
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        return value  # left as text: validation names the field
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value
    return value


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def read_events(path: Path, skip: int = 0) -> Iterator[tuple[int, Record]]:
    """``(line number, event)`` for each record after the first ``skip`` records."""
    if is_csv(path):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            for n, row in enumerate(reader):
                if n < skip:
                    continue
                event = {
                    k.strip(): v
                    for k, raw in row.items()
                    if k is not None
                    and raw is not None
                    and (v := _csv_value(k.strip(), raw)) is not None
                }
                yield reader.line_num, event
        return
    seen = 0
    with path.open("rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            seen += 1
            if seen <= skip:
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield line_no, Unreadable(f"not JSON: {exc}")
                continue
            yield line_no, value if isinstance(value, dict) else Unreadable("must be a JSON object")


def count_events(path: Path) -> int:
    """Records in the file (non-blank NDJSON lines, or CSV rows after the header)."""
    if is_csv(path):
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return sum(1 for _ in csv.DictReader(fh))
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def checkpoint_path(path: Path) -> Path:
    return path.with_name(path.name + ".checkpoint")


def read_checkpoint(path: Path) -> int:
    """Events already acknowledged according to ``<path>.checkpoint`` (0 if none)."""
    cp = checkpoint_path(path)
    try:
        return max(0, int(cp.read_text(encoding="utf-8").strip() or 0))
    except FileNotFoundError:
        return 0


def write_checkpoint(path: Path, done: int) -> None:
    cp = checkpoint_path(path)
    tmp = cp.with_name(cp.name + ".tmp")
    tmp.write_text(str(done), encoding="utf-8")
    os.replace(tmp, cp)


# ---------------------------------------------------------------------------------------
# Sinks


@dataclass(frozen=True)
class Rejection:
    """Why one event was rejected; ``index`` is its position in the batch sent."""

    index: int | None
    field: str
    code: str
    reason: str


@dataclass
class SendResult:
    accepted: int = 0
    rejections: list[Rejection] = field(default_factory=list)


class Sink(Protocol):
    def send(self, batch: Sequence[dict[str, Any]]) -> SendResult: ...

    def close(self) -> None: ...


class IngestError(RuntimeError):
    pass


def _retry_after(resp: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(resp.headers.get("Retry-After", default)))
    except ValueError:  # an HTTP date: not worth parsing here
        return default


class IngestSink:
    """POSTs batches to ``{url}/v1/events?partial=true`` as NDJSON."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        client: httpx.Client | None = None,
        max_attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client or httpx.Client(timeout=120)
        self.url = url.rstrip("/") + "/v1/events"
        self.headers = {
            "Authorization": f"Bearer {token}",
            "content-type": "application/x-ndjson",
        }
        self.max_attempts = max_attempts
        self.sleep = sleep
        self.on_wait = on_wait

    def _note(self, message: str) -> None:
        if self.on_wait is not None:
            self.on_wait(message)

    def send(self, batch: Sequence[dict[str, Any]]) -> SendResult:
        body = b"\n".join(orjson.dumps(e) for e in batch)
        failures = 0
        while True:
            try:
                resp = self.client.post(
                    self.url, content=body, params={"partial": "true"}, headers=self.headers
                )
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self.max_attempts:
                    raise IngestError(f"ingest unreachable: {exc}") from exc
                wait = min(30.0, 0.5 * 2**failures)
                self._note(f"ingest unreachable ({type(exc).__name__}); retry in {wait:g}s")
                self.sleep(wait)
                continue
            if resp.status_code in (429, 503):  # overloaded or event log down: wait and retry
                wait = _retry_after(resp, 2.0)
                self._note(f"ingest answered {resp.status_code}; retry in {wait:g}s")
                self.sleep(wait)
                continue
            if resp.status_code == 413 and len(batch) > 1:  # too large: halves
                half = len(batch) // 2
                first, second = self.send(batch[:half]), self.send(batch[half:])
                return SendResult(
                    first.accepted + second.accepted,
                    first.rejections
                    + [
                        Rejection(
                            None if r.index is None else r.index + half, r.field, r.code, r.reason
                        )
                        for r in second.rejections
                    ],
                )
            if resp.status_code != 202:
                raise IngestError(f"ingest answered {resp.status_code}: {resp.text[:500]}")
            data = resp.json()
            return SendResult(
                accepted=int(data.get("accepted", 0)),
                rejections=[
                    Rejection(
                        index=err.get("index"),
                        field=str(err.get("field", "event")),
                        code=str(err.get("code", "invalid")),
                        reason=str(err.get("reason", "")),
                    )
                    for err in data.get("rejected", [])
                ],
            )

    def close(self) -> None:
        self.client.close()


def topic_for(event: dict[str, Any], settings: Settings) -> str:
    """Document events go to the document topic, everything else (dossiers, petitions,
    procedure publications, unknown types) to the dossier topic: ingest's choice."""
    model = EVENT_MODELS.get(str(event.get("event_type")))
    if model is not None and model.topic_role == "document":
        return settings.topics.document
    return settings.topics.dossier


def key_for(event: dict[str, Any]) -> bytes:
    """The Kafka key: ``<agency>/<entity>`` (``shared.contract.partitioning``), the key ingest gives
    the same event, so a replay lands on the partitions a live feed would."""
    return raw_key(event)


def event_producer(bootstrap: str, **config: Any) -> Any:
    """A producer of contract events as ingest's (confluent-kafka: ``acks=all``,
    idempotent, the Java client's murmur2 partitioner, so a key lands on the partition
    ingest and ``kafka_partition`` give it); ``config``: librdkafka settings on top."""
    from confluent_kafka import Producer

    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
            "message.max.bytes": 8 * 1024 * 1024,
            **config,
        }
    )


def produce_each(producer: Any, records: Iterable[tuple[str, bytes, bytes]]) -> int:
    """Produce (topic, key, value) records, then wait for every acknowledgement; raises
    if the broker did not acknowledge one. Returns how many were produced."""
    failed: list[Any] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    n = 0
    for topic, key, value in records:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    if producer.flush(600) or failed:
        raise RuntimeError(f"not acknowledged by Kafka: {failed[:3]}")
    return n


class KafkaSink:
    """Produces each event straight to its topic (acks=all), keyed by entity."""

    def __init__(self, bootstrap: str, settings: Settings, *, producer: Any | None = None) -> None:
        self.settings = settings
        self.producer = producer or event_producer(bootstrap, **{"linger.ms": 20})

    def send(self, batch: Sequence[dict[str, Any]]) -> SendResult:
        produce_each(
            self.producer,
            ((topic_for(e, self.settings), key_for(e), orjson.dumps(e)) for e in batch),
        )
        return SendResult(accepted=len(batch))

    def close(self) -> None:
        self.producer.flush(60)


def kafka_partition(key: bytes, partitions: Sequence[int]) -> int:
    """The partition Kafka's default partitioner (murmur2 of the key) gives ``key``: the
    same as ``KafkaSink``'s producer chooses."""
    ordered = sorted(partitions)
    return ordered[partition_of(key, len(ordered))]


async def produce_in_batches(
    events: Iterable[dict[str, Any]],
    bootstrap: str,
    settings: Settings,
    *,
    batch_bytes: int = 1 << 20,
) -> Counter[str]:
    """Produce ``events`` straight to Kafka like ``KafkaSink`` (topic by event type, key =
    entity, acks=all, same partitions) with record batches of up to ``batch_bytes`` (a
    simulated year in seconds, not minutes; in a thread). Returns the events produced by
    type, once every record is acknowledged."""
    import asyncio

    kinds: Counter[str] = Counter()

    def records() -> Iterator[tuple[str, bytes, bytes]]:
        for event in events:
            kinds[str(event.get("event_type"))] += 1
            yield topic_for(event, settings), key_for(event), orjson.dumps(event)

    def produce() -> None:
        producer = event_producer(bootstrap, **{"linger.ms": 50, "batch.size": batch_bytes})
        produce_each(producer, records())

    await asyncio.to_thread(produce)
    return kinds


# ---------------------------------------------------------------------------------------
# Replay


@dataclass
class ReplaySummary:
    sent: int = 0  # events sent in this run
    accepted: int = 0
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)  # (field, code)
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (field, reason)
    rejected_events: int = 0
    unreadable: int = 0  # records that are not JSON objects (not sent)
    examples: list[tuple[int, str, str]] = field(default_factory=list)  # (line, field, reason)
    skipped: int = 0  # events done by an earlier run (``resume``)
    total: int = 0  # events in the file
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def reject(self, line: int | None, field_name: str, code: str, reason: str) -> None:
        self.rejected[(field_name, code)] += 1
        self.reasons[(field_name, reason)] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((line or 0, field_name, reason))


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "– ev/s", style="progress.data.speed")


def replay(
    path: Path,
    sink: Sink,
    *,
    batch_size: int = 1000,
    resume: bool = False,
    show_progress: bool = True,
    validate: bool = False,
    console: Console | None = None,
) -> ReplaySummary:
    """Send the events of ``path`` through ``sink``; checkpoint after every batch.

    ``validate``: check each event against contract v1 and the agency catalog in time
    (the agency valid on the event's date, as ingest and the calculator check it) here and
    send only the valid ones (useful into Kafka, where nothing else checks on the way).
    A Ctrl-C stops after the batch in flight; the summary says ``interrupted``.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    summary = ReplaySummary()
    summary.total = count_events(path)
    done = min(read_checkpoint(path), summary.total) if resume else 0
    summary.skipped = done
    agencies = load_agencies() if validate else None
    started = time.perf_counter()
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
        console=console,
    )
    records = read_events(path, skip=done)
    try:
        with progress:
            task = progress.add_task("replay", total=summary.total, completed=done)
            while True:
                chunk = list(islice(records, batch_size))
                if not chunk:
                    break
                to_send: list[dict[str, Any]] = []
                lines: list[int] = []
                rejected_lines: set[int] = set()
                for line, record in chunk:
                    if isinstance(record, Unreadable):
                        summary.unreadable += 1
                        rejected_lines.add(line)
                        summary.reject(line, "event", "json", record.reason)
                        continue
                    if agencies is not None:
                        result = validate_event(record, agencies=agencies)
                        if isinstance(result, list):
                            rejected_lines.add(line)
                            for err in result:
                                summary.reject(line, err.field, err.code, err.reason)
                            continue
                    to_send.append(record)
                    lines.append(line)
                if to_send:
                    sent = sink.send(to_send)
                    summary.accepted += sent.accepted
                    for rej in sent.rejections:
                        at: int | None = None
                        if rej.index is not None and 0 <= rej.index < len(lines):
                            at = lines[rej.index]
                            rejected_lines.add(at)
                        summary.reject(at, rej.field, rej.code, rej.reason)
                summary.sent += len(to_send)
                summary.rejected_events += len(rejected_lines)
                done += len(chunk)
                write_checkpoint(path, done)
                progress.update(
                    task,
                    completed=done,
                    description=f"replay · {summary.rejected_events:,} rejected",
                )
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        sink.close()
        summary.seconds = time.perf_counter() - started
    return summary


def summary_lines(summary: ReplaySummary, top: int = 10) -> list[str]:
    """The end-of-run report: counts, throughput, the most frequent rejection reasons."""
    head = "interrupted — run again with --resume to continue" if summary.interrupted else "done"
    lines = [
        f"{head}: sent {summary.sent:,} events"
        + (f" (skipped {summary.skipped:,} done earlier)" if summary.skipped else "")
        + f", accepted {summary.accepted:,}, rejected {summary.rejected_events:,}"
        + (f" ({summary.unreadable:,} unreadable)" if summary.unreadable else ""),
        f"elapsed {summary.seconds:,.1f}s, {summary.rate:,.0f} events/s",
    ]
    if summary.rejected:
        lines.append("rejections by field and code:")
        lines += [
            f"  {n:>9,}  {field_name}: {code}"
            for (field_name, code), n in summary.rejected.most_common(top)
        ]
        lines.append("top reasons:")
        lines += [
            f"  {n:>9,}  {field_name}: {reason}"
            for (field_name, reason), n in summary.reasons.most_common(top)
        ]
        lines.append("first rejected lines:")
        lines += [
            f"  line {line}: {field_name}: {reason}"
            for line, field_name, reason in summary.examples[:top]
        ]
    return lines
