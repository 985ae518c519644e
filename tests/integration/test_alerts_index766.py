"""The Decision 766 alerts through the real Redis (small data): a unit whose year-to-date
score, its open overdue dossiers counted late, falls below 70 raises exactly one alert —
naming the unit, the metric and the counts behind it — and it resolves once the score is
back above the floor (+ the margin); one of a unit that ended resolves and is not raised
again."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from services.alerts.engine import AlertEngine
from services.alerts.model import AlertState, alert_key
from services.alerts.rules import Observation, Rule, Severity
from services.alerts.state import AlertStore, Finding, Subject
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import load_agencies
from shared.platform.config import AlertRoute, Settings
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db
from tests.receivers import SmtpServer

pytestmark = pytest.mark.integration

DB = 13
UNIT = "H01.05"  # Sở Khoa học và Công nghệ
_ids = itertools.count(1)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def dossiers(n: int, at: datetime, due: datetime, tag: str, agency: str = UNIT) -> list[Any]:
    """``n`` dossiers received at ``at`` online (full online, digitized, citizen data used),
    open, due at ``due``."""
    agencies = load_agencies().codes
    raws = [
        {
            "event_id": f"a766-{next(_ids)}",
            "event_type": "received",
            "occurred_at": at.isoformat(),
            "agency_code": agency,
            "dossier_id": f"{tag}-{i}",
            "procedure_code": "p-1",
            "service_level": "full_online",
            "channel": "online",
            "submitted_by": "citizen",
            "due_at": due.isoformat(),
            "digitized": True,
            "citizen_data_used": True,
        }
        for i in range(n)
    ]
    return [validate_event(r, agencies=agencies) for r in raws]


def band_emails(smtp: SmtpServer) -> list[Any]:
    return [m for m in smtp.messages if "Chỉ số 766 dự báo cuối năm" in str(m["Subject"])]


@pytest.fixture()
def url(redis_server) -> str:
    import redis as sync_redis

    u = redis_db(redis_server, DB)
    sync_redis.Redis.from_url(u).flushdb()
    return u


def test_unit_below_70_one_alert_naming_metric_and_counts_then_resolves(url) -> None:
    smtp = SmtpServer()
    smtp.start()
    now = datetime.now(LOCAL_TZ).replace(microsecond=0)
    clock = Clock(now)

    async def scenario() -> None:
        redis = Redis.from_url(url)
        store = IndicatorStore(redis)
        routes = [AlertRoute(emails=["cntt@sokhcn.gov.vn"])]
        engine = AlertEngine(
            Settings(redis_url=url, smtp_port=smtp.port, alerts_routes=routes), redis, clock=clock
        )
        key = alert_key(Rule.index766_band, UNIT, None, str(now.year))
        # 40 dossiers received this morning, all already past due and still open: counted late
        await store.apply_many(
            dossiers(40, now - timedelta(minutes=30), now - timedelta(minutes=10), "late")
        )
        for _ in range(3):  # re-evaluated: still one alert
            await engine.on_update(UNIT, now.year)
        await engine.deliver()
        alerts = [a for a in await AlertStore(redis).all() if a.rule is Rule.index766_band]
        assert [(a.key, a.state) for a in alerts] == [(key, AlertState.firing)]
        alert = alerts[0]
        assert alert.projected is not None and alert.projected < 70
        assert alert.indicator == "ON_TIME"
        assert (alert.details["numerator"], alert.details["denominator"]) == (0, 40)
        assert alert.details["overdue_open"] == 40
        emails = band_emails(smtp)
        assert len(emails) == 1, [str(m["Subject"]) for m in smtp.messages]
        subject = str(emails[0]["Subject"])
        assert "Sở Khoa học và Công nghệ" in subject and "dưới 70,00 (Khá)" in subject
        assert "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn 0/40" in subject
        body = emails[0].get_content()
        assert "hồ sơ đang quá hạn: 40" in body
        # 400 more dossiers, open and not yet due (on time): ON_TIME 400/440, above 70 + 0.5
        await store.apply_many(
            dossiers(400, now - timedelta(minutes=20), now + timedelta(days=5), "ok")
        )
        clock.at = now + timedelta(seconds=1)
        await engine.on_update(UNIT, now.year)
        await engine.deliver()
        resolved = await AlertStore(redis).get(key)
        assert resolved is not None and resolved.state is AlertState.resolved
        assert resolved.projected is not None and resolved.projected >= 70.5
        emails = band_emails(smtp)
        assert len(emails) == 2 and str(emails[1]["Subject"]).startswith("[Đã khắc phục]")
        assert "400/440" in str(emails[1]["Subject"])
        assert not [a for a in await AlertStore(redis).all() if a.rule is Rule.index766_drop]
        await redis.aclose()

    try:
        asyncio.run(scenario())
    finally:
        smtp.stop()


def test_766_alert_of_an_ended_unit_resolves_and_is_not_raised_again(url) -> None:
    """A band warning of a district (say raised in its last days) resolves once it has
    ended (the timers' check), saying why; a late update of the district raises nothing."""
    smtp = SmtpServer()
    smtp.start()
    clock = Clock(datetime(2025, 6, 30, 10, 0, tzinfo=LOCAL_TZ))
    district = "ubnd-an-phu"

    async def scenario() -> None:
        redis = Redis.from_url(url)
        routes = [AlertRoute(emails=["cntt@sokhcn.gov.vn"])]
        engine = AlertEngine(
            Settings(redis_url=url, smtp_port=smtp.port, alerts_routes=routes), redis, clock=clock
        )
        subject = Subject(
            Rule.index766_band,
            district,
            "UBND huyện An Phú",
            "2025",
            group="dia_phuong",
            metric=("ON_TIME", "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn"),
        )
        obs = Observation(True, Severity.warning, 60.0, 70.0, 60.0)
        await engine.observe(Finding(subject, obs, {"numerator": 1, "denominator": 40}))
        await engine.check_ended()  # still valid on 30/06: nothing changes
        store = AlertStore(redis)
        assert [a.key for a in await store.firing()] == [subject.key]
        clock.at = datetime(2025, 7, 1, 8, 0, tzinfo=LOCAL_TZ)
        await engine.check_ended()
        alert = await store.get(subject.key)
        assert alert is not None and alert.state is AlertState.resolved
        at = datetime(2025, 6, 30, 9, tzinfo=LOCAL_TZ)
        await store_events(url, dossiers(40, at, at + timedelta(hours=1), "end", district))
        await engine.on_update(district, 2025)  # (aggregates' breaches may fire: not 766)
        assert [a.key for a in await store.all() if a.scope == district] == [subject.key]
        assert [h.state for h in await store.history(subject.key)] == [
            AlertState.resolved,
            AlertState.firing,
        ]
        await engine.deliver()
        subjects = [str(m["Subject"]) for m in smtp.messages]
        assert (
            "[Đã khắc phục] UBND huyện An Phú: Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn "
            "không còn đánh giá (đơn vị đã kết thúc hoạt động ngày 30/06/2025)"
        ) in subjects, subjects
        await redis.aclose()

    try:
        asyncio.run(scenario())
    finally:
        smtp.stop()


async def store_events(url: str, events: list[Any]) -> None:
    redis = Redis.from_url(url)
    await IndicatorStore(redis).apply_many(events)
    await redis.aclose()
