"""Alerts against real Redis, a real SMTP server and a real HTTP receiver; the engine's
clock is under the test's control where time matters."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from services.alerts.engine import AlertEngine
from services.alerts.model import AlertState, alert_key
from services.alerts.pipeline import PipelineReading
from services.alerts.rules import Observation, Rule, Severity
from services.alerts.state import AlertStore, Finding, Subject
from services.api.reports.rankings import ranking
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ, now_utc
from shared.domain.catalog import Agency, load_agencies
from shared.domain.indicators import load_indicators
from shared.domain.periods import Period, PeriodKind
from shared.domain.procedures import Procedure
from shared.domain.scopes import parse_scope
from shared.domain.targets import load_targets
from shared.platform.config import AlertRoute, Settings
from shared.readmodel.figures import Verdict
from shared.store.catalogs import CatalogCache, CatalogStore
from shared.store.indicator_store import IndicatorStore
from shared.store.last_seen import record_last_seen
from tests.conftest import redis_db
from tests.factories import received
from tests.receivers import HttpReceiver, SmtpServer

DB = 12
BREACH_KEY_PREFIX = "breach|H01.05|full_online_rate|"


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


def this_year_events(n_full: int, n_other: int, agency: str = "H01.05") -> list[Any]:
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
        and "Sở Khoa học và Công nghệ" in str(m["Subject"])
    ]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def caught_up() -> PipelineReading:
    """The calculator has processed everything (no events waiting)."""
    return PipelineReading(end=100, committed=100)


def test_breach_one_email_one_webhook_recovery_one_resolution(url, smtp, hook) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp, hook), redis)
        await apply(url, this_year_events(20, 20))  # 50 % < 85 % (so_nganh, in force 2026)
        await engine.on_update("H01.05", now_utc().astimezone(LOCAL_TZ).year)
        await engine.on_update("H01.05", now_utc().astimezone(LOCAL_TZ).year)  # no repeat
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
        await engine.on_update("H01.05", now_utc().astimezone(LOCAL_TZ).year)
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
        await engine.on_update("H01.05", now_utc().astimezone(LOCAL_TZ).year)
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

        key = alert_key(Rule.breach, "H01.05", "full_online_rate", "2026")
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
            assert obs is not None
            await engine.observe(
                Finding(
                    Subject(
                        Rule.breach,
                        "H01.05",
                        "Sở Khoa học và Công nghệ",
                        "2026",
                        indicator=indicator,
                        group="so_nganh",
                    ),
                    obs,
                ),
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
            Finding(
                Subject(
                    Rule.overdue,
                    "H01.10",
                    "Sở Y tế",
                    "open",
                ),
                Observation(True, Severity.critical, 3.0),
                {"count": 3, "dossier_ids": ["a", "b", "c"]},
            ),
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
            Finding(
                Subject(
                    Rule.breach,
                    "H01.09",
                    "Sở Xây dựng",
                    "2026",
                    indicator=indicator,
                    target_set="kh-1205-2025",
                    target_source="Kế hoạch 1205/KH-UBND",
                    group="so_nganh",
                ),
                Observation(True, Severity.critical, 35.49, 85.0),
            ),
        )
        await engine.deliver()
        (msg,) = smtp.messages
        assert str(msg["Subject"]) == (
            "[Cảnh báo] Sở Xây dựng: Tỷ lệ hồ sơ trực tuyến toàn trình 35,49% dưới chỉ tiêu 85,00%"
        )
        body = msg.get_content()
        assert "Chỉ số: Tỷ lệ hồ sơ trực tuyến toàn trình (full_online_rate)" in body
        assert "Giá trị lũy kế: 35,49%" in body
        assert "Văn bản giao chỉ tiêu: Kế hoạch 1205/KH-UBND" in body
        assert "Mức độ: Nghiêm trọng" in body
        assert "Bắt đầu: 02/03/2026 09:30" in body
        assert "var-scope=H01.09" in body
        await redis.aclose()

    run(scenario())


def test_silent_source_raises_then_resolves(url, smtp) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        monday = datetime(2026, 11, 23, 8, 0, tzinfo=LOCAL_TZ)
        clock = Clock(monday + timedelta(hours=1))
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock, pipeline=caught_up)
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
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock, pipeline=caught_up)
        await record_last_seen(redis, ["H01.10"], [], friday)
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
            Finding(
                Subject(
                    Rule.breach,
                    "H01.10",
                    "Sở Y tế",
                    "2026",
                    indicator=indicator,
                    group="so_nganh",
                ),
                Observation(firing, Severity.warning if firing else None, 80.0, 85.0),
            ),
        )
        await engine.deliver()
        await engine.senders.close()
        await redis.aclose()

    asyncio.run(fire(True))
    key = alert_key(Rule.breach, "H01.10", "full_online_rate", "2026")
    auth = {"Authorization": "Bearer dev-read-token"}
    operate = {"Authorization": "Bearer dev-admin-token"}  # admin implies operate
    with TestClient(create_app(Settings(redis_url=url))) as client:
        listed = client.get(
            "/v1/alerts", params={"state": "firing", "scope": "H01.10"}, headers=auth
        ).json()
        assert [a["key"] for a in listed] == [key]
        assert client.get("/v1/alerts", params={"state": "resolved"}, headers=auth).json() == []
        assert client.get("/v1/alerts").status_code == 401
        assert client.post(f"/v1/alerts/{key}/ack", headers=auth).status_code == 403
        acked = client.post(f"/v1/alerts/{key}/ack", headers=operate).json()
        assert acked["acknowledged_by"] == "admin"
        until = (now_utc() + timedelta(hours=1)).isoformat()
        silence = f"/v1/alerts/{key}/silence"
        assert client.post(silence, json={"until": until}, headers=auth).status_code == 403
        silenced = client.post(silence, json={"until": until}, headers=operate)
        assert silenced.status_code == 200 and silenced.json()["silenced_until"]
        assert client.post("/v1/alerts/nope/ack", headers=operate).status_code == 404
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
        await engine.deliver()
        await redis.aclose()

    run(scenario())
    (body,) = [orjson.loads(b) for _, b in hook.requests]
    assert body[0]["labels"] == {
        "alertname": "overdue",
        "scope": "H01.10",
        "indicator": "",
        "period": "open",
        "severity": "critical",
        "origin": "egov-alerts",
    }
    assert body[0]["annotations"]["summary"] == "[Cảnh báo] Sở Y tế: 2 hồ sơ quá hạn"


# -- "Không đánh giá" (§4a.7): Thanh tra tỉnh (H01.08) has no full_online procedure ----------

THANH_TRA = "H01.08"  # Thanh tra tỉnh


def procedures() -> list[Procedure]:
    """H01.05 offers a full_online procedure; Thanh tra tỉnh only an in-person one."""
    return [
        Procedure(
            procedure_code=code,
            agency_code=agency,
            name=f"Thủ tục {code}",
            service_level=level,
            eligible_full_online=level != "in_person_only",
            fee_required=False,
        )
        for code, agency, level in (
            ("tttt-1", "H01.05", "full_online"),
            ("tt-1", THANH_TRA, "in_person_only"),
        )
    ]


async def load_procedures(url: str) -> None:
    redis = Redis.from_url(url)
    await CatalogStore(redis).replace_procedures(procedures())
    await redis.aclose()


def dossiers(agency: str, at: datetime, n: int, full_online: int = 0) -> list[Any]:
    """``n`` dossiers received at ``at``: ``full_online`` of them full online, the rest in
    person (so without the catalog the raw full-online ratio is ``full_online / n``)."""
    raws = [
        received(
            agency=agency,
            dossier=f"{agency}-{at.timestamp()}-{i}",
            at=at.isoformat(),
            level="full_online" if i < full_online else "in_person_only",
            channel="online" if i < full_online else "in_person",
            procedure_code="tttt-1" if agency == "H01.05" else "tt-1",
        )
        for i in range(n)
    ]
    agencies = load_agencies().codes
    out = [validate_event(r, agencies=agencies, now=at + timedelta(minutes=1)) for r in raws]
    assert all(not isinstance(e, list) for e in out), out
    return out


def mid_year() -> datetime:
    """30 June of the current year, 10:00 local: the engine's clock in these tests."""
    return datetime(now_utc().astimezone(LOCAL_TZ).year, 6, 30, 10, 0, tzinfo=LOCAL_TZ)


