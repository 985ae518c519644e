"""The event log is the system of record: the event topics and the dead-letter topic keep
every record forever (years later the province must re-derive a published table from
them), so they are created with infinite retention, and every service refuses to start
when a topic it uses is missing or would delete history."""

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


def topic_problems(
    admin: KafkaAdminClient, used: Iterable[str], durable: Iterable[str]
) -> list[str]:
    """What is wrong with the topics a service uses, one sentence each (empty: all good)."""
    used = list(dict.fromkeys(used))
    durable_used = [t for t in dict.fromkeys(durable) if t in used]
    existing = set(admin.list_topics())
    problems = [
        f"topic {name!r} does not exist (topics are created by the deployment, never automatically)"
        for name in used
        if name not in existing
    ]
    present = [t for t in durable_used if t in existing]
    configs = topic_configs(admin, present) if present else {}
    for name in present:
        have = configs.get(name, {})
        for key, want in DURABLE_REQUIRED.items():
            if have.get(key) != want:
                problems.append(
                    f"topic {name!r}: {key} is {have.get(key)!r}, must be {want!r} "
                    "(the event log is the system of record and must keep every record)"
                )
    return problems


def require_topics(
    bootstrap: str, used: Iterable[str], durable: Iterable[str], wait_s: float = 60.0
) -> None:
    """Raise :class:`TopicCheckError` unless every used topic exists and the durable ones
    keep their records forever. Waits up to ``wait_s`` for an unreachable broker."""
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
            problems = topic_problems(admin, used, durable)
        finally:
            admin.close()
        if problems:
            raise TopicCheckError("; ".join(problems))
        return


def check_at_start(settings: PlatformSettings, used: Iterable[str]) -> None:
    """A service's first step: exit (status 78, EX_CONFIG) with the reason on stderr when a
    topic it uses is missing or would lose history."""
    try:
        require_topics(
            settings.kafka_bootstrap, used, durable_topics(settings), settings.topic_check_wait_s
        )
    except TopicCheckError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(78) from None
