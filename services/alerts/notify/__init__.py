"""Notifiers, one module per channel (``email``, ``webhook``, ``alertmanager``); each failure
is a :class:`DeliveryError` that says whether to retry (``result``)."""

from __future__ import annotations

import httpx

from services.alerts.exceptions import DeliveryError
from services.alerts.model import Channel, Notification
from services.alerts.notify.alertmanager import post_alerts, send_alertmanager
from services.alerts.notify.email import send_email
from services.alerts.notify.webhook import send_webhook
from shared.platform.config import AlertsSettings

__all__ = ["DeliveryError", "Senders"]


class Senders:
    """Delivers one notification on its channel (one HTTP client for the webhooks)."""

    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout_s)

    async def send(self, note: Notification) -> None:
        match note.channel:
            case Channel.email:
                await send_email(note, self.settings)
            case Channel.webhook:
                await send_webhook(self.http, note, self.settings)
            case Channel.alertmanager:
                await send_alertmanager(self.http, note)

    async def post_alertmanager(self, base_url: str, alerts: list[dict[str, object]]) -> None:
        await post_alerts(self.http, base_url, alerts)

    async def close(self) -> None:
        await self.http.aclose()
