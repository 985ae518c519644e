"""Kafka keys by entity (shared.contract.partitioning): the same key from JSON and from a parsed
event, distinct across agencies, the default partitioner's partition, an even spread."""

from __future__ import annotations

from typing import Any

from kafka.partitioner import DefaultPartitioner

from shared.contract.partitioning import key_of, partition_of, raw_key, speedup_bound, spread
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from simulator.appendix2024 import YearStream
from tests.factories import received

AGENCIES = load_agencies()
SUBSET = ("so-tai-chinh", "so-y-te", "ubnd-chau-doc", "thanh-tra-tinh")


def _events() -> list[dict[str, Any]]:
    return list(YearStream(agencies=SUBSET, documents_per_agency=200).events())


def test_raw_and_parsed_events_get_the_same_entity_key() -> None:
    kinds: set[str] = set()
    for raw in _events()[::7]:
        event = validate_event(raw, agencies=AGENCIES)
        assert not isinstance(event, list), event
        assert key_of(event) == raw_key(raw)
        kinds.add(raw["event_type"])
    assert {"received", "resolved", "document_issued", "work_file_completed"} <= kinds
    assert raw_key(received(agency="so-y-te", dossier="HS-1")) == b"so-y-te/d:HS-1"


def test_the_same_dossier_id_in_two_agencies_has_two_keys() -> None:
    a = raw_key(received(agency="so-y-te", dossier="HS-1"))
    b = raw_key(received(agency="so-tai-chinh", dossier="HS-1"))
    assert a != b


def test_an_event_without_its_entity_is_keyed_by_agency() -> None:
    raw = received(agency="so-y-te", dossier="HS-1")
    del raw["dossier_id"]
    assert raw_key(raw) == b"so-y-te"
    assert raw_key({"agency_code": "so-y-te", "event_type": "nonsense"}) == b"so-y-te"


def test_partition_is_the_default_partitioners() -> None:
    class Cluster:
        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(range(6))

        available_partitions_for_topic = partitions_for_topic

    partitioner = DefaultPartitioner()
    for raw in _events()[:500]:
        key = raw_key(raw)
        expected = partitioner.partition("t", None, key, None, None, Cluster())
        assert partition_of(key, 6) == expected


def test_entity_keys_spread_evenly_where_agency_keys_do_not() -> None:
    events = _events()
    by_entity = spread((raw_key(e) for e in events), 6)
    by_agency = spread((e["agency_code"].encode() for e in events), 6)
    assert max(by_entity) < 18.5 and min(by_entity) > 15.0
    assert speedup_bound(by_entity) > 5.4
    assert sum(1 for share in by_agency if share == 0) >= 2  # four agencies, six partitions
