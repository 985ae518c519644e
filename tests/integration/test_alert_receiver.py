"""Alertmanager's webhook accepts only the project's alerts: the alert names of its
Prometheus rules files (``prometheus/rules``). A foreign alert posted to it is not mailed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from services.alerts.engine import AlertEngine
from services.alerts.metrics import FOREIGN
from services.alerts.receiver import PROJECT_RULES, alert_names
from services.alerts.state import AlertStore
from shared.platform.config import AlertRoute, Settings
from tests.conftest import redis_db
from tests.receivers import SmtpServer

DB = 8


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


def posted(name: str, summary: str) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": name, "job": "calculator", "severity": "critical"},
        "annotations": {"summary": summary},
        "fingerprint": name.lower(),
    }


def test_the_project_rules_are_read_from_prometheus_rules() -> None:
    names = alert_names()
    assert PROJECT_RULES.name == "rules" and PROJECT_RULES.parent.name == "prometheus"
    assert {"EgovServiceDown", "EgovDeadLetters", "EgovPipelineBehind"} <= names


def test_a_foreign_alert_is_not_mailed_a_project_alert_is(url: str, smtp: SmtpServer) -> None:
    foreign_before = FOREIGN._value.get()

    async def scenario() -> int:
        redis = Redis.from_url(url)
        settings = Settings(
            redis_url=url,
            smtp_port=smtp.port,
            alerts_routes=[AlertRoute(emails=["cntt@sokhcn.gov.vn"])],
            alerts_digest_emails=[],
        )
        engine = AlertEngine(settings, redis)
        changed = await engine.on_alertmanager(
            {
                "alerts": [
                    posted("BankCoreDown", "Lõi ngân hàng ngừng hoạt động"),  # not ours
                    posted("EgovDeadLetters", "Có bản ghi vào hàng đợi lỗi"),
                ]
            }
        )
        await engine.deliver()
        stored = [a.period for a in await AlertStore(redis).all()]
        await engine.senders.close()
        await redis.aclose()
        assert stored == ["EgovDeadLetters:egovdeadletters"]
        return changed

    assert asyncio.run(scenario()) == 1
    subjects = [str(m["Subject"]) for m in smtp.messages]
    assert subjects == [
        "[Cảnh báo] Hệ thống egov-monitor (calculator): Có bản ghi vào hàng đợi lỗi"
    ], subjects
    assert not any("ngân hàng" in s for s in subjects)
    assert FOREIGN._value.get() == foreign_before + 1


def test_extra_rules_files_extend_the_accepted_names(tmp_path: Any) -> None:
    extra = tmp_path / "extra.rules.yml"
    extra.write_text("groups:\n  - name: x\n    rules:\n      - alert: EgovRoutingCheck\n")
    names = alert_names([PROJECT_RULES, extra])
    assert "EgovRoutingCheck" in names and "EgovServiceDown" in names
    assert "EgovRoutingCheck" not in alert_names()
