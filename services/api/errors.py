"""The API's HTTP errors, in the one error body of every service
(``shared/platform/http_errors.py``): a machine code, the parameter at fault, Vietnamese and
English messages."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from shared.platform.http_errors import ErrorBody

ApiError = ErrorBody


class ApiException(HTTPException):
    """An HTTP error whose JSON body names the parameter at fault."""

    def __init__(
        self,
        status_code: int,
        error: str,
        field: str | None,
        message: str,
        message_vi: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail=message, headers=headers)
        self.body = ApiError(error=error, field=field, message=message, message_vi=message_vi)


def bad_parameter(field: str, message: str) -> ApiException:
    return ApiException(
        400, "invalid_parameter", field, message, f"Tham số '{field}' không hợp lệ: {message}"
    )


def from_http_exception(exc: HTTPException) -> ApiError:
    if isinstance(exc, ApiException):
        return exc.body
    detail: Any = exc.detail
    if exc.status_code == 401:
        return ApiError(
            error="unauthorized",
            field="Authorization",
            message="missing bearer token",
            message_vi="Thiếu mã truy cập (token)",
        )
    if exc.status_code == 403:
        reason = detail.get("reason") if isinstance(detail, dict) else None
        return ApiError(
            error="forbidden",
            field="Authorization",
            message=reason or "token not valid for this service",
            message_vi="Mã truy cập không có quyền cho yêu cầu này",
        )
    if exc.status_code == 429:
        return ApiError(
            error="rate_limited",
            field="Authorization",
            message="rate limit exceeded for this token",
            message_vi="Vượt quá số yêu cầu cho phép, hãy thử lại sau",
        )
    if exc.status_code == 404:
        return ApiError(error="not_found", message="not found", message_vi="Không tìm thấy")
    return ApiError(error="error", message=str(detail), message_vi=str(detail))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError, "description": "Invalid parameter"},
    401: {"model": ApiError, "description": "Missing bearer token"},
    403: {"model": ApiError, "description": "Token not allowed"},
    413: {"model": ApiError, "description": "Request body too large"},
    429: {"model": ApiError, "description": "Rate limit exceeded (see Retry-After)"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ApiError, "description": "Not found"}}
