"""End to end through the real broker, Faust and Redis: POST events over HTTP, read the
figures back from the API, compare with a hand count."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from shared.platform.config import Settings
from tests.factories import received

INGEST_AUTH = {"Authorization": "Bearer dev-ingest-token"}
READ_AUTH = {"Authorization": "Bearer dev-read-token"}
TOPICS = Settings().topics


@pytest.fixture(scope="module")
def pipeline(isolated_module, service_factory) -> dict[str, Any]:
    """The three services on topics and a Redis database of their own: the province's
    figures are this module's events only, whatever other tests wrote before."""
    env = isolated_module["env"]
    calculator = service_factory("calculator", env)
    ingest = service_factory("ingest", env)
    api = service_factory("api", env)
    return {
        "ingest": ingest,
        "api": api,
        "calculator": calculator,
        "topics": isolated_module["topics"],
    }


def post(url: str, events: list[dict[str, Any]], **params: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/events",
        content=orjson.dumps(events),
        params=params,
        headers={**INGEST_AUTH, "content-type": "application/json"},
        timeout=30,
    )


def wait_for(fn: Callable[[], Any], expected: Any, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    value = fn()
    while value != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        value = fn()
    return value


def figures(api_url: str, indicator: str, scope: str, period: str) -> tuple[int, int, Any]:
    resp = httpx.get(
        f"{api_url}/v1/indicators/{indicator}",
        params={"scope": scope, "period": period},
        headers=READ_AUTH,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    return body["numerator"], body["denominator"], body["value"]


def test_posted_events_reach_the_api_with_hand_counted_figures(pipeline) -> None:
    ingest, api = pipeline["ingest"].url, pipeline["api"].url
    # so-y-te, March 2024: 3 distinct dossiers; 2 received full online × online
    events = [
        received(agency="so-y-te", dossier="y1", at="2024-03-04T08:00:00+07:00"),
        received(
            agency="so-y-te",
            dossier="y2",
            at="2024-03-05T08:00:00+07:00",
            level="partial_online",
            channel="in_person",
        ),
        received(agency="so-y-te", dossier="y3", at="2024-03-31T23:59:59+07:00"),
        # counted in April, not March
        received(
            agency="so-y-te",
            dossier="y4",
            at="2024-04-01T00:00:00+07:00",
            level="in_person_only",
            channel="in_person",
        ),
        # another agency: province = 5 dossiers, 3 numerators
        received(
            agency="ubnd-an-phu",
            dossier="a1",
            at="2024-03-10T08:00:00+07:00",
            level="full_online",
            channel="in_person",
        ),
    ]
    resp = post(ingest, events)
    assert resp.status_code == 202, resp.text
    assert resp.json()["accepted"] == 5
    assert wait_for(
        lambda: figures(api, "full_online_rate", "so-y-te", "2024-03"),
        (2, 3, pytest.approx(66.6667, abs=1e-3)),
    ) == (2, 3, pytest.approx(66.6667, abs=1e-3))
    assert figures(api, "full_online_rate", "so-y-te", "2024-03-31")[:2] == (1, 1)
    assert figures(api, "full_online_rate", "so-y-te", "2024")[:2] == (2, 4)
    assert wait_for(lambda: figures(api, "full_online_rate", "province", "2024")[:2], (2, 5)) == (
        2,
        5,
    )
    full = httpx.get(
        f"{api}/v1/indicators/full_online_rate",
        params={"scope": "so-y-te", "period": "2024", "target_set": "cv-112-eval-2024"},
        headers=READ_AUTH,
    ).json()
    assert full["value"] == pytest.approx(50.0) and full["target"] == 70.0
    assert full["meets_target"] is False


def test_duplicates_do_not_change_the_figures(pipeline) -> None:
    ingest, api = pipeline["ingest"].url, pipeline["api"].url
    first = received(agency="so-tu-phap", dossier="t1", at="2024-05-02T08:00:00+07:00")
    other = received(
        agency="so-tu-phap",
        dossier="t2",
        at="2024-05-02T09:00:00+07:00",
        level="partial_online",
        channel="online",
    )
    assert post(ingest, [first, other]).status_code == 202
    assert wait_for(
        lambda: figures(api, "full_online_rate", "so-tu-phap", "2024-05")[:2], (1, 2)
    ) == (1, 2)
    # same event_id again, and a new event for the same dossier and category
    again = dict(first)
    same_dossier = received(agency="so-tu-phap", dossier="t1", at="2024-05-03T08:00:00+07:00")
    marker = received(agency="so-tu-phap", dossier="t3", at="2024-06-01T08:00:00+07:00")
    assert post(ingest, [again, same_dossier, marker]).status_code == 202
    # the marker proves the batch was processed; May is unchanged
    assert wait_for(
        lambda: figures(api, "full_online_rate", "so-tu-phap", "2024-06")[:2], (1, 1)
    ) == (1, 1)
    assert figures(api, "full_online_rate", "so-tu-phap", "2024-05")[:2] == (1, 2)


def test_poison_message_is_dead_lettered_and_later_events_count(pipeline, kafka_broker) -> None:
    api = pipeline["api"].url
    topics = pipeline["topics"]
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    poison_key = f"poison-{uuid.uuid4().hex[:6]}".encode()
    producer.send(topics.dossier, key=b"so-xay-dung", value=b"\xff not json").get(10)
    bad_agency = received(agency="so-khong-co", dossier="z")
    producer.send(topics.dossier, key=poison_key, value=orjson.dumps(bad_agency)).get(10)
    good = received(agency="so-xay-dung", dossier="x1", at="2024-08-08T08:00:00+07:00")
    producer.send(topics.dossier, key=b"so-xay-dung", value=orjson.dumps(good)).get(10)
    producer.close()
    assert wait_for(
        lambda: figures(api, "full_online_rate", "so-xay-dung", "2024-08")[:2], (1, 1)
    ) == (1, 1)
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    parts = [
        TopicPartition(topics.deadletter, p)
        for p in consumer.partitions_for_topic(topics.deadletter)
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    letters = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    reasons = {(d["reason"], d["errors"][0]["field"]) for d in letters}
    assert ("invalid_json", "value") in reasons
    assert ("invalid_event", "agency_code") in reasons
    assert pipeline["calculator"].process.alive


def test_broker_down_gives_503_and_nothing_accepted_is_lost(kafka_broker, service_factory) -> None:
    ingest = service_factory("ingest", {"EGOV_INGEST_PRODUCE_TIMEOUT_S": "3"})
    accepted: list[str] = []
    batch = [received(agency="so-noi-vu", dossier=f"n{i}") for i in range(5)]
    resp = post(ingest.url, batch)
    assert resp.status_code == 202
    accepted += [e["event_id"] for e in batch]
    kafka_broker.stop()
    try:
        down = post(ingest.url, [received(agency="so-noi-vu", dossier="during-outage")])
        assert down.status_code == 503
        assert down.headers["Retry-After"].isdigit()
    finally:
        kafka_broker.start()
    deadline = time.monotonic() + 60
    status = 0
    while time.monotonic() < deadline:
        again = [received(agency="so-noi-vu", dossier=f"after-{uuid.uuid4().hex[:4]}")]
        status = post(ingest.url, again).status_code
        if status == 202:
            accepted += [e["event_id"] for e in again]
            break
        time.sleep(1)
    assert status == 202
    consumer = KafkaConsumer(
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    parts = [
        TopicPartition(TOPICS.dossier, p) for p in consumer.partitions_for_topic(TOPICS.dossier)
    ]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    on_topic = {orjson.loads(m.value).get("event_id") for m in consumer if m.value.startswith(b"{")}
    consumer.close()
    assert set(accepted) <= on_topic
