"""Faults around the alerts (issue 10, items 5 and 6), each asserting a figure:

- SMTP accepts a message, then the alerts process is SIGKILLed before marking it done: the
  receiver gets it again after restart, with the same Message-ID (2 deliveries, 1 id);
- the calculator stopped for 3 simulated working hours while every agency keeps sending:
  1 pipeline_behind email, 0 silence emails; after recovery produced − counted = 0;
- production mode with dev secrets: 4 of 4 services exit 78 naming the setting, 0 secret
  values in their output; a read token gets 403 on ack and silence.

Each test appends its row to ``.run/fault-report.jsonl`` (as the calculator faults do).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis as sync_redis
from aiosmtpd.controller import Controller
from kafka import KafkaProducer
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.processes import ManagedProcess, wait_until
from devstack.services import SERVICES, service_argv, start_service
from services.alerts.engine import AlertEngine
from services.alerts.model import Alert, AlertState, alert_key
from services.alerts.outbox import QUEUE
from services.alerts.pipeline import KafkaPipelineProbe
from services.alerts.rules import Rule, Severity
from services.alerts.state import AlertStore
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ, now_utc
from shared.domain.catalog import load_agencies
from shared.platform.config import (
    DEV_ADMIN_TOKEN,
    DEV_INGEST_TOKEN,
    DEV_READ_TOKEN,
    DEV_WEBHOOK_SECRET,
    AlertRoute,
    Settings,
)
from shared.platform.tokens import digest
from shared.store.indicator_store import IndicatorStore
from shared.store.last_seen import LAST_SEEN_AGENCIES, LAST_SEEN_SOURCES
from tests.conftest import redis_db
from tests.factories import received
from tests.receivers import SmtpServer

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / ".run" / "fault-report.jsonl"


def report(fault: str, **figures: Any) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(json.dumps({"fault": fault, **figures}, ensure_ascii=False) + "\n")


def wait(predicate: Any, timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# --- SMTP accepted, then SIGKILL before the outbox marks it done ----------------------------


class FreezeOnFirstMessage:
    """aiosmtpd handler: keeps every message; on the first, freezes the sender (SIGSTOP to
    its process group) *before* answering 250, so the 250 is written but never read — the
    message is accepted and the sender can never mark it done."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.sender_pid: int | None = None
        self.frozen = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(msg)
        if not self.frozen.is_set() and self.sender_pid is not None:
            os.killpg(self.sender_pid, signal.SIGSTOP)
            self.frozen.set()
        return "250 OK"


def overdue_dossier(agency: str) -> Any:
    now = now_utc().astimezone(LOCAL_TZ)
    raw = received(
        agency=agency,
        dossier=f"qh-{uuid.uuid4().hex[:8]}",
        at=(now - timedelta(hours=3)).isoformat(),
        due_at=(now - timedelta(hours=1)).isoformat(),
    )
    event = validate_event(raw, agencies=load_agencies())  # valid now
    assert not isinstance(event, list), event
    return event


