"""Alerts and notifications as stored in Redis and published on ``egov.alerts.v1``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.alerts.rules import Rule, Severity


class AlertState(StrEnum):
    firing = "firing"
    resolved = "resolved"


class Alert(BaseModel):
    """One alert per key (rule, scope, indicator, period)."""

    key: str
    rule: Rule
    scope: str
    scope_name: str
    indicator: str | None = None
    indicator_name: str | None = None
    period: str
    target_set: str | None = None
    state: AlertState
    severity: Severity | None = None
    value: float | None = None
    target: float | None = None
    target_source: str | None = None
    projected: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    silenced_until: datetime | None = None

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and self.silenced_until > now


def alert_key(rule: Rule, scope: str, indicator: str | None, period: str) -> str:
    return f"{rule.value}|{scope}|{indicator or '-'}|{period}"


class Channel(StrEnum):
    email = "email"
    webhook = "webhook"
    alertmanager = "alertmanager"


class Notification(BaseModel):
    """One message to one receiver, rendered when queued so a retry sends the same bytes."""

    id: str
    channel: Channel
    target: str
    kind: str  # firing | resolved | digest
    alert_key: str | None = None
    subject: str = ""
    body: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    queued_at: datetime
