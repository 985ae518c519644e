"""From a Kafka record to a contract event or a dead-letter entry with the reason."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Literal, overload

import orjson
from pydantic import BaseModel

from shared.contract.events import Event
from shared.contract.fastevents import AnyEvent, FastValidator
from shared.contract.validation import Agencies, FieldError, validate_event


class DeadLetter(BaseModel):
    """What the dead-letter topic holds: where the record came from and why it failed."""

    reason: str
    errors: list[FieldError]
    topic: str
    partition: int
    offset: int
    key: str | None
    value_b64: str
    failed_at: datetime
    # An oversized record is kept by reference: its first bytes, its size and digest; the
    # record itself stays in the event log (topic, partition, offset; infinite retention).
    truncated: bool = False
    value_size: int = 0
    value_sha256: str = ""


@overload
def decode_record(
    value: bytes | None,
    *,
    agencies: Agencies,
    now: datetime,
    fast: FastValidator | None = None,
    structs: Literal[False] = False,
) -> Event | tuple[str, list[FieldError]]: ...


@overload
def decode_record(
    value: bytes | None,
    *,
    agencies: Agencies,
    now: datetime,
    fast: FastValidator | None = None,
    structs: Literal[True],
) -> AnyEvent | tuple[str, list[FieldError]]: ...


def decode_record(
    value: bytes | None,
    *,
    agencies: Agencies,
    now: datetime,
    fast: FastValidator | None = None,
    structs: bool = False,
) -> AnyEvent | tuple[str, list[FieldError]]:
    """Decode and validate one record; pass the ``AgencyCatalog`` so an event dated after
    its agency's ``valid_to`` is dead-lettered like the ingest rejects it (§4a.6).

    ``fast`` (built with the same ``agencies`` and ``now``) tries the msgspec path first;
    what it does not accept goes through pydantic, which names the reasons. ``structs``:
    what the fast path accepts stays msgspec's struct (the apply path reads it like the
    model; no pydantic event is built)."""
    if value is None:
        return "empty", [FieldError(field="value", reason="record has no value", code="empty")]
    if fast is not None:
        event = fast.decode_struct(value) if structs else fast.decode(value)
        if event is not None:
            return event
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return "invalid_json", [
            FieldError(field="value", reason=f"invalid JSON: {exc}", code="json")
        ]
    result = validate_event(raw, agencies=agencies, now=now)
    if isinstance(result, list):
        return "invalid_event", result
    return result


def dead_letter(
    reason: str,
    errors: list[FieldError],
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    now: datetime,
    max_value_bytes: int | None = None,
) -> DeadLetter:
    """The dead-letter entry; with ``max_value_bytes`` a larger value is truncated to it."""
    raw = value or b""
    kept = raw if max_value_bytes is None else raw[:max_value_bytes]
    return DeadLetter(
        reason=reason,
        errors=errors,
        topic=topic,
        partition=partition,
        offset=offset,
        key=key.decode("utf-8", "replace") if key is not None else None,
        value_b64=base64.b64encode(kept).decode(),
        failed_at=now,
        truncated=len(kept) < len(raw),
        value_size=len(raw),
        value_sha256=hashlib.sha256(raw).hexdigest(),
    )
