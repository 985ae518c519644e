"""Contract v1.2 through the running services: each new event type POSTed to ingest is
applied by the real calculator (Faust, the apply script) — noted, never dead-lettered, the
calculator still running — while the figures it does not count yet stay those of the
dossier's receipt (the supplement request without ``due_at`` stopping the clock)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_pipeline import READ_AUTH, figures, post, wait_for
from tests.integration.test_contract_v12 import AGENCY, v12_events

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(isolated_module, service_factory) -> dict[str, Any]:
    env = isolated_module["env"]
    return {
        "calculator": service_factory("calculator", env),
        "ingest": service_factory("ingest", env),
        "api": service_factory("api", env),
        **isolated_module,
    }


def applied_by_family(metrics_url: str) -> dict[str, float]:
    text = httpx.get(metrics_url, timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "egov_calculator_events_applied":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels["family"]] = sample.value
    return out


def test_the_calculator_notes_every_v12_event(stack) -> None:
    events = v12_events()
    resp = post(stack["ingest"].url, events)
    assert resp.status_code == 202, resp.text
    store = redis.Redis.from_url(stack["redis_url"])

    def counted() -> int:
        raw = store.hget(f"stat:{{{AGENCY}}}", "events")
        return int(raw) if raw is not None else 0

    assert wait_for(counted, len(events), timeout=90) == len(events)
    store.close()
    assert stack["calculator"].process.alive
    by_family = wait_for(
        lambda: {k: v for k, v in applied_by_family(stack["calculator"].metrics_url).items() if v},
        {"dossier": 5.0, "petition": 3.0, "procedure": 1.0},
    )
    assert by_family == {"dossier": 5.0, "petition": 3.0, "procedure": 1.0}

    consumer = KafkaConsumer(
        bootstrap_servers=stack["bootstrap"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    consumer.assign([TopicPartition(stack["topics"].deadletter, 0)])
    consumer.seek_to_beginning()
    assert list(consumer) == []  # nothing dead-lettered
    consumer.close()

    api = stack["api"].url
    # the receipt's figures, as if the v1.2 events were not there (their rules come later)
    assert figures(api, "full_online_rate", AGENCY, "2024-05")[:2] == (1, 1)
    opened = httpx.get(
        f"{api}/v1/dossiers/open", params={"scope": AGENCY}, headers=READ_AUTH, timeout=10
    ).json()
    assert (opened["open"], opened["overdue"]) == (1, 0)  # the clock stopped
