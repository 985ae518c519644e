"""Alertmanager v2: the alerts service's own alerts, posted with ``origin=egov-alerts`` so
Alertmanager's routes stop them there (they were mailed already)."""

from __future__ import annotations

from datetime import datetime

import httpx
import orjson

from services.alerts import messages
from services.alerts.model import Alert, Notification
from services.alerts.notify.webhook import post_json


def alertmanager_alert(
    alert: Alert, ends_at: datetime | None, dashboard_url: str
) -> dict[str, object]:
    """Alertmanager v2 alert; ``origin`` tells its routes these came from egov-monitor."""
    am: dict[str, object] = {
        "labels": {
            "alertname": alert.rule.value,
            "scope": alert.scope,
            "indicator": alert.indicator or "",
            "period": alert.period,
            "severity": alert.severity or "",
            "origin": "egov-alerts",
        },
        "annotations": {
            "summary": messages.subject(alert),
            "description": messages.body(alert, dashboard_url),
        },
        "startsAt": alert.first_seen.isoformat(),
        "generatorURL": messages.dashboard_link(dashboard_url, alert),
    }
    if ends_at is not None:
        am["endsAt"] = ends_at.isoformat()
    return am


async def post_alerts(
    http: httpx.AsyncClient, base_url: str, alerts: list[dict[str, object]]
) -> None:
    """``POST /api/v2/alerts`` (DeliveryError on failure, saying whether to retry)."""
    url = f"{base_url.rstrip('/')}/api/v2/alerts"
    await post_json(http, "alertmanager", url, orjson.dumps(alerts))


async def send_alertmanager(http: httpx.AsyncClient, note: Notification) -> None:
    await post_alerts(http, note.target, [note.payload])
