"""The Kafka key of an event: its entity (dossier, petition, procedure, document or work
file) within its agency: ``<agency>/d:<dossier_id>``, ``<agency>/pk:<petition_id>``,
``<agency>/proc:<procedure_code>``, ``<agency>/doc:<document_id>``,
``<agency>/wf:<work_file_id>``. A ``transferred`` event is keyed under the agency that
sends it (``agency_code``), like every other event of the dossier that agency sends.

Kafka puts every record with the same key on the same partition (the default partitioner:
murmur2 of the key modulo the partition count). Keying by ``agency_code`` put each
agency's whole volume on one partition — the simulated year 2024 spread over 6 partitions
as 15.7/22.2/6.6/6.8/21.4/27.3 % — so six calculators could go at most 3.7× one. Keying by
the entity spreads hundreds of thousands of keys evenly (16.6–16.7 % each, up to 6.0×;
``python -m bench.partition_spread``) and still keeps each dossier's events on one
partition, in the order they were produced.

Correctness does not depend on the key: the Redis script keeps each dossier's lifecycle
under agency + entity, recomputes its contribution on every event and moves only the
difference, skips an event id it already applied, and runs atomically — so counting is
order-independent and idempotent, whichever calculator applies which event and in which
order. Counters of one agency fed from several partitions are atomic increments.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kafka.partitioner.default import murmur2

from shared.contract.events import EVENT_MODELS
from shared.domain.counting import ENTITY_PREFIX, entity_key

if TYPE_CHECKING:
    from shared.contract.fastevents import AnyEvent

# Separates the agency from the entity; agency codes are free text, but a key only
# chooses a partition, so two keys that happened to collide would still count right.
SEPARATOR = "/"
# The id field of each family's events, and of each document event type.
_FAMILY_ID = {"dossier": "dossier_id", "petition": "petition_id", "procedure": "procedure_code"}
_DOCUMENT_ID = {"document_issued": "document_id", "work_file_completed": "work_file_id"}


def key_of(event: AnyEvent) -> bytes:
    """``<agency>/<entity>`` of a validated event (its model, or the struct ingest's fast
    path decoded), e.g. ``so-tttt/d:HS-001``."""
    return f"{event.agency_code}{SEPARATOR}{entity_key(event)}".encode()


def raw_key(event: Mapping[str, Any]) -> bytes:
    """The same key for an event that is still JSON (replays straight into Kafka): the one
    :func:`key_of` gives once it is parsed. An event without its entity id (it will be
    dead-lettered) is keyed by its agency alone."""
    agency = str(event.get("agency_code", ""))
    event_type = str(event.get("event_type"))
    model = EVENT_MODELS.get(event_type)
    if model is None:
        return agency.encode()
    if model.family in _FAMILY_ID:
        field, prefix = _FAMILY_ID[model.family], ENTITY_PREFIX[model.family]
    elif event_type in _DOCUMENT_ID:
        field, prefix = _DOCUMENT_ID[event_type], ENTITY_PREFIX[event_type]
    else:
        return agency.encode()
    entity = event.get(field)
    if not isinstance(entity, str) or not entity:
        return agency.encode()
    return f"{agency}{SEPARATOR}{prefix}:{entity}".encode()


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``
    (Java's ``Utils.toPositive(murmur2(key)) % numPartitions``)."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def spread(keys: Iterable[bytes], partitions: int) -> list[float]:
    """Share (percent) of ``keys`` — one per record — on each of ``partitions``."""
    counts: Counter[int] = Counter(partition_of(k, partitions) for k in keys)
    total = sum(counts.values()) or 1
    return [100.0 * counts[p] / total for p in range(partitions)]


def speedup_bound(shares: Sequence[float]) -> float:
    """How many times one worker's rate N workers (one a partition) reach at most: the
    busiest partition finishes last."""
    return 100.0 / max(shares) if shares and max(shares) > 0 else 0.0
