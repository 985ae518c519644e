"""The agency catalog through a Redis outage (issue 20, item 1): an agency that exists only
in Redis' catalog (added after the packaged CSV, as the 2025 communes are) keeps every
event when Redis is down as the calculator starts — the calculator waits for Redis'
catalog instead of judging the events against the packaged one and dead-lettering them,
and ingest answers 503 (never 422) while it cannot read the catalog."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.processes import http_ok
from devstack.redis import RedisServer
from devstack.services import start_service
from shared.domain.catalog import AgencyCatalog, load_agencies, parse_agencies_csv
from shared.store.catalogs import CatalogStore
from shared.store.indicator_store import IndicatorStore
from tests.factories import received
from tests.faults.test_calculator_faults import produce, report
from tests.fixtures import REORGANISATION_EXAMPLE

pytestmark = pytest.mark.integration

REORGANISATION = REORGANISATION_EXAMPLE
NEW_AGENCY = "xa-mau-moi-01"  # a commune from 1 July 2025: in no packaged catalog
INGEST = {"Authorization": "Bearer dev-ingest-token"}


def reorganised() -> AgencyCatalog:
    catalog = parse_agencies_csv(REORGANISATION.read_text(encoding="utf-8-sig"))
    assert NEW_AGENCY in catalog.codes and NEW_AGENCY not in load_agencies().codes
    return catalog


async def _load_catalog(url: str, catalog: AgencyCatalog) -> None:
    redis = Redis.from_url(url)
    try:
        await CatalogStore(redis).replace_agencies(catalog.agencies.values())
    finally:
        await redis.aclose()


async def _counted(url: str, codes: list[str]) -> int:
    redis = Redis.from_url(url)
    try:
        return sum((await IndicatorStore(redis).applied_events(codes)).values())
    finally:
        await redis.aclose()


def dead_letters(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, consumer_timeout_ms=5000)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        return sum(1 for _ in consumer)
    finally:
        consumer.close()


def event(n: int) -> dict[str, object]:
    return received(
        agency=NEW_AGENCY,
        dossier=f"moi-{n}",
        at="2025-08-04T08:00:00+07:00",
        event_id=f"moi-ev-{n}",
    )


def test_redis_down_as_the_calculator_starts_loses_no_event_of_a_new_agency(
    isolated, service_factory, tmp_path: Path
) -> None:
    catalog = reorganised()
    codes = sorted(catalog.codes)
    server = RedisServer(tmp_path / "redis", free_port())
    server.start()
    env = {**isolated["env"], "EGOV_REDIS_URL": server.url}
    topics = isolated["topics"]
    try:
        asyncio.run(_load_catalog(server.url, catalog))
        raws = [event(n) for n in range(1000)]
        produce(isolated["bootstrap"], topics.dossier, raws)
        server.stop()  # its AOF keeps the catalog

        ingest = service_factory("ingest", env)
        back: list[float] = []
        statuses: list[tuple[int, str, str]] = []
        probe = event(1000)
        client = httpx.Client(base_url=ingest.url, headers=INGEST, timeout=10)

        def ask_ingest_while_down() -> None:
            while not back:
                answer = client.post("/v1/events", json=[probe])
                if back:  # Redis came back during the request: not an outage answer
                    break
                statuses.append(
                    (
                        answer.status_code,
                        answer.headers.get("Retry-After", ""),
                        answer.json().get("error", ""),
                    )
                )
                time.sleep(0.5)

        asker = threading.Thread(target=ask_ingest_while_down, daemon=True)
        asker.start()
        calculator = start_service(
            "calculator",
            free_port(),
            {
                "EGOV_KAFKA_BOOTSTRAP": isolated["bootstrap"],
                "EGOV_FAUST_DATA_DIR": str(tmp_path / "faust"),
                **env,
            },
            tmp_path / "logs",
            wait=False,
        )
        try:
            # Redis comes back 10 s after the calculator settled without it: serving
            # (/healthz) or waiting for Redis (its log says so)
            log_path = tmp_path / "logs" / "calculator.log"
            deadline = time.monotonic() + 90
            while not (
                http_ok(f"{calculator.url}/healthz")
                or (log_path.exists() and "redis_wait" in log_path.read_text(errors="replace"))
            ):
                assert calculator.process.alive and time.monotonic() < deadline
                time.sleep(0.2)
            time.sleep(10)
            server.start()
            back.append(time.monotonic())
            asker.join()
            calculator.wait_healthy(90)
            try:
                # once Redis answers, ingest reads its catalog and accepts the new agency
                deadline = time.monotonic() + 30
                while (answer := client.post("/v1/events", json=[probe])).status_code != 202:
                    assert time.monotonic() < deadline, answer.text
                    time.sleep(0.5)
            finally:
                client.close()
            events_in = len(raws) + 1
            deadline = time.monotonic() + 120
            while (counted := asyncio.run(_counted(server.url, codes))) < events_in:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            recovery = time.monotonic() - back[0]
            dead = dead_letters(isolated["bootstrap"], topics.deadletter)
            assert dead == 0, f"{dead} events dead-lettered, {counted} of {events_in} counted"
            assert counted == events_in
            # while Redis was down ingest could not read the catalog: 503, never a 422
            assert len(statuses) >= 5, "ingest was asked while Redis was down"
            assert set(statuses) == {(503, "5", "catalog_unavailable")}, statuses
            assert calculator.process.alive
            report(
                "Redis down as the calculator starts (an agency only in Redis' catalog), "
                "back 10 s later",
                events_in,
                counted,
                recovery,
            )
        finally:
            back.append(time.monotonic())  # the asker stops, whatever happened
            client.close()
            calculator.process.stop()
    finally:
        server.stop()
