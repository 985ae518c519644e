"""Alerts that tell the truth in an outage (issue 10, item 5), against real Redis, real SMTP
and HTTP receivers and a real Alertmanager (Debian): one pipeline_behind alert instead of a
silence storm, silence judged by event time once caught up, stable notification ids with a
timestamped signature, and firing alerts re-posted to Alertmanager so they never expire."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from devstack.alertmanager import AlertmanagerServer
from devstack.ports import free_port
from services.alerts.engine import AlertEngine
from services.alerts.metrics import PIPELINE_LAG
from services.alerts.model import AlertState, alert_key
from services.alerts.pipeline import PipelineReading
from services.alerts.routing import notifications
from services.alerts.rules import Observation, Rule, Severity
from services.alerts.state import AlertStore, Finding, Subject
from services.alerts.verify_webhook import verify
from shared.domain.calendar import LOCAL_TZ
from shared.platform.config import AlertRoute, Settings
from shared.store.last_seen import LAST_SEEN_AGENCIES, record_last_seen, record_stamps
from tests.conftest import redis_db
from tests.integration.test_alerts import DB, Clock, run
from tests.receivers import HttpReceiver, SmtpServer

MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=LOCAL_TZ)
# units of the merged province (valid on MONDAY: silence is judged for units valid now)
AGENCIES = ["H01.10", "H01.05", "H01.12", "H01.02", "H01.06", "H01.09"]
SOURCES = ["his-so-y-te", "qlvbdh", "dvc-tinh"]
SECRET = "webhook-secret-for-the-tests"


@dataclass
class FakeLog:
    """The event topics as the calculator's group sees them: appended and committed."""

    end: int = 0
    committed: int = 0
    down: bool = False

    async def __call__(self) -> PipelineReading:
        if self.down:
            raise ConnectionError("Kafka unreachable")
        return PipelineReading(self.end, self.committed)


@pytest.fixture()
def url(redis_server: Any) -> str:
    import redis as sync_redis

    u = redis_db(redis_server, DB)
    sync_redis.Redis.from_url(u).flushdb()
    return u


@pytest.fixture()
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture()
def hook() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


def settings(
    url: str, smtp: SmtpServer, hook: HttpReceiver | None = None, **extra: Any
) -> Settings:
    routes = [AlertRoute(emails=["cntt@sokhcn.gov.vn"], webhooks=[hook.url] if hook else [])]
    return Settings(
        **{
            "redis_url": url,
            "smtp_port": smtp.port,
            "alerts_routes": routes,
            "alerts_digest_emails": [],
            **extra,
        }
    )


def subjects(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in smtp.messages]


def test_calculator_behind_three_working_hours_one_alert_then_silence_by_event_time(
    url: str, smtp: SmtpServer
) -> None:
    """Every agency and source sends all morning while the calculator is stopped: one
    pipeline_behind email, no silence email; once caught up, only the agency whose events
    really stopped (event time) is silent."""
    log = FakeLog(end=500, committed=500)
    clock = Clock(MONDAY)

    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings(url, smtp), redis, clock=clock, pipeline=log)
        await record_last_seen(redis, AGENCIES, SOURCES, MONDAY)
        await engine.check_silence()
        assert await AlertStore(redis).firing() == []
        # 08:00–11:00: events keep arriving (end grows), nothing is processed
        while clock.at < MONDAY + timedelta(hours=3):
            clock.at += timedelta(minutes=10)
            log.end += 40
            await engine.check_silence()
            await engine.deliver()
        firing = await AlertStore(redis).firing()
        assert [a.rule for a in firing] == [Rule.pipeline_behind]
        assert firing[0].details["lag"] == 18 * 40
        # caught up: the backlog carried events up to 10:55 for every agency but one
        log.committed = log.end
        replayed = {a: (MONDAY + timedelta(hours=2, minutes=55)).timestamp() for a in AGENCIES}
        replayed.pop("H01.09")
        await record_stamps(redis, replayed, dict.fromkeys(SOURCES, max(replayed.values())))
        clock.at += timedelta(minutes=1)
        await engine.check_silence()
        await engine.deliver()
        store = AlertStore(redis)
        behind = await store.get(alert_key(Rule.pipeline_behind, "pipeline", None, "live"))
        assert behind is not None and behind.state is AlertState.resolved
        assert [a.scope for a in await store.firing()] == ["H01.09"]
        await engine.senders.close()
        await redis.aclose()

    run(scenario())
    assert sorted(subjects(smtp)) == [
        "[Cảnh báo] Hệ thống xử lý sự kiện egov-monitor đang chậm: 40 sự kiện chờ xử lý, "
        "tạm dừng cảnh báo kết nối gián đoạn",
        "[Cảnh báo] Kết nối gián đoạn: Sở Xây dựng không gửi dữ liệu",
        "[Đã khắc phục] Hệ thống xử lý sự kiện egov-monitor đã xử lý kịp các sự kiện đến",
    ]
    body = smtp.messages[0].get_content()
    assert "Không tiến triển trong: 10 phút" in body
    assert "không đánh giá nguồn và cơ quan im lặng" in body


