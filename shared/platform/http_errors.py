"""The one JSON error body of every HTTP service (ingest, API): a machine code, the field or
parameter at fault, English and Vietnamese messages, and — for a batch of events — one
entry per rejected event naming its index and field."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.contract.validation import FieldError


class ErrorBody(BaseModel):
    error: str = Field(description="machine code, e.g. validation_failed, invalid_parameter")
    field: str | None = Field(None, description="the field or parameter at fault")
    message: str
    message_vi: str
    errors: list[FieldError] = Field(
        default_factory=list, description="per event: index, field, reason (ingest batches)"
    )


# Vietnamese messages of the codes both services answer with
MESSAGES_VI = {
    "unauthorized": "Thiếu hoặc sai mã truy cập (token)",
    "forbidden": "Mã truy cập không có quyền cho yêu cầu này",
    "rate_limited": "Vượt quá số yêu cầu cho phép, hãy thử lại sau",
    "body_too_large": "Nội dung yêu cầu quá lớn",
    "invalid_body": "Nội dung yêu cầu không đọc được (JSON hoặc NDJSON)",
    "too_many_events": "Quá nhiều sự kiện trong một yêu cầu",
    "validation_failed": "Có sự kiện không hợp lệ; không sự kiện nào được nhận",
    "unavailable": "Hệ thống tạm thời không sẵn sàng, hãy thử lại sau",
    "not_found": "Không tìm thấy",
}


def error_body(
    error: str, message: str, errors: list[FieldError] | None = None, field: str | None = None
) -> ErrorBody:
    """The body for ``error``, its Vietnamese message from the table (or the English one),
    the field at fault defaulting to the first rejected event's."""
    errors = errors or []
    return ErrorBody(
        error=error,
        field=field if field is not None else (errors[0].field if errors else None),
        message=message,
        message_vi=MESSAGES_VI.get(error, message),
        errors=errors,
    )
