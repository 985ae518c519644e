"""Catalogs are versioned events too: every replacement of the agency or procedure catalog
is first published on the catalog topic (infinite retention, one partition, so its order
is the order the catalogs took effect), then written to Redis. So a Redis loss loses no
catalog (``egov restore`` reads the latest back), and a rebuild validates each event
against the agency catalog that was in force when the event was processed."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from pydantic import BaseModel

from shared.domain.catalog import Agency, AgencyCatalog, load_agencies
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.store.exceptions import CatalogLogError

CatalogKind = Literal["agencies", "procedures"]


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
