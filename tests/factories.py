"""Builders of contract events for tests."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)


def received(
    agency: str = "so-tttt",
    dossier: str = "d1",
    at: str = "2024-03-01T10:00:00+07:00",
    level: str = "full_online",
    channel: str = "online",
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": event_id or f"ev-{next(_ids)}",
        "event_type": "received",
        "occurred_at": at,
        "agency_code": agency,
        "dossier_id": dossier,
        "procedure_code": "p-1",
        "service_level": level,
        "channel": channel,
        "due_at": "2030-01-01T00:00:00+07:00",
    }
    if channel == "online":
        event["submitted_by"] = "citizen"
    event.update(extra)
    return event
