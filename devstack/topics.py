"""Create the stack's topics with explicit partition counts (idempotent)."""

from __future__ import annotations

import contextlib

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from shared.config import Settings


def topic_partitions(settings: Settings) -> dict[str, int]:
    t = settings.topics
    return {
        t.dossier: settings.topic_partitions,
        t.document: settings.topic_partitions,
        t.deadletter: 3,
        t.indicator_updates: 3,
        t.alerts: 1,
    }


def create_topics(bootstrap: str, settings: Settings) -> dict[str, int]:
    wanted = topic_partitions(settings)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="devstack-topics")
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(name, n, 1) for name, n in wanted.items() if name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()
    return wanted
