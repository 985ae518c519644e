"""What a closed year keeps (issue 20, item 12): `egov years archive` moves the entity
states of a closed year's closed dossiers to a file and out of Redis, the year's figures
untouched; a late duplicate ``received`` of an archived dossier is dead-lettered
(``year_archived``) instead of being counted as a second receipt; an open dossier of that
year stays and its resolution in January of the next year counts; `egov rebuild` refuses
while the year is archived; `egov years restore` puts the states back byte for byte."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from redis.asyncio import Redis

from services.ops.exceptions import RebuildRefused
from services.ops.rebuild import rebuild
from services.ops.year_archive import file_sha256, read_states
from services.ops.years import archive_year, restore_year
from shared.domain.catalog import load_agencies
from shared.store.archived_years import read_archived_years
from shared.store.indicator_store import IndicatorStore
from shared.store.replay import ReplayCounts, open_consumer, replay_ranges
from tests.factories import received
from tests.faults.test_calculator_faults import (
    counted,
    distinct_ids,
    produce,
    report,
    wait_equal,
)
from tests.faults.test_rebuild_guards import settings_of
from tests.integration.test_counting_redis import snapshot
from tests.integration.test_exactly_once import event_stream, parse, reference_snapshot

pytestmark = pytest.mark.integration

OPEN_AGENCY = "so-tttt"  # in the catalog until 2025-02-28: its January 2025 event is valid


async def _buckets(url: str) -> dict[tuple[bytes, bytes], bytes]:
    """Every dossier and petition state: (bucket, field) → value."""
    redis = Redis.from_url(url)
    try:
        out: dict[tuple[bytes, bytes], bytes] = {}
        async for key in redis.scan_iter("ent:*"):
            if re.search(rb"\}:(d|pk)[0-9]+$", key):
                for field, value in (await redis.hgetall(key)).items():
                    out[(key, field)] = value  # type: ignore[index,assignment]
        return out
    finally:
        await redis.aclose()


async def _with_redis(url: str, work: Any) -> Any:
    redis = Redis.from_url(url)
    try:
        return await work(redis)
    finally:
        await redis.aclose()


async def _replay_all(redis: Redis, bootstrap: str, topic: str) -> ReplayCounts:
    """The whole topic replayed onto the live keyspace, as a gap fill would."""
    consumer = open_consumer(bootstrap, 500)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        end = consumer.end_offsets(parts)
        catalog = load_agencies()
        return await replay_ranges(
            consumer,
            IndicatorStore(redis),
            {tp: (0, end[tp]) for tp in parts},
            lambda _: catalog,
            skip_years=set(await read_archived_years(redis)),
        )
    finally:
        consumer.close()


def dead_letters(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=3000)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    entries = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    return entries


def test_archive_a_closed_year_a_late_duplicate_then_restore(
    isolated, service_factory, tmp_path: Path
) -> None:
    url, topics, bootstrap = isolated["redis_url"], isolated["topics"], isolated["bootstrap"]
    raws = event_stream(150, seed=31)  # 2024: ~60 % resolved (closed), the rest open
    still_open = received(agency=OPEN_AGENCY, dossier="open-2024", at="2024-11-20T09:00:00+07:00")
    raws.append(still_open)
    closed = next(r for r in raws if r["event_type"] == "resolved")
    late_duplicate = received(
        agency=closed["agency_code"],
        dossier=closed["dossier_id"],
        at="2024-12-30T10:00:00+07:00",
        event_id="late-duplicate",
    )
    january = {
        "event_id": "open-2024-resolved",
        "event_type": "resolved",
        "occurred_at": "2025-01-15T10:00:00+07:00",
        "agency_code": OPEN_AGENCY,
        "dossier_id": "open-2024",
        "procedure_code": "p-1",
        "due_at": "2030-01-01T00:00:00+07:00",
        "outcome": "approved",
    }
    expected_year = asyncio.run(reference_snapshot(url, parse(raws)))
    # the late duplicate is not counted: the figures of every event but it
    expected_after = asyncio.run(reference_snapshot(url, parse([*raws, january])))
    # counted against no state (its state archived), it would be a receipt of its own
    as_new = {**late_duplicate, "dossier_id": "no-state-left"}
    double_counted = asyncio.run(reference_snapshot(url, parse([*raws, january, as_new])))
    assert double_counted != expected_after

    produce(bootstrap, topics.dossier, raws)
    service_factory("calculator", isolated["env"])
    ids, figures = wait_equal(url, expected_year, 120, distinct_ids(raws))
    assert figures == expected_year and ids == distinct_ids(raws)
    states_before = asyncio.run(_buckets(url))

    out = tmp_path / "2024.ndjson.gz"
    started = time.monotonic()
    archived = asyncio.run(
        _with_redis(
            url,
            lambda r: archive_year(r, 2024, out, today=date(2026, 3, 1), settle_s=3.0),
        )
    )
    archive_s = time.monotonic() - started
    in_file = {(s.key.encode(), s.field): s.value for s in read_states(out)}
    states_after = asyncio.run(_buckets(url))
    # every closed 2024 dossier's state is in the file and gone from Redis; the open stay
    assert archived.states == archived.removed == len(in_file) > 50
    assert archived.kept_open > 0
    assert not set(in_file) & set(states_after)
    assert {k: v for k, v in states_before.items() if k not in in_file} == states_after
    assert all(states_before[k] == v for k, v in in_file.items())
    assert any(field == b"open-2024" for _, field in states_after)
    # every figure of the year identical
    assert counted(url) == (ids, expected_year)
    marks = asyncio.run(_with_redis(url, read_archived_years))
    assert list(marks) == [2024] and marks[2024].sha256 == file_sha256(out)
    assert marks[2024].states == archived.states

    # a rebuild from offset 0 would count again what the year refuses: refused
    with pytest.raises(RebuildRefused, match="2024"):
        asyncio.run(rebuild(settings_of(isolated), show_progress=False))

    # a late duplicate receipt of an archived dossier, and the open one resolved in 2025
    produce(bootstrap, topics.dossier, [late_duplicate, january])
    ids, figures = wait_equal(url, expected_after, 60, distinct_ids(raws) + 1)
    assert figures == expected_after
    assert ids == distinct_ids(raws) + 1  # the January resolution, not the duplicate
    deadline = time.monotonic() + 20
    entries = dead_letters(bootstrap, topics.deadletter)
    while not entries and time.monotonic() < deadline:
        time.sleep(1)
        entries = dead_letters(bootstrap, topics.deadletter)
    assert [e["reason"] for e in entries] == ["year_archived"]
    assert "2024" in entries[0]["errors"][0]["reason"]
    assert orjson.loads(base64.b64decode(entries[0]["value_b64"]))["event_id"] == "late-duplicate"
    # gap filling and restore's tail replay the log the same way: every 2024 record (the
    # duplicate among them) skipped, the January one a duplicate
    replayed = asyncio.run(_with_redis(url, lambda r: _replay_all(r, bootstrap, topics.dossier)))
    assert (replayed.archived, replayed.applied, replayed.duplicates) == (len(raws) + 1, 0, 1)
    assert counted(url) == (ids, expected_after)
    report(
        "late event of an archived year (2024 archived: a duplicate receipt of an archived "
        "dossier, and a 2025 resolution of an open 2024 dossier)",
        distinct_ids([*raws, late_duplicate, january]),
        ids,
        archive_s,
    )

    # restore: every state back byte for byte (the open one changed by its resolution)
    restored = asyncio.run(_with_redis(url, lambda r: restore_year(r, out)))
    assert (restored.restored, restored.present, restored.unmarked) == (len(in_file), 0, True)
    states_restored = asyncio.run(_buckets(url))
    assert {k: v for k, v in states_restored.items() if k[1] != b"open-2024"} == {
        k: v for k, v in states_before.items() if k[1] != b"open-2024"
    }
    assert asyncio.run(_with_redis(url, read_archived_years)) == {}
    assert asyncio.run(_with_redis(url, snapshot)) == expected_after
    again = asyncio.run(_with_redis(url, lambda r: restore_year(r, out)))  # idempotent
    assert (again.restored, again.present) == (0, len(in_file))
    assert asyncio.run(_buckets(url)) == states_restored
