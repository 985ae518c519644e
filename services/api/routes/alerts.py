"""Alert routes: list and filter, history (read); acknowledge, silence a key until a time
(operate scope: a read token gets 403). Acknowledge and silence are compare-and-set commands
of ``shared.store.alert_commands``: an alert that changed state meanwhile (or is not in the state
the caller names with ``state``) answers 409 and is left as it is."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from services.api.context import Ctx, Operator, Reader
from services.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiError, ApiException
from shared.domain.alerts import Alert, AlertState, Rule, Severity
from shared.domain.calendar import now_utc
from shared.store import alert_commands
from shared.store.exceptions import AlertConflict, AlertNotFound

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)

CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ApiError, "description": "The alert changed state meanwhile"}
}
ExpectedState = Annotated[
    AlertState | None,
    Query(description="Apply only while the alert is in this state (409 otherwise)"),
]


class Silence(BaseModel):
    until: AwareDatetime


def _not_found(key: str) -> ApiException:
    return ApiException(404, "not_found", "key", f"no alert {key!r}", f"Không có cảnh báo {key!r}")


def _conflict(key: str) -> ApiException:
    return ApiException(
        409,
        "conflict",
        "key",
        f"alert {key!r} changed state meanwhile; reload it",
        f"Cảnh báo {key!r} vừa thay đổi trạng thái; hãy tải lại",
    )


@router.get("", response_model=list[Alert], summary="Danh sách cảnh báo — list alerts")
async def list_alerts(
    ctx: Ctx,
    _: Reader,
    state: AlertState | None = None,
    rule: Rule | None = None,
    severity: Severity | None = None,
    scope: Annotated[str | None, Query(examples=["so-tttt"])] = None,
    indicator: str | None = None,
) -> list[Alert]:
    alerts = await alert_commands.all_alerts(ctx.redis)
    return [
        a
        for a in alerts
        if (state is None or a.state is state)
        and (rule is None or a.rule is rule)
        and (severity is None or a.severity is severity)
        and (scope is None or a.scope == scope)
        and (indicator is None or a.indicator == indicator)
    ]


@router.get("/history", response_model=list[Alert], summary="Lịch sử cảnh báo — alert history")
async def alert_history(
    ctx: Ctx, _: Reader, key: str | None = None, count: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Alert]:
    return await alert_commands.alert_history(ctx.redis, key, count)


@router.post(
    "/{key}/ack",
    response_model=Alert,
    responses={**NOT_FOUND, **CONFLICT},
    summary="Xác nhận đã biết — acknowledge",
)
async def acknowledge(ctx: Ctx, who: Operator, key: str, state: ExpectedState = None) -> Alert:
    try:
        return await alert_commands.acknowledge(ctx.redis, key, who, now_utc(), expect=state)
    except AlertNotFound:
        raise _not_found(key) from None
    except AlertConflict:
        raise _conflict(key) from None


@router.post(
    "/{key}/silence",
    responses={**NOT_FOUND, **CONFLICT},
    response_model=Alert,
    summary="Tạm tắt thông báo đến một thời điểm — silence a key until a time",
)
async def silence(
    ctx: Ctx, _: Operator, key: str, body: Silence, state: ExpectedState = None
) -> Alert:
    until: datetime = body.until
    try:
        return await alert_commands.silence(ctx.redis, key, until, expect=state)
    except AlertNotFound:
        raise _not_found(key) from None
    except AlertConflict:
        raise _conflict(key) from None