def threshold_keys(scope: str, year: int) -> list[str]:
    return [
        alert_key(rule, scope, "full_online_rate", str(year))
        for rule in (Rule.breach, Rule.projection)
    ]


def test_not_evaluated_agency_gets_no_breach_while_evaluated_one_does(url, smtp) -> None:
    clock = Clock(mid_year())
    year = clock.at.year

    async def scenario() -> None:
        await load_procedures(url)
        # the same situation for both: 40 dossiers this week, all in person (raw 0 %)
        at = clock.at - timedelta(days=2)
        await apply(url, dossiers("H01.05", at, 40) + dossiers(THANH_TRA, at, 40))
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        for agency in ("H01.05", THANH_TRA):
            await engine.on_update(agency, year)
        await engine.deliver()
        store = AlertStore(redis)
        breach = await store.get(alert_key(Rule.breach, "H01.05", "full_online_rate", str(year)))
        assert breach is not None and breach.state is AlertState.firing
        assert breach.severity is Severity.critical and breach.value == 0.0
        for key in threshold_keys(THANH_TRA, year):
            assert await store.get(key) is None, key
        # other indicators do apply to Thanh tra (online_rate at 0 % fires, rightly)
        judged = {a.indicator for a in await store.all() if a.scope == THANH_TRA}
        assert "online_rate" in judged and "full_online_rate" not in judged
        subjects = [
            str(m["Subject"])
            for m in smtp.messages
            if "Tỷ lệ hồ sơ trực tuyến toàn trình" in str(m["Subject"])
        ]
        assert any("Sở Khoa học và Công nghệ" in s for s in subjects), subjects
        assert not any("Thanh tra tỉnh" in s for s in subjects), subjects
        await redis.aclose()

    run(scenario())