def test_smtp_accepts_then_alerts_sigkilled_before_done_one_message_id(
    isolated: dict[str, Any], service_factory: Any
) -> None:
    async def seed() -> None:
        client = Redis.from_url(isolated["redis_url"])
        await IndicatorStore(client).apply_many([overdue_dossier("H01.12")])  # Sở Tư pháp
        await client.aclose()

    asyncio.run(seed())
    handler = FreezeOnFirstMessage()
    port = free_port()
    smtp = Controller(handler, hostname="127.0.0.1", port=port)
    smtp.start()
    env = {
        **isolated["env"],
        "EGOV_SMTP_PORT": str(port),
        "EGOV_ALERTS_DIGEST_EMAILS": "[]",
        "EGOV_ALERTS_ROUTES": orjson.dumps(
            [{"rules": ["overdue"], "emails": ["cntt@sokhcn.gov.vn"]}]
        ).decode(),
        "EGOV_ALERTS_CHECK_INTERVAL_S": "0.5",
        "EGOV_ALERTS_OUTBOX_INTERVAL_S": "0.5",
        "EGOV_ALERTS_OUTBOX_LEASE_S": "3",
        "EGOV_SMTP_TIMEOUT_S": "2",
    }
    client = sync_redis.Redis.from_url(isolated["redis_url"])
    try:
        alerts = service_factory("alerts", env)
        handler.sender_pid = alerts.process.pid
        assert handler.frozen.wait(60), "the overdue email never reached the receiver"
        alerts.process.kill()  # SIGKILL while frozen: accepted, never marked done
        assert len(handler.messages) == 1 and client.zcard(QUEUE) == 1
        killed_at = time.monotonic()
        alerts.process.start()
        alerts.wait_healthy()
        assert wait(lambda: len(handler.messages) >= 2, 60), "never resent"
        resent_after = time.monotonic() - killed_at
        assert wait(lambda: client.zcard(QUEUE) == 0, 10)
        time.sleep(2)  # nothing more comes
        ids = [str(m["Message-ID"]) for m in handler.messages]
        notes = {str(m["X-Egov-Notification-Id"]) for m in handler.messages}
        assert len(ids) == 2 and len(set(ids)) == 1 and len(notes) == 1
        assert ids[0] == f"<{notes.pop()}@egov-monitor.local>"
        assert str(handler.messages[0]["Subject"]) == "[Cảnh báo] Sở Tư pháp: 1 hồ sơ quá hạn"
    finally:
        smtp.stop()
        client.close()
    report(
        "SMTP accepted, alerts SIGKILLed before marking done",
        deliveries=len(ids),
        distinct_message_ids=len(set(ids)),
        recovery_s=round(resent_after, 1),
    )


# --- the calculator stopped for 3 simulated working hours -----------------------------------

MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=LOCAL_TZ)  # in the past: valid event times
SENDERS = {  # agency (units of the merged province, valid then) → the source of its events
    "H01.10": "his-so-y-te",  # Sở Y tế
    "H01.05": "qlvbdh",  # Sở Khoa học và Công nghệ
    "H01.12": "qlvbdh",  # Sở Tư pháp
    "H01.02": "dvc-tinh",  # Sở Tài chính
    "H01.09": "dvc-tinh",  # Sở Xây dựng
    "H01.187": "dvc-tinh",  # UBND xã Đông Thái
}


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def produce_round(bootstrap: str, topic: str, at: datetime, tag: str) -> int:
    """One dossier received at ``at`` (event time) from every agency, by its source."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for agency, source in SENDERS.items():
        raw = received(
            agency=agency,
            dossier=f"{tag}-{agency}",
            event_id=f"{tag}-{agency}",
            at=at.isoformat(),
            source=source,
        )
        producer.send(topic, key=agency.encode(), value=orjson.dumps(raw))
    producer.flush(30)
    producer.close()
    return len(SENDERS)


async def applied_event_ids(url: str) -> int:
    """Event ids applied in the current keyspace (the apply script counts them per agency)."""
    client = Redis.from_url(url)
    try:
        applied = await IndicatorStore(client).applied_events(load_agencies().codes)
        return sum(applied.values())
    finally:
        await client.aclose()


def test_calculator_stopped_three_working_hours_no_silence_email_storm(
    isolated: dict[str, Any], service_factory: Any
) -> None:
    smtp = SmtpServer()
    smtp.start()
    topics = isolated["topics"]
    env = isolated["env"]
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        redis_url=isolated["redis_url"],
        calculator_group=env["EGOV_CALCULATOR_GROUP"],
        topics=topics,
        smtp_port=smtp.port,
        alerts_routes=[AlertRoute(emails=["cntt@sokhcn.gov.vn"])],
        alerts_digest_emails=[],
    )
    clock = Clock(MONDAY)
    probe = KafkaPipelineProbe(
        settings.kafka_bootstrap, settings.calculator_group, [topics.dossier, topics.document]
    )
    calculator = service_factory("calculator", env)
    produced = produce_round(isolated["bootstrap"], topics.dossier, MONDAY, "r0")

    def lag() -> int | None:
        """None while the broker cannot answer yet (a new group's coordinator)."""
        try:
            return probe.measure_blocking().lag
        except Exception:
            return None

    assert wait(lambda: lag() == 0, 60)

    async def outage() -> dict[str, Any]:
        client = Redis.from_url(settings.redis_url)
        engine = AlertEngine(settings, client, clock=clock, pipeline=probe)
        nonlocal produced
        await engine.check_silence()
        assert await AlertStore(client).firing() == []
        calculator.process.stop()  # SIGTERM: the calculator is down
        n = 0
        while clock.at < MONDAY + timedelta(hours=3):  # Monday 08:00 → 11:00, working hours
            clock.at += timedelta(minutes=10)
            n += 1
            produced += produce_round(isolated["bootstrap"], topics.dossier, clock.at, f"r{n}")
            await engine.check_silence()
            await engine.deliver()
        firing = [a.rule for a in await AlertStore(client).firing()]
        lag_at_end = (await probe()).lag
        # what a judge blind to the pipeline would have mailed: every agency and source
        # whose last applied event is 2 working hours old or more
        stale = 0
        for hash_key in (LAST_SEEN_AGENCIES, LAST_SEEN_SOURCES):
            for stamp in (await client.hgetall(hash_key)).values():
                last = datetime.fromtimestamp(float(stamp), tz=LOCAL_TZ)
                stale += engine.hours.hours_between(last, clock.at) >= 2
        calculator.process.start()
        calculator.wait_healthy()
        started = time.monotonic()
        while await asyncio.to_thread(lag) != 0 and time.monotonic() - started < 120:
            await asyncio.sleep(0.5)
        recovery_s = time.monotonic() - started
        clock.at += timedelta(minutes=5)
        await engine.check_silence()
        await engine.deliver()
        behind = await AlertStore(client).get(
            alert_key(Rule.pipeline_behind, "pipeline", None, "live")
        )
        after = [a.rule for a in await AlertStore(client).firing()]
        await engine.senders.close()
        await client.aclose()
        return {
            "firing_during": firing,
            "firing_after": after,
            "lag_at_end": lag_at_end,
            "stale": stale,
            "behind": behind,
            "recovery_s": recovery_s,
        }

    try:
        got = asyncio.run(outage())
        counted = asyncio.run(applied_event_ids(isolated["redis_url"]))
        subjects = [str(m["Subject"]) for m in smtp.messages]
    finally:
        smtp.stop()
        probe.close()
    silence = [s for s in subjects if "Kết nối gián đoạn" in s]
    pipeline = [s for s in subjects if "Hệ thống xử lý sự kiện" in s]
    assert got["firing_during"] == [Rule.pipeline_behind]
    assert got["lag_at_end"] == 18 * len(SENDERS)
    assert got["behind"] is not None and got["behind"].state is AlertState.resolved
    assert got["firing_after"] == []
    assert got["stale"] == len(SENDERS) + len(set(SENDERS.values()))  # 9 would have fired
    assert silence == [], subjects  # … and none did
    assert len(pipeline) == 2 and pipeline[0].startswith("[Cảnh báo]"), subjects
    assert pipeline[1].startswith("[Đã khắc phục]")
    assert produced - counted == 0, (produced, counted)
    report(
        "calculator stopped 3 simulated working hours",
        events_in=produced,
        events_counted=counted,
        difference=produced - counted,
        silence_emails=len(silence),
        silent_without_pipeline_check=got["stale"],
        pipeline_behind_emails=len(pipeline),
        recovery_s=round(got["recovery_s"], 1),
    )


# --- production mode ----------------------------------------------------------------------

DEV_ENV = {
    "EGOV_ENV": "production",
    "EGOV_INGEST_TOKENS": orjson.dumps({"demo-source": DEV_INGEST_TOKEN}).decode(),
    "EGOV_READ_TOKEN": DEV_READ_TOKEN,
    "EGOV_ADMIN_TOKEN": DEV_ADMIN_TOKEN,
    "EGOV_WEBHOOK_SECRET": DEV_WEBHOOK_SECRET,
}


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EGOV_")}


def run_to_exit(process: ManagedProcess, timeout: float = 60) -> tuple[int | None, str]:
    process.start()
    wait_until(lambda: not process.alive, timeout, f"{process.name} exits")
    return process.returncode, process.log_path.read_text()


def test_production_refuses_dev_secrets_and_read_token_cannot_ack_or_silence(
    tmp_path: Path, redis_server: Any
) -> None:
    refused: dict[str, tuple[int | None, str]] = {}
    # the services that hold tokens (their settings section has them); the calculator loads
    # only its own section and never reads a token (tests/unit/platform/test_settings_sections)
    holders = [name for name in SERVICES if name != "calculator"]
    for name in holders:
        process = ManagedProcess(
            name,
            service_argv(name),
            tmp_path / f"{name}.log",
            env={**clean_env(), **DEV_ENV, "EGOV_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
            cwd=REPO,
        )
        refused[name] = run_to_exit(process)
    # … and the alerts service without any webhook secret at all
    bare = ManagedProcess(
        "alerts-bare",
        service_argv("alerts"),
        tmp_path / "alerts-bare.log",
        env={**clean_env(), "EGOV_ENV": "production", "EGOV_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
        cwd=REPO,
    )
    bare_code, bare_log = run_to_exit(bare)

    leaks = sum(
        secret in log
        for _, log in refused.values()
        for secret in (DEV_INGEST_TOKEN, DEV_READ_TOKEN, DEV_ADMIN_TOKEN, DEV_WEBHOOK_SECRET)
    )
    for name, (code, log) in refused.items():
        assert code == 78, (name, code, log[-2000:])
        assert "EGOV_READ_TOKEN is a development value" in log, name
        assert "EGOV_ADMIN_TOKEN is a development value" in log, name
        assert "EGOV_INGEST_TOKENS (source 'demo-source')" in log, name
        assert "EGOV_WEBHOOK_SECRET is a development value" in log, name
    assert leaks == 0
    assert bare_code == 78 and "EGOV_WEBHOOK_SECRET is empty" in bare_log

    # production with the deployment's own tokens: the API starts; ack/silence need operate
    read, operate = "lanh-dao-" + uuid.uuid4().hex, "truc-ban-" + uuid.uuid4().hex
    tokens = [
        {"name": "lanh-dao", "sha256": digest(read), "scopes": ["read"]},
        {"name": "truc-ban", "sha256": digest(operate), "scopes": ["read", "operate"]},
    ]
    db = redis_db(redis_server, 12)
    sync_redis.Redis.from_url(db).flushdb()
    key = alert_key(Rule.overdue, "H01.10", None, "open")
    now = now_utc()
    alert = Alert(
        key=key,
        rule=Rule.overdue,
        scope="H01.10",
        scope_name="Sở Y tế",
        period="open",
        state=AlertState.firing,
        severity=Severity.critical,
        first_seen=now,
        last_seen=now,
    )

    async def seed() -> None:
        client = Redis.from_url(db)
        await AlertStore(client).save(alert)
        await client.aclose()

    asyncio.run(seed())
    api = start_service(
        "api",
        free_port(),
        {
            **clean_env(),
            "EGOV_ENV": "production",
            "EGOV_REDIS_URL": db,
            "EGOV_TOKENS": json.dumps(tokens),
        },
        tmp_path / "logs",
    )
    try:
        base = f"{api.url}/v1/alerts/{key}"
        until = {"until": (now + timedelta(hours=1)).isoformat()}

        def codes(token: str) -> tuple[int, int]:
            h = {"Authorization": f"Bearer {token}"}
            return (
                httpx.post(f"{base}/ack", headers=h, timeout=10).status_code,
                httpx.post(f"{base}/silence", json=until, headers=h, timeout=10).status_code,
            )

        read_codes, operate_codes, dev_codes = codes(read), codes(operate), codes(DEV_ADMIN_TOKEN)
        listed = httpx.get(
            f"{api.url}/v1/alerts", headers={"Authorization": f"Bearer {read}"}, timeout=10
        )
    finally:
        api.process.stop()
    assert read_codes == (403, 403)
    assert operate_codes == (200, 200)
    assert dev_codes == (403, 403)  # dev tokens do not exist in production
    assert listed.status_code == 200 and [a["key"] for a in listed.json()] == [key]
    report(
        "production mode with dev secrets; read token on ack/silence",
        services_refusing=f"{sum(c == 78 for c, _ in refused.values())}/{len(holders)}",
        secret_values_in_output=leaks,
        read_token_ack_silence=list(read_codes),
        operate_token_ack_silence=list(operate_codes),
    )
