"""Email over SMTP: UTF-8 text, the same ``Message-ID`` on every resend.

SMTP's own codes say what is final: a 5xx reply (mailbox unknown, authentication refused)
is permanent; a 4xx reply or a connection failure is retried."""

from __future__ import annotations

from email.header import Header
from email.mime.text import MIMEText
from email.utils import parseaddr

import aiosmtplib

from services.alerts.exceptions import DeliveryError
from services.alerts.model import Notification
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


async def send_email(note: Notification, settings: AlertsSettings) -> None:
    if "@" not in parseaddr(note.target)[1]:
        raise DeliveryError("invalid email address", retry=False)
    s = settings
    try:
        await aiosmtplib.send(
            email_message(note, s),
            hostname=s.smtp_host,
            port=s.smtp_port,
            start_tls=s.smtp_starttls,
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
            timeout=s.smtp_timeout_s,
        )
    except aiosmtplib.SMTPResponseException as exc:
        raise DeliveryError(f"smtp answered {exc.code}", retry=exc.code < 500) from exc
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(type(exc).__name__, retry=True) from exc
