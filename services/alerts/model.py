"""Alerts (``shared.domain.alerts``: the API reads them too) and the notifications they cause,
as the alerts service queues them in its outbox."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from shared.domain.alerts import Alert, AlertState, alert_key

__all__ = ["Alert", "AlertState", "Channel", "Notification", "alert_key"]


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
