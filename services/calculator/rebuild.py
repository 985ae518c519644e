"""Re-derive every indicator figure from the event topics, from offset 0.

Deletes the derived state (entities, counters, sets, open dossiers; never the catalogs),
then reads the dossier and document topics up to their end offsets at start and applies
each record with the same decoding and the same idempotent script as the calculator.
Records that don't decode are counted, not dead-lettered again (the live calculator did).
Stop the calculator first; when it restarts, re-applying what it finds is a no-op.

It refuses, touching nothing, when history is missing (a partition's beginning offset is
not 0: retention or a deletion removed records, and a rebuild would silently derive only
what is left) or when a calculator is live in the consumer group (it would race it).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from redis.asyncio import Redis
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.calculator.decoding import decode_record
from shared.catalog_store import CatalogCache
from shared.config import Settings
from shared.events import Event
from shared.store import IndicatorStore
from shared.timeutil import now_utc

DERIVED_PATTERNS = ("ent:*", "cnt:*", "set:*", "pset:*", "open:*")


class RebuildRefused(RuntimeError):
    """The rebuild would lose history or race a live calculator; nothing was changed."""


def live_calculators(settings: Settings) -> int:
    """Members of the calculator's consumer group now (0: none is consuming)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id="egov-rebuild")
    try:
        groups = admin.describe_groups([settings.calculator_group])
    finally:
        admin.close()
    return sum(
        len(g.get("members") or [])
        for g in groups.values()
        if g.get("group_state") not in ("Dead", "Empty")
    )


@dataclass
class RebuildReport:
    records: int = 0
    applied: int = 0
    duplicates: int = 0
    invalid: int = 0
    deleted_keys: int = 0
    seconds: float = 0.0


async def delete_derived_state(redis: Redis) -> int:
    deleted = 0
    for pattern in DERIVED_PATTERNS:
        batch: list[bytes] = []
        async for key in redis.scan_iter(pattern, count=5000):
            batch.append(key)
            if len(batch) >= 5000:
                deleted += await redis.unlink(*batch)
                batch.clear()
        if batch:
            deleted += await redis.unlink(*batch)
    return deleted


async def rebuild(
    settings: Settings, *, batch_size: int = 2000, show_progress: bool = True, flush: bool = True
) -> RebuildReport:
    report = RebuildReport()
    started = time.perf_counter()
    live = await asyncio.to_thread(live_calculators, settings)
    if live:
        raise RebuildRefused(
            f"{live} calculator(s) live in consumer group {settings.calculator_group!r}: "
            "stop the calculator before a rebuild"
        )
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_poll_records=batch_size,
        client_id="egov-rebuild",
    )
    parts = [
        TopicPartition(t, p)
        for t in (settings.topics.dossier, settings.topics.document)
        for p in sorted(consumer.partitions_for_topic(t) or [])
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    begin = consumer.beginning_offsets(parts)
    end = consumer.end_offsets(parts)
    lost = [f"{tp.topic}[{tp.partition}] starts at offset {begin[tp]}" for tp in parts if begin[tp]]
    if lost:
        consumer.close()
        raise RebuildRefused(
            "history is missing, a rebuild would derive only what is left: " + "; ".join(lost)
        )
    redis = Redis.from_url(settings.redis_url)
    store = IndicatorStore(redis)
    catalogs = CatalogCache(redis)
    agencies = (await catalogs.current()).agencies.codes
    if flush:
        report.deleted_keys = await delete_derived_state(redis)
        # cached figures (the API's) must not outlive the deleted ones
        await store.bump_data_versions(agencies, every_written=True)
    total = sum(end[tp] - begin[tp] for tp in parts)
    remaining = {tp for tp in parts if end[tp] > begin[tp]}
    with Progress(
        TextColumn("rebuild"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("records", total=total)
        while remaining:
            polled = await asyncio.to_thread(consumer.poll, 1000, batch_size)
            events: list[Event] = []
            now = now_utc()
            for tp, records in polled.items():
                for rec in records:
                    if rec.offset >= end[tp]:
                        continue
                    report.records += 1
                    result = decode_record(rec.value, agencies=agencies, now=now)
                    if isinstance(result, tuple):
                        report.invalid += 1
                    else:
                        events.append(result)
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            applied = await store.apply_many(events)
            report.applied += sum(applied)
            report.duplicates += len(applied) - sum(applied)
            progress.update(task, completed=report.records)
            for tp in list(remaining):
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    consumer.close()
    await redis.aclose()
    report.seconds = time.perf_counter() - started
    return report
