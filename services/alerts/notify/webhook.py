"""Signed webhooks. Every resend carries the same ``Idempotency-Key``; the body is signed over
``<X-Egov-Timestamp>.<body>`` (HMAC-SHA256), so a captured request cannot be replayed later:
receivers check the signature and refuse a timestamp older than 5 minutes
(``services/alerts/verify_webhook.py``)."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import orjson

from services.alerts.exceptions import DeliveryError
from services.alerts.model import Notification
from services.alerts.notify.result import http_status_error
from shared.platform.config import AlertsSettings


def signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """``sha256=<hex HMAC>`` of ``<timestamp>.<body>`` (of the body alone without one)."""
    signed = body if timestamp is None else timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_headers(note: Notification, body: bytes, settings: AlertsSettings) -> dict[str, str]:
    secret = settings.webhook_secret
    stamp = str(int(time.time()))  # when signed: a resend is signed afresh
    return {
        "Content-Type": "application/json",
        "Idempotency-Key": note.id,
        "X-Egov-Notification-Id": note.id,
        "X-Egov-Timestamp": stamp,
        "X-Egov-Signature": signature(secret.get_secret_value() if secret else "", body, stamp),
    }


def checked_url(receiver: str, url: str) -> str:
    """``url`` if it can be sent to (http or https, a host, a port in range); else the
    final DeliveryError of an invalid configuration."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise DeliveryError(f"{receiver}: invalid URL", retry=False) from exc
    port_ok = parsed.port is None or 0 < parsed.port < 65536
    if parsed.scheme not in ("http", "https") or not parsed.host or not port_ok:
        raise DeliveryError(f"{receiver}: invalid URL", retry=False)
    return url


async def post_json(
    http: httpx.AsyncClient,
    receiver: str,
    url: str,
    body: bytes,
    headers: dict[str, str] | None = None,
) -> None:
    """POST ``body``; DeliveryError says whether to retry: 5xx and network failures yes;
    4xx, 3xx and an invalid URL (no scheme, not http(s), malformed) no."""
    try:
        resp = await http.post(
            checked_url(receiver, url),
            content=body,
            headers=headers or {"Content-Type": "application/json"},
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise DeliveryError(f"{receiver}: invalid URL", retry=False) from exc
    except (httpx.HTTPError, OSError) as exc:
        raise DeliveryError(f"{receiver}: {type(exc).__name__}", retry=True) from exc
    if resp.status_code >= 300:
        raise http_status_error(receiver, resp.status_code)


async def send_webhook(
    http: httpx.AsyncClient, note: Notification, settings: AlertsSettings
) -> None:
    body = orjson.dumps(note.payload)
    await post_json(
        http, "webhook", note.target, body, headers=webhook_headers(note, body, settings)
    )
