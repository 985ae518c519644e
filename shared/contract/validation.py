"""Turn raw JSON values into contract events, or into rejections that name the field."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from pydantic import BaseModel, ValidationError

from shared.contract.events import EVENT_MODELS, Event
from shared.domain.catalog import Agency, AgencyCatalog

# What validation checks ``agency_code`` against: the catalog (existence and validity on
# the local date of ``occurred_at``, §4a.6), or a plain collection of codes (existence only).
Agencies = AgencyCatalog | Mapping[str, Agency] | Collection[str]


class FieldError(BaseModel):
    """One reason an event was rejected; ``index`` is its position in the request."""

    index: int | None = None
    field: str
    reason: str
    code: str = "invalid"


def _field_name(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "event"


def validate_event(
    raw: object,
    *,
    agencies: Agencies,
    now: datetime | None = None,
    index: int | None = None,
) -> Event | list[FieldError]:
    """Validate one decoded JSON value against the contract and the agency catalog (with an
    ``AgencyCatalog``, the agency must be valid on the event's ``occurred_at`` local date)."""
    if not isinstance(raw, dict):
        return [FieldError(index=index, field="event", reason="must be a JSON object", code="type")]
    event_type = raw.get("event_type")
    if event_type is None:
        return [
            FieldError(index=index, field="event_type", reason="Field required", code="missing")
        ]
    model = EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        allowed = ", ".join(EVENT_MODELS)
        return [
            FieldError(
                index=index,
                field="event_type",
                reason=f"{event_type!r} is not one of: {allowed}",
                code="enum",
            )
        ]
    try:
        event = model.model_validate(raw, context={"agencies": agencies, "now": now})
    except ValidationError as exc:
        return [
            FieldError(
                index=index,
                field=_field_name(err["loc"]),
                reason=err["msg"].removeprefix("Value error, "),
                code=err["type"],
            )
            for err in exc.errors(include_url=False)
        ]
    return event  # type: ignore[return-value]