def test_backlog_replay_never_moves_a_stamp_back_and_future_times_are_capped(url: str) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        await record_last_seen(redis, ["H01.10"], [], MONDAY + timedelta(hours=3))
        await record_last_seen(redis, ["H01.10"], [], MONDAY)  # an old event replayed
        stamp = await redis.hget(LAST_SEEN_AGENCIES, "H01.10")
        assert stamp is not None and float(stamp) == (MONDAY + timedelta(hours=3)).timestamp()
        await redis.aclose()

    run(scenario())


def test_pipeline_not_measurable_raises_nothing_and_judges_no_silence(
    url: str, smtp: SmtpServer
) -> None:
    log = FakeLog(down=True)
    clock = Clock(MONDAY + timedelta(hours=5))

    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings(url, smtp), redis, clock=clock, pipeline=log)
        await record_last_seen(redis, AGENCIES, SOURCES, MONDAY)
        await engine.check_silence()
        assert await AlertStore(redis).all() == []
        assert PIPELINE_LAG._value.get() == -1  # the exported gauge
        log.down = False
        await engine.check_silence()  # measurable and caught up: 5 h of silence is real
        assert len(await AlertStore(redis).firing()) == len(AGENCIES) + len(SOURCES)
        await redis.aclose()

    run(scenario())


def test_webhook_resend_after_a_crash_carries_the_same_idempotency_key(
    url: str, smtp: SmtpServer, hook: HttpReceiver
) -> None:
    """The receiver got the webhook, the sender died before marking it done: after the lease
    the same notification is sent again, recognisable by its Idempotency-Key, signed over a
    fresh timestamp."""

    async def scenario() -> None:
        redis = Redis.from_url(url)
        s = settings(
            url,
            smtp,
            hook,
            webhook_secret=SecretStr(SECRET),
            alerts_outbox_lease_s=0.3,
            alerts_routes=[AlertRoute(webhooks=[hook.url])],
        )
        engine = AlertEngine(s, redis)
        await engine.observe(
            Finding(
                Subject(
                    Rule.overdue,
                    "H01.10",
                    "Sở Y tế",
                    "open",
                ),
                Observation(True, Severity.critical, 2.0),
                {"count": 2},
            ),
        )
        (note_id,) = await engine.outbox.due(engine.clock())
        note = await engine.outbox.claim(note_id, s.alerts_outbox_lease_s)
        assert note is not None
        await engine.senders.send(note)  # accepted … and the process dies here
        assert await engine.deliver() == 0  # leased: nobody resends yet
        await asyncio.sleep(1.1)  # the lease runs out; a new second for the timestamp
        assert await engine.deliver() == 1
        assert await engine.deliver() == 0
        await engine.senders.close()
        await redis.aclose()

    run(scenario())
    (first, body1), (second, body2) = hook.requests
    assert (
        first["Idempotency-Key"]
        == second["Idempotency-Key"]
        == orjson.loads(body1)["notification_id"]
    )
    assert body1 == body2 and first["X-Egov-Timestamp"] != second["X-Egov-Timestamp"]
    assert verify(SECRET, first, body1) and verify(SECRET, second, body2)
    # a replay more than 5 minutes later, a changed body or another secret is refused
    later = int(first["X-Egov-Timestamp"]) + 301
    assert not verify(SECRET, first, body1, now=later)
    assert not verify(SECRET, first, body1.replace(b"H01.10", b"so-tttt"))
    assert not verify("another-secret", first, body1)


def test_email_resend_keeps_its_message_id(url: str, smtp: SmtpServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings(url, smtp, alerts_outbox_lease_s=0.2), redis)
        await engine.observe(
            Finding(
                Subject(
                    Rule.overdue,
                    "H01.10",
                    "Sở Y tế",
                    "open",
                ),
                Observation(True, Severity.critical, 2.0),
                {"count": 2},
            ),
        )
        (note_id,) = await engine.outbox.due(engine.clock())
        note = await engine.outbox.claim(note_id, 0.2)
        assert note is not None
        await engine.senders.send(note)  # accepted, never marked done
        await asyncio.sleep(0.3)
        assert await engine.deliver() == 1
        await redis.aclose()

    run(scenario())
    first, second = smtp.messages
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Message-ID"] == f"<{first['X-Egov-Notification-Id']}@egov-monitor.local>"


@pytest.fixture()
def alertmanager(tmp_path: Path) -> Iterator[AlertmanagerServer]:
    server = AlertmanagerServer(tmp_path / "alertmanager", free_port())
    server.start()
    yield server
    server.stop()


