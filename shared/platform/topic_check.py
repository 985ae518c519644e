"""The event log is the system of record: the event topics and the dead-letter topic keep
every record forever (years later the province must re-derive a published table from
them), so they are created with infinite retention, and every service refuses to start
when a topic it uses is missing or would delete history.

Deleting is not the only way to lose history: a *compacted* topic keeps only each key's
last record (an entity-keyed event topic would keep each dossier's last event while its
offsets still start at 0, so neither the start-up check nor a rebuild would notice), and a
topic with fewer replicas than the deployment's ``EGOV_TOPIC_REPLICATION``, or a
``min.insync.replicas`` that lets ``acks=all`` succeed on fewer brokers than
:func:`min_insync` of its replication, loses acknowledged records with a broker. Services,
``egov rebuild`` and ``egov restore`` refuse such topics too."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError

from shared.platform.config import PlatformSettings
from shared.platform.exceptions import TopicCheckError

# What a durable topic must have; compression is what it is created with.
DURABLE_REQUIRED: Mapping[str, str] = {"retention.ms": "-1", "retention.bytes": "-1"}
# 16 MB records: a whole procedure catalog (8,000 procedures ≈ 2.4 MB of JSON) is one.
DURABLE_CONFIGS: Mapping[str, str] = {
    **DURABLE_REQUIRED,
    "compression.type": "zstd",
    "max.message.bytes": str(16 * 1024 * 1024),
}


def min_insync(replication: int) -> int:
    """``min.insync.replicas`` for a replication factor: all but one (3 → 2), at least 1 —
    an acknowledged record survives the loss of any one broker, and one lost broker does
    not stop writes."""
    return max(1, replication - 1)


def durable_topics(settings: PlatformSettings) -> list[str]:
    """The topics whose records are the system of record."""
    t = settings.topics
    return [t.dossier, t.document, t.deadletter, t.catalog]


def topic_configs(admin: KafkaAdminClient, topics: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in topics]
    described = admin.describe_configs(resources, config_filter="all")
    per_topic: dict[str, object] = {}
    for kind, entries in described.items():
        if str(getattr(kind, "name", kind)).lower() == "topic" and isinstance(entries, dict):
            per_topic.update(entries)
    out: dict[str, dict[str, str]] = {}
    for name, entries in per_topic.items():
        if isinstance(entries, dict):
            out[str(name)] = {
                str(key): str(data.get("value") if isinstance(data, dict) else data)
                for key, data in entries.items()
            }
    return out


def replication_factors(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """The replicas of each topic (its least replicated partition)."""
    out: dict[str, int] = {}
    for described in admin.describe_topics(topics):
        partitions = described.get("partitions") or []
        if described.get("error_code") == 0 and partitions:
            out[str(described["name"])] = min(
                len(p.get("replica_nodes") or p.get("replicas") or []) for p in partitions
            )
    return out


def topic_problems(
    admin: KafkaAdminClient, used: Iterable[str], durable: Iterable[str], replication: int = 1
) -> list[str]:
    """What is wrong with the topics a service uses, one sentence each (empty: all good).

    Every used topic needs at least ``replication`` replicas and ``min.insync.replicas`` of
    at least :func:`min_insync` of its replication; the durable ones keep every record
    (retention) and are never compacted."""
    used = list(dict.fromkeys(used))
    durable_used = [t for t in dict.fromkeys(durable) if t in used]
    existing = set(admin.list_topics())
    problems = [
        f"topic {name!r} does not exist (topics are created by the deployment, never automatically)"
        for name in used
        if name not in existing
    ]
    present = [t for t in used if t in existing]
    configs = topic_configs(admin, present) if present else {}
    factors = replication_factors(admin, present) if present else {}
    for name in present:
        have = configs.get(name, {})
        if name in durable_used:
            for key, want in DURABLE_REQUIRED.items():
                if have.get(key) != want:
                    problems.append(
                        f"topic {name!r}: {key} is {have.get(key)!r}, must be {want!r} "
                        "(the event log is the system of record and must keep every record)"
                    )
            policy = have.get("cleanup.policy", "delete")
            if "compact" in policy:
                problems.append(
                    f"topic {name!r}: cleanup.policy is {policy!r}, must be 'delete' "
                    "(compaction keeps only each key's last record: a dossier's earlier "
                    "events would be lost while the offsets still start at 0)"
                )
        factor = factors.get(name, 0)
        if factor < replication:
            problems.append(
                f"topic {name!r}: replication factor is {factor}, must be at least "
                f"{replication} (EGOV_TOPIC_REPLICATION): a lost broker would lose its records"
            )
        need = min_insync(max(factor, replication))
        raw_isr = have.get("min.insync.replicas", "1")
        isr = int(raw_isr) if raw_isr.isdigit() else 0
        if isr < need:
            problems.append(
                f"topic {name!r}: min.insync.replicas is {raw_isr}, must be at least {need} "
                f"with {max(factor, replication)} replicas (an acknowledged record must be on "
                "more than one broker)"
            )
    return problems


def require_topics(
    bootstrap: str,
    used: Iterable[str],
    durable: Iterable[str],
    wait_s: float = 60.0,
    replication: int = 1,
) -> None:
    """Raise :class:`TopicCheckError` unless every used topic exists with ``replication``
    replicas (and its ``min.insync.replicas``) and the durable ones keep every record,
    uncompacted. Waits up to ``wait_s`` for an unreachable broker."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="egov-topic-check")
        except KafkaError:
            if time.monotonic() >= deadline:
                raise TopicCheckError(
                    f"Kafka at {bootstrap} unreachable: cannot check the topics"
                ) from None
            time.sleep(1.0)
            continue
        try:
            problems = topic_problems(admin, used, durable, replication)
        finally:
            admin.close()
        if problems:
            raise TopicCheckError("; ".join(problems))
        return


def check_at_start(settings: PlatformSettings, used: Iterable[str]) -> None:
    """A service's first step: exit (status 78, EX_CONFIG) with the reason on stderr when a
    topic it uses is missing or would lose history (retention, compaction, replicas)."""
    try:
        require_topics(
            settings.kafka_bootstrap,
            used,
            durable_topics(settings),
            settings.topic_check_wait_s,
            settings.topic_replication,
        )
    except TopicCheckError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(78) from None


def require_event_log(settings: PlatformSettings) -> None:
    """``egov rebuild`` and ``egov restore`` read the event and catalog topics as the whole
    history: raise :class:`TopicCheckError` when one would have lost records (retention,
    compaction) or could lose them (replicas), before anything is touched."""
    t = settings.topics
    log = [t.dossier, t.document, t.catalog]
    require_topics(
        settings.kafka_bootstrap, log, log, wait_s=10.0, replication=settings.topic_replication
    )
