"""Re-apply ranges of the event log to Redis: what a rebuild, a restore and the calculator's
gap filling share.

Each record is decoded and validated like the live calculator does and applied with the
same idempotent script; the applied offsets move with each chunk, in the same atomic call
as its figures. Records that don't decode are counted, not dead-lettered again (the live
calculator did that when it first saw them); nor are the events of ``skip_years``, the
archived years the live calculator dead-letters (``shared.store.archived_years``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from kafka import KafkaConsumer, TopicPartition

from shared.contract.decoding import decode_record
from shared.contract.fastevents import AnyEvent, FastValidator
from shared.contract.validation import Agencies
from shared.domain.calendar import now_utc
from shared.domain.catalog import AgencyCatalog
from shared.domain.succession import succession_of
from shared.store.archived_years import archived_event
from shared.store.indicator_store import IndicatorStore

Ranges = Mapping[TopicPartition, tuple[int, int]]  # [start, end) offsets
# The agency catalog to validate a record with, given the record's broker timestamp.
CatalogAt = Callable[[datetime], Agencies]


@dataclass
class ReplayCounts:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    invalid: int = 0
    archived: int = 0  # events of an archived year: not applied

    def add(self, other: ReplayCounts) -> None:
        self.records += other.records
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.invalid += other.invalid
        self.archived += other.archived


def open_consumer(bootstrap: str, batch_size: int) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=batch_size,
        client_id="egov-replay",
    )


async def replay_ranges(
    consumer: KafkaConsumer,
    store: IndicatorStore,
    ranges: Ranges,
    catalog_at: CatalogAt,
    *,
    on_progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
    skip_years: Collection[int] = (),
) -> ReplayCounts:
    """Apply every record of ``ranges`` (start inclusive, end exclusive) to ``store``, but
    the events dated in ``skip_years`` (archived: the live calculator dead-letters them)."""
    counts = ReplayCounts()
    latest = catalog_at(now_utc())
    if isinstance(latest, AgencyCatalog):  # §4b: links a reorganisation implies
        store.succession = succession_of(latest)
    todo = {tp: span for tp, span in ranges.items() if span[1] > span[0]}
    if not todo:
        return counts
    consumer.assign(list(todo))
    for tp, (start, _) in todo.items():
        consumer.seek(tp, start)
    remaining = set(todo)
    # per partition, the offset before which the replay applied everything: each chunk's
    # gap floor (IndicatorStore.apply_many), a hole in the log's offsets included
    floor = {(tp.topic, tp.partition): start for tp, (start, _) in todo.items()}
    while remaining:
        polled = await asyncio.to_thread(consumer.poll, 1000, batch_size)
        events: list[AnyEvent] = []
        offsets: dict[tuple[str, int], int] = {}
        now = now_utc()
        # the msgspec path, one per catalog in force (pydantic names what it refuses)
        fast: dict[int, tuple[Agencies, FastValidator]] = {}
        for tp, records in polled.items():
            end = todo[tp][1]
            for rec in records:
                if rec.offset >= end:
                    continue
                counts.records += 1
                offsets[(tp.topic, tp.partition)] = rec.offset
                stamp = datetime.fromtimestamp(rec.timestamp / 1000, now.tzinfo)
                agencies = catalog_at(stamp)
                if id(agencies) not in fast:
                    fast[id(agencies)] = (agencies, FastValidator(agencies, now))
                result = decode_record(
                    rec.value,
                    agencies=agencies,
                    now=now,
                    fast=fast[id(agencies)][1],
                    structs=True,
                )
                if isinstance(result, tuple):
                    counts.invalid += 1
                elif archived_event(result, skip_years) is not None:
                    counts.archived += 1
                else:
                    events.append(result)
        if events or offsets:
            applied = await store.apply_many(
                events, offsets, floor={tp: floor[tp] for tp in offsets}
            )
            floor |= {tp: o + 1 for tp, o in offsets.items()}
            counts.applied += sum(applied)
            counts.duplicates += len(applied) - sum(applied)
        if on_progress is not None:
            on_progress(counts.records)
        for tp in list(remaining):
            if consumer.position(tp) >= todo[tp][1]:
                remaining.discard(tp)
    return counts
