"""The alerts service as a process: exactly one email across a SIGKILL between queueing
and sending, and an overdue dossier raising its alert at due_at with no new event."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.alerts.model import AlertState, alert_key
from services.alerts.outbox import QUEUE
from services.alerts.rules import Rule
from services.alerts.state import AlertStore
from shared.contract.indicator_update import IndicatorFigures, IndicatorUpdate
from shared.domain.calendar import LOCAL_TZ, now_utc
from tests.integration.test_alerts import apply, breach_emails, this_year_events
from tests.receivers import SmtpServer


def routes(smtp: SmtpServer, rules: list[str]) -> dict[str, str]:
    return {
        "EGOV_SMTP_PORT": str(smtp.port),
        "EGOV_ALERTS_DIGEST_EMAILS": "[]",
        "EGOV_ALERTS_ROUTES": orjson.dumps(
            [{"rules": rules, "emails": ["cntt@sokhcn.gov.vn"]}]
        ).decode(),
    }


def produce(bootstrap: str, topic: str, values: list[bytes], key: bytes = b"H01.05") -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, key=key, value=value).get(10)
    producer.close()


def consume_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    consumer.assign([TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)])
    consumer.seek_to_beginning()
    out = [orjson.loads(m.value) for m in consumer]
    consumer.close()
    return out


def get_alert(url: str, key: str) -> Any:
    async def read() -> Any:
        client = redis.asyncio.Redis.from_url(url)
        try:
            return await AlertStore(client).get(key)
        finally:
            await client.aclose()

    return asyncio.run(read())


def wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return bool(predicate())


def test_sigkill_between_queueing_and_sending_gives_exactly_one_email(
    isolated, service_factory
) -> None:
    smtp = SmtpServer()  # port reserved, server down: the email stays queued
    asyncio.run(apply(isolated["redis_url"], this_year_events(20, 20)))
    env = {
        **isolated["env"],
        **routes(smtp, ["breach"]),
        "EGOV_ALERTS_OUTBOX_INTERVAL_S": "0.5",
        "EGOV_ALERTS_CHECK_INTERVAL_S": "3600",
    }
    alerts = service_factory("alerts", env)
    year = now_utc().astimezone(LOCAL_TZ).year
    update = IndicatorUpdate(
        agency_code="H01.05",
        period=str(year),
        published_at=now_utc(),
        indicators={"full_online_rate": IndicatorFigures(numerator=20, denominator=40, value=50.0)},
    )
    produce(
        isolated["bootstrap"],
        isolated["topics"].indicator_updates,
        [update.model_dump_json().encode()],
    )
    client = redis.Redis.from_url(isolated["redis_url"])
    # agency, group, level and the province (Nghị quyết 188/NQ-CP: 70 % for the province as
    # a whole in 2025, carried over into this year, §6)
    assert wait(lambda: client.zcard(QUEUE) >= 4, 60), "breach emails never queued"
    time.sleep(1.5)  # at least one refused attempt
    alerts.process.kill()
    smtp.start()
    try:
        alerts.process.start()
        assert wait(lambda: len(smtp.messages) >= 4, 60)
        time.sleep(3)
        assert len(breach_emails(smtp)) == 1
        # one per scope with a target: agency, group, level, province
        assert len(smtp.messages) == 4
        assert client.zcard(QUEUE) == 0
        published = consume_all(isolated["bootstrap"], isolated["topics"].alerts)
        assert any(
            a["key"].startswith("breach|H01.05|full_online_rate|") and a["state"] == "firing"
            for a in published
        )
    finally:
        smtp.stop()
        client.close()


def test_overdue_dossier_alert_fires_at_due_at_and_resolves(isolated, service_factory) -> None:
    smtp = SmtpServer()
    smtp.start()
    env = {
        **isolated["env"],
        **routes(smtp, ["overdue"]),
        "EGOV_ALERTS_CHECK_INTERVAL_S": "0.5",
        "EGOV_ALERTS_OUTBOX_INTERVAL_S": "0.5",
    }
    service_factory("calculator", env)
    service_factory("alerts", env)
    now = datetime.now(LOCAL_TZ)
    due = now + timedelta(seconds=8)
    event = {
        "event_id": f"od-{now.timestamp()}",
        "event_type": "received",
        "occurred_at": now.isoformat(),
        "agency_code": "H01.12",
        "dossier_id": "HS-QH-1",
        "procedure_code": "p",
        "service_level": "full_online",
        "channel": "online",
        "submitted_by": "citizen",
        "due_at": due.isoformat(),
    }
    produce(isolated["bootstrap"], isolated["topics"].dossier, [orjson.dumps(event)], key=b"H01.12")
    key = alert_key(Rule.overdue, "H01.12", None, "open")
    url = isolated["redis_url"]
    client = redis.Redis.from_url(url)
    try:
        assert wait(lambda: client.zcard("open:{H01.12}") == 1, 30)
        assert get_alert(url, key) is None  # not yet due
        assert wait(
            lambda: (a := get_alert(url, key)) is not None and a.state is AlertState.firing, 30
        )
        alert = get_alert(url, key)
        assert alert.first_seen >= due
        assert alert.details["dossier_ids"] == ["HS-QH-1"]
        resolved = {
            **event,
            "event_id": f"od-r-{now.timestamp()}",
            "event_type": "resolved",
            "occurred_at": datetime.now(LOCAL_TZ).isoformat(),
            "outcome": "approved",
        }
        resolved.pop("service_level"), resolved.pop("channel"), resolved.pop("submitted_by")
        produce(
            isolated["bootstrap"],
            isolated["topics"].dossier,
            [orjson.dumps(resolved)],
            key=b"H01.12",
        )
        assert wait(lambda: get_alert(url, key).state is AlertState.resolved, 30)
        assert wait(lambda: len(smtp.messages) == 2, 15)
        subjects = [str(m["Subject"]) for m in smtp.messages]
        assert subjects == [
            "[Cảnh báo] Sở Tư pháp: 1 hồ sơ quá hạn",
            "[Đã khắc phục] Sở Tư pháp: 0 hồ sơ quá hạn",
        ]
    finally:
        client.close()
        smtp.stop()
