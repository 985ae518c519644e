"""What a notifier's failure means for the outbox: retry later, or give up now.

As Alertmanager's notifiers: a server error (5xx) or a network failure is retried with
backoff; a refusal of the request itself (4xx), an invalid URL or an invalid configuration
is final — resending the same bytes would be refused the same way."""

from __future__ import annotations

from services.alerts.exceptions import DeliveryError


def http_status_error(receiver: str, status: int) -> DeliveryError:
    """An HTTP answer ≥ 300: only 5xx are worth a retry."""
    return DeliveryError(f"{receiver} answered {status}", retry=status >= 500)
