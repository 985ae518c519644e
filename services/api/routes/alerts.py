"""Alert routes: list and filter, history (read); acknowledge, silence a key until a time
(operate scope: a read token gets 403)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel

from services.alerts.model import Alert, AlertState
from services.alerts.rules import Rule, Severity
from services.alerts.store import AlertStore
from services.api.context import Ctx, Operator, Reader
from services.api.errors import ERROR_RESPONSES, NOT_FOUND, ApiException
from shared.domain.calendar import now_utc

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], responses=ERROR_RESPONSES)


class Silence(BaseModel):
    until: AwareDatetime


def _not_found(key: str) -> ApiException:
    return ApiException(404, "not_found", "key", f"no alert {key!r}", f"Không có cảnh báo {key!r}")


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
    alerts = await AlertStore(ctx.redis).all()
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
    return await AlertStore(ctx.redis).history(key, count)


@router.post(
    "/{key}/ack",
    response_model=Alert,
    responses=NOT_FOUND,
    summary="Xác nhận đã biết — acknowledge",
)
async def acknowledge(ctx: Ctx, who: Operator, key: str) -> Alert:
    store = AlertStore(ctx.redis)
    alert = await store.get(key)
    if alert is None:
        raise _not_found(key)
    alert = alert.model_copy(update={"acknowledged_by": who, "acknowledged_at": now_utc()})
    await store.save(alert)
    return alert


@router.post(
    "/{key}/silence",
    responses=NOT_FOUND,
    response_model=Alert,
    summary="Tạm tắt thông báo đến một thời điểm — silence a key until a time",
)
async def silence(ctx: Ctx, _: Operator, key: str, body: Silence) -> Alert:
    store = AlertStore(ctx.redis)
    alert = await store.get(key)
    if alert is None:
        raise _not_found(key)
    until: datetime = body.until
    alert = alert.model_copy(update={"silenced_until": until})
    await store.save(alert)
    return alert
