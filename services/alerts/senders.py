"""Delivery of one notification: email over SMTP, signed webhook, Alertmanager v2."""

from __future__ import annotations

import hashlib
import hmac
from email.header import Header
from email.mime.text import MIMEText
from email.utils import make_msgid

import aiosmtplib
import httpx
import orjson

from services.alerts.model import Channel, Notification
from shared.config import Settings


class DeliveryError(Exception):
    pass


def email_message(note: Notification, settings: Settings) -> MIMEText:
    """UTF-8 text email. The subject is encoded with ``Header`` (base64 encoded-words that
    carry their spaces): the default folding can drop the space between two encoded words,
    which garbles long Vietnamese subjects ("Truyềnthông")."""
    msg = MIMEText(note.body, "plain", "utf-8")
    msg["Subject"] = Header(note.subject, "utf-8")  # type: ignore[assignment]  # typeshed: str
    msg["From"] = settings.smtp_from
    msg["To"] = note.target
    msg["Message-ID"] = make_msgid(idstring=note.id, domain="egov-monitor.local")
    msg["X-Egov-Notification-Id"] = note.id
    return msg


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Senders:
    def __init__(self, settings: Settings) -> None:
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

    async def _webhook(self, note: Notification) -> None:
        body = orjson.dumps(note.payload)
        resp = await self.http.post(
            note.target,
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Egov-Signature": signature(
                    self.settings.webhook_secret.get_secret_value(), body
                ),
                "X-Egov-Notification-Id": note.id,
            },
        )
        if resp.status_code >= 300:
            raise DeliveryError(f"webhook answered {resp.status_code}")

    async def _alertmanager(self, note: Notification) -> None:
        resp = await self.http.post(
            f"{note.target.rstrip('/')}/api/v2/alerts",
            content=orjson.dumps([note.payload]),
            headers={"Content-Type": "application/json"},
        )
        if resp.status_code >= 300:
            raise DeliveryError(f"alertmanager answered {resp.status_code}")

    async def close(self) -> None:
        await self.http.aclose()