def active_alerts(am: AlertmanagerServer) -> list[dict[str, Any]]:
    got = httpx.get(f"{am.url}/api/v2/alerts", params={"active": "true"}, timeout=5).json()
    return [a for a in got if a["status"]["state"] == "active"]


def test_firing_alerts_reposted_to_alertmanager_never_expire(
    url: str, smtp: SmtpServer, alertmanager: AlertmanagerServer
) -> None:
    """Each evaluation re-posts what fires with endsAt four evaluations ahead: alive for as
    long as it is re-posted, expired soon after the alerts service stops posting."""
    interval = 1.0

    async def scenario() -> tuple[int, int]:
        redis = Redis.from_url(url)
        s = settings(url, smtp, alertmanager_url=alertmanager.url, alerts_check_interval_s=1)
        engine = AlertEngine(s, redis)
        await engine.observe(
            Finding(
                Subject(
                    Rule.overdue,
                    "H01.10",
                    "Sở Y tế",
                    "open",
                ),
                Observation(True, Severity.critical, 2.0),
                {"count": 2},
            ),
        )
        await engine.deliver()  # the transition (email + Alertmanager)
        for _ in range(9):  # 9 evaluations, longer than the 4 s an alert is posted for
            assert await engine.repost_alertmanager() == 1
            await asyncio.sleep(interval)
        alive = len(active_alerts(alertmanager))
        await asyncio.sleep(4 * interval + 2)  # the service stops posting
        expired = len(active_alerts(alertmanager))
        await engine.senders.close()
        await redis.aclose()
        return alive, expired

    alive, expired = run(scenario())
    assert (alive, expired) == (1, 0)


def test_alertmanager_notifications_become_system_alerts_mailed_in_vietnamese(
    url: str, smtp: SmtpServer
) -> None:
    base = {
        "labels": {"alertname": "EgovServiceDown", "job": "calculator", "severity": "critical"},
        "annotations": {
            "summary": "Dịch vụ calculator không phản hồi",
            "description": "Prometheus cannot scrape calculator for 1 minute.",
        },
        "fingerprint": "abc123",
    }
    own = {"labels": {"alertname": "breach", "origin": "egov-alerts"}, "status": "firing"}

    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings(url, smtp), redis)
        fired = {"alerts": [{**base, "status": "firing"}, own]}
        assert await engine.on_alertmanager(fired) == 1
        assert await engine.on_alertmanager(fired) == 0  # Alertmanager repeats: no change
        assert await engine.on_alertmanager({"alerts": [{**base, "status": "resolved"}]}) == 1
        await engine.deliver()
        await redis.aclose()

    run(scenario())
    assert subjects(smtp) == [
        "[Cảnh báo] Hệ thống egov-monitor (calculator): Dịch vụ calculator không phản hồi",
        "[Đã khắc phục] Hệ thống egov-monitor (calculator): Dịch vụ calculator không phản hồi",
    ]
    assert "Chi tiết: Prometheus cannot scrape calculator" in smtp.messages[0].get_content()


def test_reposting_skips_what_alertmanager_sent(url: str, smtp: SmtpServer) -> None:
    """No loop: an alert that came from Alertmanager is not posted back to it."""
    posted: list[Any] = []

    async def scenario() -> int:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings(url, smtp, alertmanager_url="http://127.0.0.1:1"), redis)

        async def capture(_: str, alerts: list[dict[str, object]]) -> None:
            posted.extend(alerts)

        engine.senders.post_alertmanager = capture  # type: ignore[method-assign,assignment]
        await engine.on_alertmanager(
            {"alerts": [{"status": "firing", "labels": {"alertname": "EgovDeadLetters"}}]}
        )
        n = await engine.repost_alertmanager()
        await redis.aclose()
        return n

    assert run(scenario()) == 0 and posted == []


def test_ids_do_not_depend_on_the_send_time(url: str, smtp: SmtpServer) -> None:
    """The same transition queued twice (e.g. re-evaluated after a crash before the state
    was saved would be a new transition; the same saved one) gives the same id."""

    async def scenario() -> tuple[str, str]:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings(url, smtp), redis, clock=Clock(MONDAY))
        alert = await engine.observe(
            Finding(
                Subject(
                    Rule.overdue,
                    "H01.10",
                    "Sở Y tế",
                    "open",
                ),
                Observation(True, Severity.critical, 2.0),
                {"count": 2},
            ),
        )
        assert alert is not None
        first = notifications(alert, None, MONDAY, engine.settings)[0].id
        later = notifications(alert, None, MONDAY + timedelta(hours=1), engine.settings)[0].id
        await redis.aclose()
        return first, later

    first, later = run(scenario())
    assert first == later