def test_not_evaluated_agency_gets_no_early_warning_while_evaluated_one_does(url, smtp) -> None:
    clock = Clock(mid_year())
    year = clock.at.year

    async def scenario() -> None:
        await load_procedures(url)
        # 200 full online in February, 30 in person last week: 87 % to date (≥ 85 %), but
        # the last 30 days' pace (0 %) projects the year end far below the target
        events: list[Any] = []
        for agency in ("H01.05", THANH_TRA):
            events += dossiers(agency, datetime(year, 2, 10, 9, 0, tzinfo=LOCAL_TZ), 200, 200)
            events += dossiers(agency, clock.at - timedelta(days=5), 30)
        await apply(url, events)
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        for agency in ("H01.05", THANH_TRA):
            await engine.on_update(agency, year)
        store = AlertStore(redis)
        breach_key, projection_key = threshold_keys("H01.05", year)
        assert await store.get(breach_key) is None  # 200 / 230 meets 85 %
        warning = await store.get(projection_key)
        assert warning is not None and warning.state is AlertState.firing
        assert warning.severity is Severity.warning and warning.projected is not None
        assert warning.projected < 85.0 and warning.value == 100.0 * 200 / 230
        for key in threshold_keys(THANH_TRA, year):
            assert await store.get(key) is None, key
        await redis.aclose()

    run(scenario())


def test_agency_becoming_not_evaluated_resolves_its_breach(url, smtp) -> None:
    clock = Clock(mid_year())
    year = clock.at.year

    async def scenario() -> None:
        await apply(url, dossiers(THANH_TRA, clock.at - timedelta(days=2), 40))
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        engine.catalogs = CatalogCache(redis, refresh_s=0)
        await engine.on_update(THANH_TRA, year)  # no procedure catalog yet: judged, 0 %
        store = AlertStore(redis)
        key = alert_key(Rule.breach, THANH_TRA, "full_online_rate", str(year))
        fired = await store.get(key)
        assert fired is not None and fired.state is AlertState.firing
        await load_procedures(url)  # now known: no full_online procedure, not evaluated
        await engine.on_update(THANH_TRA, year)
        resolved = await store.get(key)
        assert resolved is not None and resolved.state is AlertState.resolved
        assert resolved.value is None
        await engine.on_update(THANH_TRA, year)  # stays quiet
        assert [h.state for h in await store.history(key)] == [
            AlertState.resolved,
            AlertState.firing,
        ]
        await engine.deliver()
        subjects = [
            str(m["Subject"]) for m in smtp.messages if "Thanh tra tỉnh" in str(m["Subject"])
        ]
        assert (
            "[Đã khắc phục] Thanh tra tỉnh: Tỷ lệ hồ sơ trực tuyến toàn trình không đánh giá "
            "(chỉ số không áp dụng hoặc chưa có dữ liệu)"
        ) in subjects, subjects
        await redis.aclose()

    run(scenario())


