"""Query API (domain README §7): indicators for a scope and period, read from Redis only."""


import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from kafka import KafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, SecretStr
from redis.asyncio import Redis

from services.api.errors import ApiError, bad_parameter, from_http_exception
from shared.auth import require_token
from shared.catalog import Agency, load_agencies
from shared.config import Settings, get_settings
from shared.indicator_query import IndicatorValue, indicator_value
from shared.indicators import Indicator, load_indicators
from shared.logs import configure_logging
from shared.periods import PeriodError, parse_period
from shared.scopes import ScopeError, parse_scope
from shared.store import IndicatorStore
from shared.targets import load_targets

REQUESTS = Counter("egov_api_requests_total", "API requests by route and status", ["route", "status"])

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ApiError}, 401: {"model": ApiError}, 403: {"model": ApiError},
}


class Readiness(BaseModel):
    redis: bool
    kafka: bool


def kafka_reachable(bootstrap: str) -> bool:
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000,
                                 bootstrap_timeout_ms=2000, client_id="egov-api-readyz")
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    catalog = load_agencies()
    indicators = load_indicators()
    targets = load_targets()
    redis = Redis.from_url(settings.redis_url)
    store = IndicatorStore(redis)
    readers: dict[str, SecretStr] = {"read": settings.read_token}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await redis.aclose()

    app = FastAPI(
        title="egov-monitor API",
        description=(
            "Chỉ số chính quyền điện tử theo cơ quan và kỳ — e-government indicators per "
            "agency, scope and period, kept up to date from the event stream."
        ),
        version="1",
        lifespan=lifespan,
    )

    def reader(request: Request) -> str:
        return require_token(request, readers)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        body = from_http_exception(exc)
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = str(err["loc"][-1]) if err["loc"] else None
        body = ApiError(error="invalid_parameter", field=field, message=str(err["msg"]),
                        message_vi=f"Tham số '{field}' không hợp lệ")
        return JSONResponse(body.model_dump(), status_code=400)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=Readiness, include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            redis_ok = bool(await redis.ping())
        except Exception:
            redis_ok = False
        kafka_ok = await asyncio.to_thread(kafka_reachable, settings.kafka_bootstrap)
        body = Readiness(redis=redis_ok, kafka=kafka_ok)
        return JSONResponse(body.model_dump(), status_code=200 if redis_ok and kafka_ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/agencies", response_model=list[Agency], responses=ERROR_RESPONSES,
             summary="Danh mục cơ quan — agency catalog")
    async def list_agencies(_: Annotated[str, Depends(reader)]) -> list[Agency]:
        return list(catalog.agencies.values())

    @app.get("/v1/indicators", response_model=list[Indicator], responses=ERROR_RESPONSES,
             summary="Danh mục chỉ số — indicator definitions")
    async def list_indicators(_: Annotated[str, Depends(reader)]) -> list[Indicator]:
        return list(indicators.values())

    @app.get(
        "/v1/indicators/{indicator}",
        response_model=IndicatorValue,
        responses=ERROR_RESPONSES,
        summary="Một chỉ số cho một phạm vi và kỳ — one indicator for a scope and period",
    )
    async def get_indicator(
        _: Annotated[str, Depends(reader)],
        indicator: Annotated[str, Path(examples=["full_online_rate"])],
        scope: Annotated[str, Query(
            description="Agency code, group:so_nganh, group:dia_phuong, level:tinh|huyen|xa "
                        "or province", examples=["province"])] = "province",
        period: Annotated[str, Query(
            description="YYYY, YYYY-Qn, YYYY-MM, YYYY-MM-DD, FROM..TO or rolling:Nd",
            examples=["2024"])] = "rolling:30d",
        target_set: Annotated[str | None, Query(examples=["cv-112-eval-2024"])] = None,
    ) -> IndicatorValue:
        REQUESTS.labels("indicator", "200").inc()
        definition = indicators.get(indicator)
        if definition is None:
            raise bad_parameter("indicator", f"unknown indicator {indicator!r}; allowed: "
                                + ", ".join(indicators))
        try:
            parsed_scope = parse_scope(scope, catalog)
        except ScopeError as exc:
            raise bad_parameter("scope", str(exc)) from None
        try:
            parsed_period = parse_period(period)
        except PeriodError as exc:
            raise bad_parameter("period", str(exc)) from None
        chosen_set = target_set or settings.default_target_set
        if chosen_set is not None and chosen_set not in targets.sets:
            raise bad_parameter("target_set", f"unknown target set {chosen_set!r}; allowed: "
                                + ", ".join(sorted(targets.sets)))
        return await indicator_value(store, targets, definition, parsed_scope,
                                     parsed_period, chosen_set)

    return app


def main() -> None:
    import uvicorn

    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_level="warning", access_log=False)
