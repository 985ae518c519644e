"""Pipeline alerts end to end, as the local stack wires them: Prometheus evaluates an
alerting rule and sends it to Alertmanager (Debian), whose route hands it to the alerts
service's webhook, which mails it in Vietnamese; the alerts service's own alerts are posted
to Alertmanager too but stop there (no second email)."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from devstack.alertmanager import AlertmanagerServer
from devstack.ports import free_port
from devstack.prometheus import PrometheusServer
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ, now_utc
from shared.domain.catalog import load_agencies
from shared.platform.config import DEV_ADMIN_TOKEN, DEV_READ_TOKEN
from shared.store.indicator_store import IndicatorStore
from tests.factories import received
from tests.receivers import SmtpServer

RULES = """
groups:
  - name: routing-test
    rules:
      - alert: EgovRoutingCheck
        expr: vector(1)
        labels:
          severity: critical
        annotations:
          summary: "Kiểm tra định tuyến cảnh báo hệ thống"
          description: "Prometheus → Alertmanager → alerts service."
"""


def wait(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return bool(predicate())


async def seed_overdue(url: str) -> None:
    from redis.asyncio import Redis

    now = now_utc().astimezone(LOCAL_TZ)
    raw = received(
        agency="H01.10",  # Sở Y tế
        dossier=f"qh-{uuid.uuid4().hex[:6]}",
        at=(now - timedelta(hours=3)).isoformat(),
        due_at=(now - timedelta(hours=1)).isoformat(),
    )
    event = validate_event(raw, agencies=load_agencies())
    assert not isinstance(event, list)
    client = Redis.from_url(url)
    await IndicatorStore(client).apply_many([event])
    await client.aclose()


def subjects_of(smtp: SmtpServer) -> list[str]:
    return [str(m["Subject"]) for m in smtp.messages]


def test_prometheus_alert_reaches_email_through_alertmanager_and_the_alerts_service(
    isolated: dict[str, Any], service_factory: Any, tmp_path: Path
) -> None:
    smtp = SmtpServer()
    smtp.start()
    asyncio.run(seed_overdue(isolated["redis_url"]))
    am_port = free_port()
    rules = tmp_path / "routing.rules.yml"
    rules.write_text(RULES)
    project_rules = Path(__file__).resolve().parents[2] / "prometheus" / "rules"
    alerts = service_factory(
        "alerts",
        {
            **isolated["env"],
            "EGOV_SMTP_PORT": str(smtp.port),
            "EGOV_ALERTS_DIGEST_EMAILS": "[]",
            "EGOV_ALERTS_ROUTES": orjson.dumps(
                [{"rules": ["system", "overdue"], "emails": ["cntt@sokhcn.gov.vn"]}]
            ).decode(),
            "EGOV_ALERTS_CHECK_INTERVAL_S": "1",
            "EGOV_ALERTS_OUTBOX_INTERVAL_S": "0.5",
            "EGOV_ALERTMANAGER_URL": f"http://127.0.0.1:{am_port}",
            # the project's alert names, and this test's rule
            "EGOV_ALERTS_PROMETHEUS_RULES": orjson.dumps([str(project_rules), str(rules)]).decode(),
        },
    )
    hook = f"{alerts.url}/v1/alertmanager/webhook"
    # the webhook takes a token with the operate scope
    assert httpx.post(hook, json={"alerts": []}, timeout=10).status_code == 401
    read = {"Authorization": f"Bearer {DEV_READ_TOKEN}"}
    assert httpx.post(hook, json={"alerts": []}, headers=read, timeout=10).status_code == 403
    # an alert name of no rules file of the project's is ignored (never mailed)
    admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
    foreign = {"status": "firing", "labels": {"alertname": "SomeoneElsesAlert"}}
    answer = httpx.post(hook, json={"alerts": [foreign]}, headers=admin, timeout=10)
    assert answer.status_code == 200 and answer.json() == {"changed": 0}
    alertmanager = AlertmanagerServer(
        tmp_path / "alertmanager", am_port, hook, DEV_ADMIN_TOKEN, log_dir=tmp_path
    )
    prometheus = PrometheusServer(
        tmp_path / "prometheus",
        free_port(),
        {"alerts": [f"127.0.0.1:{alerts.port}"]},
        [rules],
        alertmanagers=[f"127.0.0.1:{am_port}"],
        alert_resend_delay="2s",
    )
    try:
        alertmanager.start()
        prometheus.start()
        system = (
            "[Cảnh báo] Hệ thống egov-monitor (pipeline): Kiểm tra định tuyến cảnh báo hệ thống"
        )
        started = time.monotonic()
        assert wait(lambda: system in subjects_of(smtp), 90), subjects_of(smtp)
        mailed_after = time.monotonic() - started
        in_am = httpx.get(f"{alertmanager.url}/api/v2/alerts", timeout=10).json()
        names = sorted(a["labels"]["alertname"] for a in in_am)
        time.sleep(3)  # Alertmanager would have mailed the egov alert by now if it routed it
    finally:
        prometheus.stop()
        alertmanager.stop()
        smtp.stop()
    # both in Alertmanager: Prometheus' rule and the alerts service's own (re-posted)
    assert names == ["EgovRoutingCheck", "overdue"], names
    # one email each: the overdue alert straight from the alerts service, the Prometheus
    # alert through Alertmanager; the overdue alert is not mailed a second time
    assert sorted(subjects_of(smtp)) == sorted([system, "[Cảnh báo] Sở Y tế: 1 hồ sơ quá hạn"])
    assert mailed_after < 60  # evaluation, Alertmanager's group_wait (10 s), the webhook
