"""Request bodies: a JSON array of events or NDJSON, read under a size limit."""

from __future__ import annotations

import orjson
from fastapi import Request

from services.ingest.exceptions import BodyTooLarge, InvalidBody
from shared.contract.fastevents import FastEvent, FastValidator, decode_array, decode_one
from shared.contract.validation import FieldError


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def is_ndjson(content_type: str, body: bytes) -> bool:
    ctype = content_type.split(";")[0].strip().lower()
    if ctype in ("application/x-ndjson", "application/ndjson", "application/jsonl"):
        return True
    return ctype != "application/json" and not body.lstrip().startswith(b"[")


def decode_events(body: bytes, ndjson: bool) -> list[object | FieldError]:
    """Decoded values in order; an undecodable NDJSON line becomes a FieldError."""
    if not body.strip():
        raise InvalidBody("request body is empty; send a JSON array of events or NDJSON")
    if not ndjson:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidBody(f"invalid JSON: {exc}") from None
        if isinstance(value, dict):
            return [value]
        if not isinstance(value, list):
            raise InvalidBody("must be a JSON array of event objects")
        return list(value)
    out: list[object | FieldError] = []
    lines = [line for line in body.split(b"\n") if line.strip()]
    for index, line in enumerate(lines):
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            out.append(
                FieldError(index=index, field="body", reason=f"invalid JSON: {exc}", code="json")
            )
    return out


def decode_valid(
    body: bytes, ndjson: bool, fast: FastValidator, limit: int
) -> list[FastEvent] | None:
    """The body's events in one pass (msgspec structs, no pydantic model built) when all of
    them are valid and there are at most ``limit``; None otherwise: the caller then decodes
    and validates with pydantic, which names every rejected field (and answers an invalid
    body, or too many events)."""
    structs: list[FastEvent] = []
    if ndjson:
        for line in body.split(b"\n"):
            if line.strip():
                struct = decode_one(line)
                if struct is None or not fast.ok(struct) or len(structs) == limit:
                    return None
                structs.append(struct)
        return structs or None
    decoded = decode_array(body)
    if not decoded or len(decoded) > limit:
        return None
    for struct in decoded:
        if not fast.ok(struct):
            return None
    return decoded