def test_digest_and_ranking_never_call_a_not_evaluated_agency_below_target(url, smtp) -> None:
    clock = Clock(mid_year().replace(hour=7, minute=30))

    async def scenario() -> None:
        await load_procedures(url)
        at = clock.at - timedelta(days=1)
        await apply(url, dossiers("H01.05", at, 40, 10) + dossiers(THANH_TRA, at, 67))
        redis = Redis.from_url(url)
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        assert await engine.send_digest() is True
        await engine.deliver()
        (msg,) = smtp.messages
        body = msg.get_content()
        lines = body.splitlines()
        assert "    Sở Khoa học và Công nghệ: 25.00% (Chưa đạt, chỉ tiêu 85.00%)" in lines
        assert not [line for line in lines if "Thanh tra tỉnh" in line and "Chưa đạt" in line]
        assert not [line for line in lines if "Thanh tra tỉnh: 0.00%" in line]
        assert "  Không đánh giá (chỉ số không áp dụng): Thanh tra tỉnh" in lines
        # the API's ranking agrees: "Không đánh giá", never among the worst
        catalogs = await CatalogCache(redis).current()
        week = Period(PeriodKind.range, at.date() - timedelta(days=5), at.date(), "week")
        ranked = await ranking(
            IndicatorStore(redis),
            catalogs,
            load_targets(),
            load_indicators()["full_online_rate"],
            parse_scope("group:so_nganh", catalogs.agencies),
            week,
            None,
            5,
        )
        row = next(r for r in ranked.agencies if r.agency_code == THANH_TRA)
        assert row.value is None and row.verdict is Verdict.not_evaluated
        assert THANH_TRA not in [r.agency_code for r in ranked.worst]
        assert [r.verdict for r in ranked.worst if r.agency_code == "H01.05"] == [Verdict.below]
        await redis.aclose()

    run(scenario())


def test_silence_alerts_only_for_agencies_valid_now(url, smtp) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        monday = datetime(2026, 11, 23, 8, 0, tzinfo=LOCAL_TZ)
        clock = Clock(monday + timedelta(hours=3))
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock, pipeline=caught_up)
        engine.catalogs = CatalogCache(redis, refresh_s=0)
        await record_last_seen(redis, ["H01.10", "H01.05"], [], monday)
        await engine.check_silence()  # 3 working hours ≥ 2: both silent
        store = AlertStore(redis)
        keys = {a: alert_key(Rule.silent_agency, a, None, "live") for a in ("H01.10", "H01.05")}
        for key in keys.values():
            alert = await store.get(key)
            assert alert is not None and alert.state is AlertState.firing
        # H01.05 ends on the Friday before (as if merged): no longer valid now
        ended: list[Agency] = [
            a.model_copy(update={"valid_to": date(2026, 11, 20)})
            if a.agency_code == "H01.05"
            else a
            for a in load_agencies().agencies.values()
        ]
        await CatalogStore(redis).replace_agencies(ended)
        clock.at += timedelta(minutes=30)
        await engine.check_silence()
        tttt = await store.get(keys["H01.05"])
        assert tttt is not None and tttt.state is AlertState.resolved  # not silent: gone
        yte = await store.get(keys["H01.10"])
        assert yte is not None and yte.state is AlertState.firing
        await redis.aclose()

    run(scenario())


# -- the packaged catalog in time: ended units behave as ended (§4a.6, §9) -----------------


