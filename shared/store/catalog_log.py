"""Catalogs are versioned events too: every replacement of the agency or procedure catalog
is first published on the catalog topic (infinite retention, one partition, so its order
is the order the catalogs took effect), then written to Redis. So a Redis loss loses no
catalog (``egov restore`` reads the latest back), and a rebuild validates each event
against the agency catalog that was in force when the event was processed.

:class:`CatalogHistory` summarises the log for ``GET /v1/catalog/history``: each
replacement, in log order, with its time, kind and what it changed against the previous
catalog of the same kind (rows added, ended with a ``valid_to``, removed)."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from pydantic import BaseModel

from shared.domain.catalog import Agency, AgencyCatalog, load_agencies
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.store.exceptions import CatalogHistoryUnavailable, CatalogLogError

CatalogKind = Literal["agencies", "procedures"]
# the code identifying a row of each catalog
ROW_KEY: dict[CatalogKind, str] = {"agencies": "agency_code", "procedures": "procedure_code"}


class CatalogRecord(BaseModel):
    """One catalog as it took effect (the record's broker timestamp is when)."""

    kind: CatalogKind
    published_at: datetime
    items: list[dict[str, Any]]


class CatalogLog:
    """Publishes catalog replacements (``acks=all``) before they take effect."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer: KafkaProducer | None = None

    def _publish(self, kind: CatalogKind, items: Sequence[dict[str, Any]]) -> None:
        record = CatalogRecord(kind=kind, published_at=datetime.now(UTC), items=list(items))
        try:
            if self._producer is None:
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    acks="all",
                    compression_type="zstd",
                    max_request_size=16 * 1024 * 1024,
                    max_block_ms=int(self.timeout_s * 1000),
                )
            future = self._producer.send(
                self.topic, key=kind.encode(), value=record.model_dump_json().encode()
            )
            future.get(timeout=self.timeout_s)
        except KafkaError as exc:
            raise CatalogLogError(
                f"catalog topic {self.topic!r} unavailable ({type(exc).__name__}): "
                "the catalog was not changed"
            ) from None

    async def publish(self, kind: CatalogKind, items: Sequence[dict[str, Any]]) -> None:
        await asyncio.to_thread(self._publish, kind, items)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None


def read_history(bootstrap: str, topic: str) -> list[tuple[int, CatalogRecord]]:
    """Every catalog ever published, as (broker timestamp in ms, record), oldest first."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not parts:
            return []
        end = consumer.end_offsets(parts)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[tuple[int, CatalogRecord]] = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for records in consumer.poll(1000, 500).values():
                for rec in records:
                    out.append(
                        (rec.timestamp, CatalogRecord.model_validate(orjson.loads(rec.value)))
                    )
        out.sort(key=lambda item: item[0])
        return out
    finally:
        consumer.close()


class CatalogTimeline:
    """The catalogs in force over time; before the first published agency catalog, the
    packaged one (what a fresh Redis is seeded with)."""

    def __init__(self, history: Sequence[tuple[int, CatalogRecord]]) -> None:
        self._agency_at: list[int] = []
        self._agencies: list[AgencyCatalog] = []
        self.latest_procedures: ProcedureCatalog | None = None
        self.latest_agencies: AgencyCatalog | None = None
        for stamp, record in history:
            if record.kind == "agencies":
                catalog = AgencyCatalog([Agency.model_validate(d) for d in record.items])
                self._agency_at.append(stamp)
                self._agencies.append(catalog)
                self.latest_agencies = catalog
            else:
                self.latest_procedures = ProcedureCatalog(
                    Procedure.model_validate(d) for d in record.items
                )

    def agencies_at(self, when: datetime) -> AgencyCatalog:
        """The agency catalog in force at ``when`` (a record's broker timestamp)."""
        i = bisect.bisect_right(self._agency_at, int(when.timestamp() * 1000)) - 1
        return self._agencies[i] if i >= 0 else load_agencies()


class CatalogChange(BaseModel):
    """One catalog replacement as the log holds it, compared with the previous catalog of
    the same kind (the first of a kind: every row added)."""

    published_at: datetime
    kind: CatalogKind
    rows: int
    added: int  # codes not in the previous catalog
    ended: int  # codes given a valid_to (or another one) since the previous catalog
    removed: int  # codes of the previous catalog left out (only codes without figures)
    partition: int
    offset: int


def summarise(
    kind: CatalogKind,
    previous: Mapping[str, str | None],
    items: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, str | None], tuple[int, int, int]]:
    """A catalog's rows (code → ``valid_to``) and (added, ended, removed) against the
    previous catalog of its kind (code → ``valid_to``)."""
    key = ROW_KEY[kind]
    rows: dict[str, str | None] = {}
    for item in items:
        end = item.get("valid_to")
        rows[str(item[key])] = str(end) if end not in (None, "") else None
    added = sum(1 for code in rows if code not in previous)
    ended = sum(
        1
        for code, end in rows.items()
        if code in previous and end is not None and end != previous[code]
    )
    removed = sum(1 for code in previous if code not in rows)
    return rows, (added, ended, removed)


