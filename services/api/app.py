"""Query API (domain README §7): reads Redis and the catalogs, never raw events."""

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from kafka import KafkaAdminClient
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel
from redis.exceptions import RedisClusterException, RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api import gc_pauses
from services.api.compression import GzipCached
from services.api.context import ApiContext
from services.api.errors import ApiError, ApiException, from_http_exception
from services.api.response_cache import FreshRequests
from services.api.routes import (
    alerts,
    board,
    catalog,
    index766,
    indicators,
    pdf,
    portal766,
    procedures,
    public,
    public766,
    reconciliation,
    reports,
)
from services.api.templating import STATIC
from shared.platform.auth import trust_proxies
from shared.platform.config import ApiSettings, load
from shared.platform.http_main import VersionHeader, serve
from shared.platform.logs import get_logger
from shared.platform.off_loop import SWITCH_INTERVAL_S
from shared.platform.safety import refuse_unsafe_production
from shared.platform.version import VERSION
from shared.store.exceptions import CatalogLogError

log = get_logger("api")

REQUESTS = Counter(
    "egov_api_requests_total", "API requests by route and status", ["route", "status"]
)
LATENCY = Histogram(
    "egov_api_request_seconds",
    "API request latency by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class Readiness(BaseModel):
    redis: bool
    kafka: bool


def kafka_reachable(bootstrap: str) -> bool:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=2000,
            bootstrap_timeout_ms=2000,
            client_id="egov-api-readyz",
        )
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()


def body_too_large(limit: int) -> ApiException:
    return ApiException(
        413,
        "body_too_large",
        "body",
        f"request body exceeds {limit} bytes",
        f"Nội dung yêu cầu vượt quá {limit} byte",
    )


class LimitsAndMetrics:
    """Pure ASGI middleware: body-size limit and per-route request metrics. (Starlette's
    ``@app.middleware("http")`` wraps every request in extra tasks and streams; at hundreds
    of requests per second that overhead showed in the latency benchmark.)

    The body limit counts bytes as they arrive — a chunked upload has no Content-Length —
    and stops reading at the limit: whoever reads the body (a route, FastAPI's body
    parameters) gets a 413 ``body_too_large`` instead of the rest. A declared length above
    the limit is refused before anything is read."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    def limit(self, path: str) -> int:
        if path == "/board/login":
            return board.MAX_LOGIN_BODY
        if path.startswith("/v1/catalog/"):
            return catalog.MAX_CATALOG_BYTES
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(limit, scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]
        size = 0

        async def receive_counted() -> Message:
            nonlocal size
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > limit:
                    raise body_too_large(limit)
            return message

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive_counted, send_and_note)
        except ApiException as exc:
            # read outside a route's error handling (none today): answer it here
            if exc.status_code != 413 or status[0] != 500:
                raise
            status[0] = 413
            await self._refuse(limit, scope, receive, send)
        finally:
            name = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(name, str(status[0])).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)

    @staticmethod
    async def _refuse(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
        body = body_too_large(limit).body
        await JSONResponse(body.model_dump(), status_code=413)(scope, receive, send)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    settings = settings or load(ApiSettings)
    ctx = ApiContext.create(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # cold pages are computed in worker threads (shared.platform.off_loop): hand the GIL back
        # to the event loop within 1 ms, not Python's default 5 ms
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        gc_pauses.install()
        yield
        await ctx.redis.aclose()

    app = FastAPI(
        title="egov-monitor API",
        description=(
            "Chỉ số chính quyền điện tử theo cơ quan và kỳ — e-government indicators per "
            "agency, scope and period, kept up to date from the event stream. "
            "Authorization: `Bearer <token>` (read; operate for ack/silence; admin)."
        ),
        version=VERSION,
        lifespan=lifespan,
    )
    app.state.ctx = ctx

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT"],
            allow_headers=["Authorization", "Content-Type"],
        )

    app.add_middleware(FreshRequests)
    app.add_middleware(GzipCached)
    app.add_middleware(LimitsAndMetrics, max_body=settings.api_max_body_bytes)
    # outermost: the 413s of the body limit and CORS' answers carry it too
    app.add_middleware(VersionHeader)
    trust_proxies(app, settings.trusted_proxies)  # last added: runs first

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        body = from_http_exception(exc)
        return JSONResponse(body.model_dump(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(CatalogLogError)
    async def _catalog_log_down(_: Request, exc: CatalogLogError) -> JSONResponse:
        body = ApiError(
            error="catalog_log_unavailable",
            field=None,
            message=str(exc),
            message_vi="Không ghi được danh mục vào nhật ký sự kiện: danh mục chưa thay đổi",
        )
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "5"})

    async def _redis_down(_: Request, exc: Exception) -> JSONResponse:
        """Redis unreachable, or a cluster mid-failover (its replica takes over in a few
        seconds): the figures are not lost, they are briefly unreadable."""
        log.warning("redis_unavailable", error=type(exc).__name__)
        body = ApiError(
            error="redis_unavailable",
            field=None,
            message="the figures store (Redis) is not answering; retry shortly",
            message_vi="Kho số liệu (Redis) tạm thời không phản hồi; vui lòng thử lại sau",
        )
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "2"})

    for redis_error in (RedisError, RedisClusterException):
        app.add_exception_handler(redis_error, _redis_down)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        err = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = str(err["loc"][-1]) if err["loc"] else None
        body = ApiError(
            error="invalid_parameter",
            field=field,
            message=f"{field}: {err['msg']}",
            message_vi=f"Tham số '{field}' không hợp lệ",
        )
        return JSONResponse(body.model_dump(), status_code=400)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": VERSION}

    @app.get("/readyz", response_model=Readiness, include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            redis_ok = bool(await ctx.redis.ping())
        except Exception:
            redis_ok = False
        kafka_ok = await asyncio.to_thread(kafka_reachable, settings.kafka_bootstrap)
        body = Readiness(redis=redis_ok, kafka=kafka_ok)
        return JSONResponse(body.model_dump(), status_code=200 if redis_ok and kafka_ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # pages people read (no /v1): the public results; static CSS/JS of the pages
    app.include_router(public.router)
    app.include_router(public766.router)
    app.include_router(board.router)
    app.include_router(portal766.page_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(indicators.router)
    app.include_router(index766.router)
    app.include_router(portal766.router)
    app.include_router(procedures.router)
    app.include_router(pdf.router)  # before reports: /reports/annual.{fmt}
    app.include_router(reports.router)
    app.include_router(catalog.router)
    app.include_router(alerts.router)
    app.include_router(reconciliation.router)
    return app


def main() -> None:
    settings = load(ApiSettings)
    refuse_unsafe_production(settings, "api")
    serve(create_app(settings), settings, "api", settings.api_host, settings.api_port)
