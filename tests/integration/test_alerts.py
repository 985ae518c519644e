"""Alerts against real Redis, a real SMTP server and a real HTTP receiver; the engine's
clock is under the test's control where time matters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from services.alerts.engine import AlertEngine
from services.alerts.model import AlertState, alert_key
from services.alerts.rules import Observation, Rule, Severity
from services.alerts.store import AlertStore
from shared.catalog import load_agencies
from shared.config import AlertRoute, Settings
from shared.indicators import load_indicators
from shared.last_seen import record_last_seen
from shared.store import IndicatorStore
from shared.timeutil import LOCAL_TZ, now_utc
from shared.validation import validate_event
from tests.conftest import redis_db
from tests.factories import received
from tests.receivers import HttpReceiver, SmtpServer

DB = 12
BREACH_KEY_PREFIX = "breach|so-tttt|full_online_rate|"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


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


@pytest.fixture()
def url(redis_server) -> str:
    import redis as sync_redis

    u = redis_db(redis_server, DB)
    sync_redis.Redis.from_url(u).flushdb()
    return u


def settings_for(
    url: str, smtp: SmtpServer, hook: HttpReceiver | None = None, **extra: Any
) -> Settings:
    routes = [AlertRoute(emails=["cntt@sokhcn.gov.vn"], webhooks=[hook.url] if hook else [])]
    return Settings(redis_url=url, smtp_port=smtp.port, alerts_routes=routes, **extra)


def this_year_events(n_full: int, n_other: int, agency: str = "so-tttt") -> list[Any]:
    """Dossiers received today; ``n_full`` of them full online."""
    now = now_utc().astimezone(LOCAL_TZ) - timedelta(minutes=5)
    raws = [
        received(
            agency=agency, dossier=f"f{i}-{now.timestamp()}", at=now.isoformat(), digitized=True
        )
        for i in range(n_full)
    ]
    raws += [
        received(
            agency=agency,
            dossier=f"o{i}-{now.timestamp()}",
            at=now.isoformat(),
            level="partial_online",
            channel="online",
            digitized=True,
        )
        for i in range(n_other)
    ]
    agencies = load_agencies().codes
    return [validate_event(r, agencies=agencies) for r in raws]


async def apply(url: str, events: list[Any]) -> None:
    redis = Redis.from_url(url)
    await IndicatorStore(redis).apply_many(events)
    await redis.aclose()


def breach_emails(smtp: SmtpServer) -> list[Any]:
    return [
        m
        for m in smtp.messages
        if "Tỷ lệ hồ sơ trực tuyến toàn trình" in str(m["Subject"])
        and "Sở Thông tin và Truyền thông" in str(m["Subject"])
    ]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_breach_one_email_one_webhook_recovery_one_resolution(url, smtp, hook) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp, hook), redis)
        await apply(url, this_year_events(20, 20))  # 50 % < 85 % (so_nganh, in force 2026)
        await engine.on_update("so-tttt", now_utc().astimezone(LOCAL_TZ).year)
        await engine.on_update("so-tttt", now_utc().astimezone(LOCAL_TZ).year)  # no repeat
        await engine.deliver()
        await engine.deliver()
        assert len(breach_emails(smtp)) == 1, [str(m["Subject"]) for m in smtp.messages]
        hooks = [
            orjson.loads(b)
            for _, b in hook.requests
            if orjson.loads(b)["alert"]["key"].startswith(BREACH_KEY_PREFIX)
        ]
        assert len(hooks) == 1 and hooks[0]["kind"] == "firing"
        headers = next(
            h
            for h, b in hook.requests
            if orjson.loads(b)["alert"]["key"].startswith(BREACH_KEY_PREFIX)
        )
        assert headers["X-Egov-Signature"].startswith("sha256=")
        await apply(url, this_year_events(300, 0))  # 320 / 340 = 94 % ≥ 85 + 1
        await engine.on_update("so-tttt", now_utc().astimezone(LOCAL_TZ).year)
        await engine.deliver()
        emails = breach_emails(smtp)
        assert len(emails) == 2 and str(emails[1]["Subject"]).startswith("[Đã khắc phục]")
        await redis.aclose()

    run(scenario())


def test_below_minimum_denominator_no_alert(url, smtp) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp), redis)
        await apply(url, this_year_events(0, 10))  # 0 % but only 10 dossiers < 30
        await engine.on_update("so-tttt", now_utc().astimezone(LOCAL_TZ).year)
        await engine.deliver()
        assert await AlertStore(redis).all() == []
        assert smtp.messages == []
        await redis.aclose()

    run(scenario())


def test_value_flapping_around_target_gives_one_alert(url, smtp) -> None:
    indicator = load_indicators()["full_online_rate"]

    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp), redis)
        from services.alerts.rules import evaluate_breach

        key = alert_key(Rule.breach, "so-tttt", "full_online_rate", "2026")
        for i in range(50):
            value_num = 845 if i % 2 == 0 else 855  # 84.5 % / 85.5 % around 85 %
            prev = await AlertStore(redis).get(key)
            obs = evaluate_breach(
                value_num,
                1000,
                85.0,
                min_denominator=30,
                margin=1.0,
                was_firing=prev is not None and prev.state is AlertState.firing,
            )
            await engine.observe(
                Rule.breach,
                "so-tttt",
                "Sở Thông tin và Truyền thông",
                "2026",
                obs,
                indicator=indicator,
                group="so_nganh",
            )
            await engine.deliver()
        history = await AlertStore(redis).history(key)
        assert len(history) == 1 and history[0].state is AlertState.firing
        assert len(smtp.messages) == 1
        await redis.aclose()

    run(scenario())


def test_smtp_down_then_up_email_arrives_once(url, smtp) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        clock = Clock(now_utc())
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        smtp.stop()
        await engine.observe(
            Rule.overdue,
            "so-y-te",
            "Sở Y tế",
            "open",
            Observation(True, Severity.critical, 3.0),
            details={"count": 3, "dossier_ids": ["a", "b", "c"]},
        )
        assert await engine.deliver() == 0  # refused: retried later
        assert await engine.outbox.depth() == 1
        smtp.start()
        assert await engine.deliver() == 0  # not due yet: backoff
        clock.at += timedelta(seconds=5)
        assert await engine.deliver() == 1
        clock.at += timedelta(minutes=10)
        assert await engine.deliver() == 0
        assert len(smtp.messages) == 1 and await engine.outbox.depth() == 0
        await redis.aclose()

    run(scenario())


def test_email_is_proper_vietnamese_utf8(url, smtp) -> None:
    indicator = load_indicators()["full_online_rate"]

    async def scenario() -> None:
        redis = Redis.from_url(url)
        clock = Clock(datetime(2026, 3, 2, 9, 30, tzinfo=LOCAL_TZ))
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        await engine.observe(
            Rule.breach,
            "so-gtvt",
            "Sở Giao thông Vận tải",
            "2026",
            Observation(True, Severity.critical, 35.49, 85.0),
            indicator=indicator,
            target_set="kh-1205-2025",
            target_source="Kế hoạch 1205/KH-UBND",
            group="so_nganh",
        )
        await engine.deliver()
        (msg,) = smtp.messages
        assert str(msg["Subject"]) == (
            "[Cảnh báo] Sở Giao thông Vận tải: Tỷ lệ hồ sơ trực tuyến toàn trình 35,49% "
            "dưới chỉ tiêu 85,00%"
        )
        body = msg.get_content()
        assert "Chỉ số: Tỷ lệ hồ sơ trực tuyến toàn trình (full_online_rate)" in body
        assert "Giá trị lũy kế: 35,49%" in body
        assert "Văn bản giao chỉ tiêu: Kế hoạch 1205/KH-UBND" in body
        assert "Mức độ: Nghiêm trọng" in body
        assert "Bắt đầu: 02/03/2026 09:30" in body
        assert "var-scope=so-gtvt" in body
        await redis.aclose()

    run(scenario())


def test_silent_source_raises_then_resolves(url, smtp) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        monday = datetime(2026, 11, 23, 8, 0, tzinfo=LOCAL_TZ)
        clock = Clock(monday + timedelta(hours=1))
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        await record_last_seen(redis, [], ["qlvbdh"], monday)
        await engine.check_silence()
        key = alert_key(Rule.silent_source, "qlvbdh", None, "live")
        assert await AlertStore(redis).get(key) is None  # 1 working hour < 2
        clock.at = monday + timedelta(hours=2, minutes=30)
        await engine.check_silence()
        alert = await AlertStore(redis).get(key)
        assert alert is not None and alert.state is AlertState.firing
        await record_last_seen(redis, [], ["qlvbdh"], clock.at + timedelta(minutes=1))
        clock.at += timedelta(minutes=2)
        await engine.check_silence()
        alert = await AlertStore(redis).get(key)
        assert alert is not None and alert.state is AlertState.resolved
        await engine.deliver()
        subjects = [str(m["Subject"]) for m in smtp.messages]
        assert subjects == [
            "[Cảnh báo] Kết nối gián đoạn: qlvbdh không gửi dữ liệu",
            "[Đã khắc phục] Kết nối gián đoạn: qlvbdh không gửi dữ liệu",
        ]
        await redis.aclose()

    run(scenario())


def test_weekend_hours_do_not_count_towards_silence(url, smtp) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        friday = datetime(2026, 11, 20, 16, 30, tzinfo=LOCAL_TZ)
        clock = Clock(datetime(2026, 11, 23, 8, 0, tzinfo=LOCAL_TZ))  # Monday 08:00
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        await record_last_seen(redis, ["so-y-te"], [], friday)
        await engine.check_silence()  # 0.5 h Friday + 1 h Monday = 1.5 h < 2
        assert await AlertStore(redis).firing() == []
        await redis.aclose()

    run(scenario())


def test_daily_digest_once_a_day(url, smtp) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        clock = Clock(datetime(2026, 11, 24, 6, 30, tzinfo=LOCAL_TZ))
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        await apply(url, this_year_events(5, 5))
        assert await engine.send_digest() is False  # before 07:00
        clock.at = datetime(2026, 11, 24, 7, 5, tzinfo=LOCAL_TZ)
        assert await engine.send_digest() is True
        assert await engine.send_digest() is False  # once a day
        await engine.deliver()
        (msg,) = smtp.messages
        assert str(msg["Subject"]).startswith("[Bản tin] egov-monitor ngày 24/11/2026")
        assert "Xếp hạng 7 ngày qua — Tỷ lệ hồ sơ trực tuyến toàn trình" in msg.get_content()
        await redis.aclose()

    run(scenario())


def test_alert_api_lists_acknowledges_and_silences(url, smtp, hook) -> None:
    from fastapi.testclient import TestClient

    from services.api.app import create_app

    indicator = load_indicators()["full_online_rate"]

    async def fire(firing: bool) -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp, hook), redis)
        await engine.observe(
            Rule.breach,
            "so-y-te",
            "Sở Y tế",
            "2026",
            Observation(firing, Severity.warning if firing else None, 80.0, 85.0),
            indicator=indicator,
            group="so_nganh",
        )
        await engine.deliver()
        await engine.senders.close()
        await redis.aclose()

    asyncio.run(fire(True))
    key = alert_key(Rule.breach, "so-y-te", "full_online_rate", "2026")
    auth = {"Authorization": "Bearer dev-read-token"}
    with TestClient(create_app(Settings(redis_url=url))) as client:
        listed = client.get(
            "/v1/alerts", params={"state": "firing", "scope": "so-y-te"}, headers=auth
        ).json()
        assert [a["key"] for a in listed] == [key]
        assert client.get("/v1/alerts", params={"state": "resolved"}, headers=auth).json() == []
        assert client.get("/v1/alerts").status_code == 401
        acked = client.post(f"/v1/alerts/{key}/ack", headers=auth).json()
        assert acked["acknowledged_by"] == "read"
        until = (now_utc() + timedelta(hours=1)).isoformat()
        silenced = client.post(f"/v1/alerts/{key}/silence", json={"until": until}, headers=auth)
        assert silenced.status_code == 200 and silenced.json()["silenced_until"]
        assert client.post("/v1/alerts/nope/ack", headers=auth).status_code == 404
        before = len(smtp.messages)
        asyncio.run(fire(False))  # resolves while silenced: no message
        assert len(smtp.messages) == before
        history = client.get("/v1/alerts/history", params={"key": key}, headers=auth).json()
        assert [h["state"] for h in history] == ["resolved", "firing"]


def test_alertmanager_sink_receives_v2_alerts(url, smtp, hook) -> None:
    base = hook.url.removesuffix("/hook")

    async def scenario() -> None:
        redis = Redis.from_url(url)
        settings = settings_for(url, smtp, alertmanager_url=base)
        engine = AlertEngine(settings, redis)
        await engine.observe(
            Rule.overdue,
            "so-y-te",
            "Sở Y tế",
            "open",
            Observation(True, Severity.critical, 2.0),
            details={"count": 2},
        )
        await engine.deliver()
        await redis.aclose()

    run(scenario())
    (body,) = [orjson.loads(b) for _, b in hook.requests]
    assert body[0]["labels"] == {
        "alertname": "overdue",
        "scope": "so-y-te",
        "indicator": "",
        "severity": "critical",
    }
    assert body[0]["annotations"]["summary"] == "[Cảnh báo] Sở Y tế: 2 hồ sơ quá hạn"