class CatalogHistory:
    """The catalog log, summarised: read from the topic incrementally (each call reads only
    the records published since the last), kept in memory as counts, never as catalogs."""

    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout_s = timeout_s
        self._next: dict[int, int] = {}  # partition → the next offset to read
        self._rows: dict[CatalogKind, dict[str, str | None]] = {}
        self._changes: list[CatalogChange] = []
        self._lock = asyncio.Lock()

    async def changes(self) -> list[CatalogChange]:
        """Every replacement so far, oldest first; raises
        :class:`CatalogHistoryUnavailable` when the topic cannot be read."""
        async with self._lock:
            records = await asyncio.to_thread(self._read_new)
            for _stamp, partition, offset, record in sorted(records, key=lambda r: r[:3]):
                rows, (added, ended, removed) = summarise(
                    record.kind, self._rows.get(record.kind, {}), record.items
                )
                self._rows[record.kind] = rows
                self._changes.append(
                    CatalogChange(
                        published_at=record.published_at,
                        kind=record.kind,
                        rows=len(rows),
                        added=added,
                        ended=ended,
                        removed=removed,
                        partition=partition,
                        offset=offset,
                    )
                )
            return list(self._changes)

    def _read_new(self) -> list[tuple[int, int, int, CatalogRecord]]:
        """(broker timestamp ms, partition, offset, record) of the records not read yet."""
        try:
            consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                enable_auto_commit=False,
                group_id=None,
            )
        except KafkaError as exc:
            raise CatalogHistoryUnavailable(
                f"catalog topic {self.topic!r} unreadable ({type(exc).__name__})"
            ) from None
        try:
            parts = [
                TopicPartition(self.topic, p)
                for p in sorted(consumer.partitions_for_topic(self.topic) or [])
            ]
            if not parts:
                return []
            end = consumer.end_offsets(parts)
            consumer.assign(parts)
            for tp in parts:
                consumer.seek(tp, self._next.get(tp.partition, 0))
            out: list[tuple[int, int, int, CatalogRecord]] = []
            deadline = time.monotonic() + self.timeout_s
            while any(consumer.position(tp) < end[tp] for tp in parts):
                if time.monotonic() > deadline:
                    raise CatalogHistoryUnavailable(
                        f"catalog topic {self.topic!r}: not read to its end in {self.timeout_s:g} s"
                    )
                for records in consumer.poll(1000, 500).values():
                    for rec in records:
                        if rec.offset >= end[TopicPartition(rec.topic, rec.partition)]:
                            continue
                        record = CatalogRecord.model_validate(orjson.loads(rec.value))
                        out.append((rec.timestamp, rec.partition, rec.offset, record))
            # only once everything up to the end offsets was read: a failed read re-reads
            for tp in parts:
                self._next[tp.partition] = end[tp]
            return out
        except KafkaError as exc:
            raise CatalogHistoryUnavailable(
                f"catalog topic {self.topic!r} unreadable ({type(exc).__name__})"
            ) from None
        finally:
            consumer.close()
