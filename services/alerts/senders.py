"""Delivery of one notification: email over SMTP, signed webhook, Alertmanager v2.

Every resend of a notification carries the same ids (email ``Message-ID``, webhook
``Idempotency-Key``), derived from the alert and its transition when it was queued. A webhook
is signed over ``<X-Egov-Timestamp>.<body>`` (HMAC-SHA256), so a captured request cannot be
replayed later: receivers check the signature and refuse a timestamp older than 5 minutes
(``services/alerts/verify_webhook.py``)."""

from __future__ import annotations

import hashlib
import hmac
import time
from email.header import Header
from email.mime.text import MIMEText
from email.utils import parseaddr

import aiosmtplib
import httpx
import orjson

from services.alerts.exceptions import DeliveryError
from services.alerts.model import Channel, Notification
from shared.platform.config import AlertsSettings


def email_message(note: Notification, settings: AlertsSettings) -> MIMEText:
    """UTF-8 text email. The subject is encoded with ``Header`` (base64 encoded-words that
    carry their spaces): the default folding can drop the space between two encoded words,
    which garbles long Vietnamese subjects ("Truyềnthông")."""
    msg = MIMEText(note.body, "plain", "utf-8")
    msg["Subject"] = Header(note.subject, "utf-8")  # type: ignore[assignment]  # typeshed: str
    msg["From"] = settings.smtp_from
    msg["To"] = note.target
    msg["Message-ID"] = message_id(note.id, settings.smtp_from)
    msg["X-Egov-Notification-Id"] = note.id
    return msg


def message_id(note_id: str, sender: str) -> str:
    """The same for every resend of a notification: its id at the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "egov-monitor.local"
    return f"<{note_id}@{domain}>"


def signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """``sha256=<hex HMAC>`` of ``<timestamp>.<body>`` (of the body alone without one)."""
    signed = body if timestamp is None else timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class Senders:
    def __init__(self, settings: AlertsSettings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout_s)

    async def send(self, note: Notification) -> None:
        try:
            match note.channel:
                case Channel.email:
                    await self._email(note)
                case Channel.webhook:
                    await self._webhook(note)
                case Channel.alertmanager:
                    await self._alertmanager(note)
        except (aiosmtplib.SMTPException, httpx.HTTPError, OSError) as exc:
            raise DeliveryError(type(exc).__name__) from exc

    async def _email(self, note: Notification) -> None:
        s = self.settings
        await aiosmtplib.send(
            email_message(note, s),
            hostname=s.smtp_host,
            port=s.smtp_port,
            start_tls=s.smtp_starttls,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            timeout=s.smtp_timeout_s,
        )

    def webhook_headers(self, note: Notification, body: bytes) -> dict[str, str]:
        secret = self.settings.webhook_secret
        stamp = str(int(time.time()))  # when signed: a resend is signed afresh
        return {
            "Content-Type": "application/json",
            "Idempotency-Key": note.id,
            "X-Egov-Notification-Id": note.id,
            "X-Egov-Timestamp": stamp,
            "X-Egov-Signature": signature(secret.get_secret_value() if secret else "", body, stamp),
        }

    async def _webhook(self, note: Notification) -> None:
        body = orjson.dumps(note.payload)
        resp = await self.http.post(
            note.target, content=body, headers=self.webhook_headers(note, body)
        )
        if resp.status_code >= 300:
            raise DeliveryError(f"webhook answered {resp.status_code}")

    async def _alertmanager(self, note: Notification) -> None:
        await self.post_alertmanager(note.target, [note.payload])

    async def post_alertmanager(self, base_url: str, alerts: list[dict[str, object]]) -> None:
        """``POST /api/v2/alerts`` (DeliveryError on failure)."""
        try:
            resp = await self.http.post(
                f"{base_url.rstrip('/')}/api/v2/alerts",
                content=orjson.dumps(alerts),
                headers={"Content-Type": "application/json"},
            )
        except (httpx.HTTPError, OSError) as exc:
            raise DeliveryError(type(exc).__name__) from exc
        if resp.status_code >= 300:
            raise DeliveryError(f"alertmanager answered {resp.status_code}")

    async def close(self) -> None:
        await self.http.aclose()
