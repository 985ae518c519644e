"""Who hears of an alert's change: the configured routes (by group, severity and rule) give
emails and webhooks, each receiver once; Alertmanager gets every alert but its own.

A notification's id is derived from the alert key and the transition (its state and the
time of the change), never from the send time: a resend after a crash carries the same email
Message-ID and webhook Idempotency-Key, so receivers can recognise it."""

from __future__ import annotations

import hashlib
from datetime import datetime

from services.alerts import messages
from services.alerts.model import Alert, AlertState, Channel, Notification
from services.alerts.notify.alertmanager import alertmanager_alert
from shared.domain.alerts import Rule
from shared.platform.config import AlertsSettings


def note_id(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:24]


def receivers(
    alert: Alert, group: str | None, settings: AlertsSettings
) -> list[tuple[Channel, str]]:
    """The routes' receivers of ``alert``, each once, in route order."""
    out: list[tuple[Channel, str]] = []
    for route in settings.alerts_routes:
        if route.groups and group not in route.groups:
            continue
        if route.severities and (alert.severity or "") not in route.severities:
            continue
        if route.rules and alert.rule.value not in route.rules:
            continue
        targets = [(Channel.email, e) for e in route.emails]
        targets += [(Channel.webhook, w) for w in route.webhooks]
        for target in targets:
            if target not in out:
                out.append(target)
    return out


def notifications(
    alert: Alert, group: str | None, now: datetime, settings: AlertsSettings
) -> list[Notification]:
    """The notifications of ``alert``'s change (rendered now, so a retry sends the same)."""
    kind = alert.state.value
    # the transition: this state, since this time (never the send time)
    changed_at = alert.first_seen if alert.state is AlertState.firing else alert.resolved_at
    stamp = (changed_at or now).isoformat()
    subject = messages.subject(alert)
    body = messages.body(alert, settings.dashboard_url)
    payload = {"kind": kind, "alert": alert.model_dump(mode="json")}
    notes: list[Notification] = []
    for channel, target in receivers(alert, group, settings):
        nid = note_id(alert.key, kind, stamp, channel.value, target)
        notes.append(
            Notification(
                id=nid,
                channel=channel,
                target=target,
                kind=kind,
                alert_key=alert.key,
                subject=subject,
                body=body,
                payload={**payload, "notification_id": nid},
                queued_at=now,
            )
        )
    if settings.alertmanager_url and alert.rule is not Rule.system:
        notes.append(
            Notification(
                id=note_id(alert.key, kind, stamp, "alertmanager"),
                channel=Channel.alertmanager,
                target=settings.alertmanager_url,
                kind=kind,
                alert_key=alert.key,
                subject=subject,
                payload=alertmanager_alert(alert, alert.resolved_at, settings.dashboard_url),
                queued_at=now,
            )
        )
    return notes
