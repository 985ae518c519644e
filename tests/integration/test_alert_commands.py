"""Acknowledge and silence are compare-and-set commands (``shared.store.alert_commands``), and the
alerts service writes alert state by compare-and-set too: an acknowledgement racing an
evaluation loses neither. Each race is replayed deterministically against a real Redis; the
old read-modify-write (read, change, SET) lost one side in both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from services.alerts.engine import AlertEngine
from services.alerts.rules import Observation, Rule, Severity
from services.alerts.state import AlertStore, Finding, Subject
from services.api.app import create_app
from shared.domain.alerts import AlertState
from shared.domain.calendar import LOCAL_TZ
from shared.platform.config import AlertRoute, Settings
from shared.store.alert_commands import acknowledge, get_alert, silence
from shared.store.exceptions import AlertConflict
from tests.conftest import redis_db
from tests.receivers import SmtpServer

DB = 10
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL_TZ)
OVERDUE = Subject(Rule.overdue, "so-y-te", "Sở Y tế", "open", group="so_nganh")
KEY = OVERDUE.key


def overdue(count: int) -> Finding:
    sev = Severity.critical if count else None
    return Finding(OVERDUE, Observation(count > 0, sev, float(count)), {"count": count})


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


def engine_for(url: str, smtp: SmtpServer, redis: Redis) -> AlertEngine:
    settings = Settings(
        redis_url=url,
        smtp_port=smtp.port,
        alerts_routes=[AlertRoute(emails=["cntt@sokhcn.gov.vn"])],
        alerts_digest_emails=[],
    )
    return AlertEngine(settings, redis, clock=lambda: MONDAY)


def test_acknowledgement_during_an_evaluation_is_not_lost(url: str, smtp: SmtpServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = engine_for(url, smtp, redis)
        await engine.observe(overdue(2))
        read = await engine.store.read([KEY])  # the evaluation reads the alert …
        await acknowledge(redis, KEY, "operator", MONDAY)  # … an operator acknowledges …
        (alert,) = await engine.apply([overdue(3)], read)  # … the evaluation writes
        assert alert is not None and alert.value == 3.0
        stored = await get_alert(redis, KEY)
        assert stored is not None
        assert stored.acknowledged_by == "operator"  # the acknowledgement survived
        assert stored.value == 3.0 and stored.details == {"count": 3}  # and the evaluation
        await redis.aclose()

    asyncio.run(scenario())


def test_state_change_during_an_acknowledgement_is_not_lost(url: str, smtp: SmtpServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = engine_for(url, smtp, redis)
        await engine.observe(overdue(2))
        api = Redis.from_url(url)
        real_mget = api.mget
        raced = False

        async def mget_then_resolve(*args: Any, **kw: Any) -> Any:
            nonlocal raced
            out = await real_mget(*args, **kw)  # the command reads the firing alert …
            if not raced:
                raced = True
                await engine.observe(overdue(0))  # … and the alert resolves meanwhile
            return out

        api.mget = mget_then_resolve  # type: ignore[method-assign]
        with pytest.raises(AlertConflict):
            await acknowledge(api, KEY, "operator", MONDAY)
        assert raced
        stored = await get_alert(redis, KEY)
        assert stored is not None
        assert stored.state is AlertState.resolved  # the resolution survived
        assert stored.acknowledged_by is None  # the old incident's ack is not applied
        assert [h.state for h in await AlertStore(redis).history(KEY)] == [
            AlertState.resolved,
            AlertState.firing,
        ]
        await api.aclose()
        await redis.aclose()

    asyncio.run(scenario())


def test_evaluation_moving_last_seen_is_not_a_conflict(url: str, smtp: SmtpServer) -> None:
    async def scenario() -> None:
        redis = Redis.from_url(url)
        engine = engine_for(url, smtp, redis)
        await engine.observe(overdue(2))
        api = Redis.from_url(url)
        real_mget = api.mget
        calls = 0

        async def mget_then_evaluate(*args: Any, **kw: Any) -> Any:
            nonlocal calls
            out = await real_mget(*args, **kw)
            calls += 1
            if calls == 1:
                await engine.observe(overdue(5))  # still firing: same transition
            return out

        api.mget = mget_then_evaluate  # type: ignore[method-assign]
        until = MONDAY + timedelta(hours=2)
        done = await silence(api, KEY, until, expect=AlertState.firing)
        assert calls == 2  # the first compare-and-set failed, the second applied
        stored = await get_alert(redis, KEY)
        assert stored is not None and stored == done
        assert stored.silenced_until == until and stored.value == 5.0
        await api.aclose()
        await redis.aclose()

    asyncio.run(scenario())


def test_api_answers_409_when_the_alert_is_not_in_the_expected_state(
    url: str, smtp: SmtpServer
) -> None:
    async def fire(count: int) -> None:
        redis = Redis.from_url(url)
        await engine_for(url, smtp, redis).observe(overdue(count))
        await redis.aclose()

    asyncio.run(fire(2))
    asyncio.run(fire(0))  # resolved
    operate = {"Authorization": "Bearer dev-admin-token"}
    with TestClient(create_app(Settings(redis_url=url))) as client:
        ack = f"/v1/alerts/{KEY}/ack"
        conflict = client.post(ack, params={"state": "firing"}, headers=operate)
        assert conflict.status_code == 409, conflict.text
        assert conflict.json()["error"] == "conflict"
        assert (
            client.get("/v1/alerts?scope=so-y-te", headers=operate).json()[0]["acknowledged_by"]
            is None
        )
        done = client.post(ack, params={"state": "resolved"}, headers=operate)
        assert done.status_code == 200 and done.json()["acknowledged_by"] == "admin"


def test_resolved_alerts_past_the_retention_leave_the_list(url: str, smtp: SmtpServer) -> None:
    """Issue 20, item 12: the alert index no longer grows with the years. An alert resolved
    more than ``alerts_retention_days`` ago leaves the list the board reads; one resolved
    within it, and one firing, stay; the history stream keeps every transition."""
    old = Subject(Rule.overdue, "so-tu-phap", "Sở Tư pháp", "open", group="so_nganh")

    def finding(subject: Subject, count: int) -> Finding:
        sev = Severity.critical if count else None
        return Finding(subject, Observation(count > 0, sev, float(count)), {"count": count})

    async def scenario() -> None:
        redis = Redis.from_url(url)
        now = MONDAY
        engine = engine_for(url, smtp, redis)
        engine.clock = lambda: now
        await engine.observe(finding(old, 2))
        now = MONDAY + timedelta(days=1)
        await engine.observe(finding(old, 0))  # resolved on day 1
        await engine.observe(overdue(2))  # firing
        now = MONDAY + timedelta(days=399)
        assert await engine.prune() == []  # within the 400 days: kept
        engine._pruned_at = None  # the hourly pass, an hour later
        now = MONDAY + timedelta(days=402)
        assert await engine.prune() == [old.key]
        assert await engine.prune() == []  # at most once an hour
        keys = {a.key for a in await engine.store.all()}
        assert keys == {KEY}  # the firing alert stays
        assert await get_alert(redis, old.key) is None
        history = await AlertStore(redis).history(old.key)
        assert [h.state for h in history] == [AlertState.resolved, AlertState.firing]
        await redis.aclose()

    asyncio.run(scenario())