def test_no_silence_alert_for_a_district_after_its_end(url, smtp) -> None:
    """The districts end on 2025-06-30 in the packaged catalog: one that fell silent on its
    last day stops being silent on 1 July, and a district last seen in June never raises a
    "kết nối gián đoạn" in 2026; a commune that falls silent does."""

    async def scenario() -> None:
        redis = Redis.from_url(url)
        monday = datetime(2025, 6, 30, 8, 0, tzinfo=LOCAL_TZ)  # the districts' last day
        clock = Clock(monday + timedelta(hours=3))
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock, pipeline=caught_up)
        engine.catalogs = CatalogCache(redis, refresh_s=0)  # the packaged catalog, seeded
        await record_last_seen(redis, ["ubnd-an-phu"], [], monday)
        await engine.check_silence()
        store = AlertStore(redis)
        key = alert_key(Rule.silent_agency, "ubnd-an-phu", None, "live")
        fired = await store.get(key)
        assert fired is not None and fired.state is AlertState.firing  # valid that day
        clock.at = datetime(2025, 7, 1, 10, 0, tzinfo=LOCAL_TZ)
        await engine.check_silence()
        gone = await store.get(key)
        assert gone is not None and gone.state is AlertState.resolved
        # in 2026: a district last seen on its last day raises nothing, a commune does
        tuesday = datetime(2026, 11, 24, 8, 0, tzinfo=LOCAL_TZ)
        await record_last_seen(
            redis, ["ubnd-cho-moi"], [], datetime(2025, 6, 30, 16, 0, tzinfo=LOCAL_TZ)
        )
        await record_last_seen(redis, ["H01.187"], [], tuesday)
        clock.at = tuesday + timedelta(hours=3)
        await engine.check_silence()
        assert await store.get(alert_key(Rule.silent_agency, "ubnd-cho-moi", None, "live")) is None
        commune = await store.get(alert_key(Rule.silent_agency, "H01.187", None, "live"))
        assert commune is not None and commune.state is AlertState.firing
        assert {a.scope for a in await store.firing()} == {"H01.187"}
        await engine.deliver()
        subjects = [str(m["Subject"]) for m in smtp.messages]
        assert "[Cảnh báo] Kết nối gián đoạn: UBND xã Đông Thái không gửi dữ liệu" in subjects
        await redis.aclose()

    run(scenario())


def test_threshold_alerts_of_ended_units_resolve_and_are_not_raised_again(url, smtp) -> None:
    """A district below target in June 2025 fires (it and level:huyen); on 1 July it has
    ended: the timers' check resolves both, saying why, and a late event of the district
    raises neither again. The local group and the province go on being judged."""

    async def scenario() -> None:
        redis = Redis.from_url(url)
        clock = Clock(datetime(2025, 6, 20, 10, 0, tzinfo=LOCAL_TZ))
        engine = AlertEngine(settings_for(url, smtp), redis, clock=clock)
        engine.catalogs = CatalogCache(redis, refresh_s=0)
        await apply(url, dossiers("ubnd-an-phu", clock.at - timedelta(days=2), 40))  # 0 %
        await engine.on_update("ubnd-an-phu", 2025)
        store = AlertStore(redis)
        district = alert_key(Rule.breach, "ubnd-an-phu", "full_online_rate", "2025")
        level = alert_key(Rule.breach, "level:huyen", "full_online_rate", "2025")
        local = alert_key(Rule.breach, "group:dia_phuong", "full_online_rate", "2025")
        for key in (district, level, local):
            alert = await store.get(key)
            assert alert is not None and alert.state is AlertState.firing, key
        await engine.check_ended()  # still valid: nothing changes
        assert {district, level, local} <= {a.key for a in await store.firing()}
        clock.at = datetime(2025, 7, 1, 8, 0, tzinfo=LOCAL_TZ)
        await engine.check_ended()
        for key in (district, level):
            alert = await store.get(key)
            assert alert is not None and alert.state is AlertState.resolved, key
        still = await store.get(local)  # the communes are members now: still judged
        assert still is not None and still.state is AlertState.firing
        # a late event of the district's last day arrives: nothing raised again
        await apply(url, dossiers("ubnd-an-phu", datetime(2025, 6, 30, 15, 0, tzinfo=LOCAL_TZ), 5))
        clock.at = datetime(2025, 7, 2, 9, 0, tzinfo=LOCAL_TZ)
        await engine.on_update("ubnd-an-phu", 2025)
        for key in (district, level):
            assert [h.state for h in await store.history(key)] == [
                AlertState.resolved,
                AlertState.firing,
            ], key
        await engine.deliver()
        subjects = [str(m["Subject"]) for m in smtp.messages]
        assert (
            "[Đã khắc phục] UBND huyện An Phú: Tỷ lệ hồ sơ trực tuyến toàn trình không còn "
            "đánh giá (đơn vị đã kết thúc hoạt động ngày 30/06/2025)"
        ) in subjects, subjects
        assert (
            "[Đã khắc phục] Cấp huyện: Tỷ lệ hồ sơ trực tuyến toàn trình không còn đánh giá "
            "(không còn đơn vị nào của phạm vi đang hoạt động)"
        ) in subjects, subjects
        await redis.aclose()

    run(scenario())
