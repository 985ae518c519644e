"""Alertmanager v2: the alerts service's own alerts, posted with ``origin=egov-alerts`` so
Alertmanager's routes stop them there (they were mailed already)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import httpx
import orjson

from services.alerts import messages
from services.alerts.exceptions import DeliveryError
from services.alerts.metrics import NOTIFICATIONS
from services.alerts.model import Alert, Channel, Notification
from services.alerts.notify.webhook import post_json
from shared.domain.alerts import Rule
from shared.platform.config import AlertsSettings
from shared.platform.logs import get_logger

log = get_logger("alerts.alertmanager")


class Poster(Protocol):
    async def post_alertmanager(self, base_url: str, alerts: list[dict[str, object]]) -> None: ...


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


async def repost(
    poster: Poster,
    url: str,
    firing: list[Alert],
    now: datetime,
    ttl: timedelta,
    settings: AlertsSettings,
) -> int:
    """Re-post every firing (not silenced) alert — but those that came from Alertmanager —
    with ``endsAt`` ``ttl`` ahead (four evaluations, as Prometheus does with its own), on
    each evaluation, so Alertmanager never lets a firing alert expire (and does let it
    expire if this service stops posting). Returns how many were posted."""
    alerts = [
        alertmanager_alert(a, now + ttl, settings.dashboard_url)
        for a in firing
        if not a.silenced(now) and a.rule is not Rule.system
    ]
    if not alerts:
        return 0
    try:
        await poster.post_alertmanager(url, alerts)
    except DeliveryError as exc:
        NOTIFICATIONS.labels(Channel.alertmanager.value, "retried").inc()
        log.warning("alertmanager_repost_failed", error=exc.reason, alerts=len(alerts))
        return 0
    NOTIFICATIONS.labels(Channel.alertmanager.value, "sent").inc()
    return len(alerts)
