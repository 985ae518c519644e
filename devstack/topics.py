"""The stack's topics, created with explicit partition counts (idempotent); the event and
dead-letter topics keep every record forever (``shared.platform.topic_check``)."""

from __future__ import annotations

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import TopicAlreadyExistsError, for_code

from shared.platform.config import Settings
from shared.platform.topic_check import DURABLE_CONFIGS, durable_topics, topic_configs


def topic_partitions(settings: Settings) -> dict[str, int]:
    """Topic name → partitions: dossier and document topics ``settings.topic_partitions``."""
    t = settings.topics
    return {
        t.dossier: settings.topic_partitions,
        t.document: settings.topic_partitions,
        t.deadletter: 3,
        t.indicator_updates: 3,
        t.alerts: 1,
        t.catalog: 1,  # one partition: the order catalogs took effect in
    }


def partition_counts(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Partitions of each existing topic among ``topics`` (missing ones are left out)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="devstack-topics")
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    return {t["name"]: len(t["partitions"]) for t in described if t.get("error_code") == 0}


def create_topics(
    bootstrap: str, settings: Settings, timeout_s: float = 30.0, replication: int = 1
) -> dict[str, int]:
    """Create the missing topics and wait until each has a leader; durable topics get
    infinite retention (and zstd), and an existing durable topic that would still delete
    records is altered to keep them.

    A partition count is never changed under the running consumers. Returns name → actual
    partition count.
    """
    wanted = topic_partitions(settings)
    durable = set(durable_topics(settings))
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="devstack-topics")
    try:
        existing = set(admin.list_topics())
        missing = {
            name: {
                "num_partitions": n,
                "replication_factor": replication,
                "configs": dict(DURABLE_CONFIGS) if name in durable else {},
            }
            for name, n in wanted.items()
            if name not in existing
        }
        old = sorted(durable & existing)
        configs = topic_configs(admin, old) if old else {}
        stale = [
            ConfigResource(ConfigResourceType.TOPIC, name, configs=dict(DURABLE_CONFIGS))
            for name in old
            if any(configs.get(name, {}).get(k) != v for k, v in DURABLE_CONFIGS.items())
        ]
        if stale:
            admin.alter_configs(stale)
        if missing:
            response = admin.create_topics(
                missing, timeout_ms=int(timeout_s * 1000), raise_errors=False
            )
            for topic in response["topics"]:
                error = for_code(topic["error_code"])
                if topic["error_code"] != 0 and error is not TopicAlreadyExistsError:
                    raise error(f"creating topic {topic['name']}: {topic.get('error_message')}")
        admin.wait_for_topics(list(wanted), timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()
    return partition_counts(bootstrap, list(wanted))
