"""Ingest HTTP API: ``POST /v1/events`` (domain README §7)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from services.ingest import metrics
from services.ingest.body import decode_events, decode_valid, is_ndjson, read_limited
from services.ingest.exceptions import BodyTooLarge, BrokerUnavailable, InvalidBody
from services.ingest.producer import EventProducer, Record
from shared.contract.events import Event
from shared.contract.fastevents import FastEvent, FastValidator, encode, with_source
from shared.contract.partitioning import key_of
from shared.contract.validation import FieldError, validate_event
from shared.domain.calendar import now_utc
from shared.platform.auth import FailureLimiter, RateLimiter, authorize, trust_proxies
from shared.platform.config import IngestSettings, load, token_book
from shared.platform.http_errors import ErrorBody, error_body
from shared.platform.http_main import VersionHeader, serve
from shared.platform.logs import get_logger
from shared.platform.safety import refuse_unsafe_production
from shared.platform.topic_check import check_at_start
from shared.platform.version import VERSION
from shared.store.catalogs import CatalogCache
from shared.store.client import redis_from_url
from shared.store.exceptions import CatalogUnavailable

log = get_logger("ingest")


class Accepted(BaseModel):
    accepted: int
    rejected: list[FieldError]
    by_topic: dict[str, int]


def _error(
    status_code: int,
    error: str,
    message: str,
    errors: list[FieldError],
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = error_body(error, message, errors)
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def _record(
    event: Event | FastEvent,
    settings: IngestSettings,
    headers: list[tuple[str, str | bytes | None]],
    source: str | None = None,
) -> Record:
    """The Kafka record of an accepted event (``source``: the token's default, where the
    event names none), from its pydantic model or, on the fast path, its msgspec struct."""
    if isinstance(event, FastEvent):
        value = encode(event, source)
    else:
        if source is not None and event.source is None:
            event = with_source(event, source)
        value = event.model_dump_json().encode()  # the bytes of orjson.dumps(model_dump(...))
    # the dossier topic carries dossiers, petitions and procedures; the document topic
    # the document-management system's events (shared.contract.events: topic_role)
    topic = settings.topics.document if event.topic_role == "document" else settings.topics.dossier
    return Record(
        topic=topic,
        key=key_of(event),  # the entity within its agency: spreads load, keeps correctness
        value=value,
        headers=headers,  # one list for the request's records (read, never changed)
    )


def create_app(
    settings: IngestSettings | None = None, catalogs: CatalogCache | None = None
) -> FastAPI:
    settings = settings or load(IngestSettings)
    redis = redis_from_url(settings.redis_url, socket_timeout=1, socket_connect_timeout=1)
    catalogs = catalogs or CatalogCache(redis)
    tokens = token_book(settings)
    limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    failures = FailureLimiter(settings.auth_failures_per_minute)
    producer = EventProducer(settings.kafka_bootstrap, settings.ingest_produce_timeout_s)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(producer.close)
        await redis.aclose()

    app = FastAPI(
        title="egov-monitor ingest",
        description="Nhận sự kiện hồ sơ TTHC và văn bản — receives dossier and document events.",
        version=VERSION,
        lifespan=lifespan,
    )
    app.add_middleware(VersionHeader)
    trust_proxies(app, settings.trusted_proxies)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        detail: Any = exc.detail
        errors = [FieldError(**detail)] if isinstance(detail, dict) else []
        code = {401: "unauthorized", 403: "forbidden", 429: "rate_limited"}.get(
            exc.status_code, "error"
        )
        message = errors[0].reason if errors else str(detail)
        return _error(exc.status_code, code, message, errors, headers=exc.headers)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "version": VERSION}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ok = await run_in_threadpool(producer.connected)
        return JSONResponse({"kafka": ok}, status_code=200 if ok else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/v1/events",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Accepted,
        responses={
            400: {"model": ErrorBody},
            401: {"model": ErrorBody},
            403: {"model": ErrorBody},
            413: {"model": ErrorBody},
            422: {"model": ErrorBody},
            503: {"model": ErrorBody},
        },
    )
    async def post_events(
        request: Request,
        partial: bool = Query(False, description="Accept the valid events, return the rest"),
    ) -> Any:
        token = authorize(request, tokens, "ingest", limiter, failures)
        source = token.default_source
        try:
            body = await read_limited(request, settings.ingest_max_body_bytes)
        except BodyTooLarge:
            metrics.REQUESTS.labels("too_large").inc()
            limit = settings.ingest_max_body_bytes
            err = FieldError(field="body", reason=f"exceeds {limit} bytes", code="too_large")
            return _error(413, "body_too_large", err.reason, [err])
        ndjson = is_ndjson(request.headers.get("content-type", ""), body)
        try:
            agencies = (await catalogs.current()).agencies  # valid at occurred_at
        except CatalogUnavailable as exc:
            # never judged against the packaged catalog: it lacks the agencies added since
            metrics.REQUESTS.labels("unavailable").inc()
            err = FieldError(field="redis", reason=str(exc), code="unavailable")
            return _error(
                503,
                "catalog_unavailable",
                "agency catalog unavailable (Redis not answering); retry later",
                [err],
                headers={"Retry-After": str(settings.ingest_retry_after_s)},
            )
        now = now_utc()
        # one pass (msgspec) when every event is valid; otherwise pydantic names the fields
        results: Sequence[Event | FastEvent | FieldError | list[FieldError]] | None = decode_valid(
            body, ndjson, FastValidator(agencies, now), settings.ingest_max_events
        )
        if results is None:
            try:
                decoded = decode_events(body, ndjson)
            except InvalidBody as exc:
                metrics.REQUESTS.labels("invalid_body").inc()
                err = FieldError(field="body", reason=exc.reason, code="json")
                return _error(400, "invalid_body", exc.reason, [err])
            if len(decoded) > settings.ingest_max_events:
                metrics.REQUESTS.labels("too_large").inc()
                err = FieldError(
                    field="body",
                    reason=f"{len(decoded)} events exceed {settings.ingest_max_events} per request",
                    code="too_many_events",
                )
                return _error(413, "too_many_events", err.reason, [err])
            results = [
                raw
                if isinstance(raw, FieldError)
                else validate_event(raw, agencies=agencies, now=now, index=index)
                for index, raw in enumerate(decoded)
            ]
        events: list[Event | FastEvent] = []
        errors: list[FieldError] = []
        for index, result in enumerate(results):
            if isinstance(result, FieldError):
                errors.append(result)
            elif isinstance(result, list):
                errors.extend(result)
            elif not token.allows_agency(result.agency_code):
                errors.append(
                    FieldError(
                        index=index,
                        field="agency_code",
                        code="forbidden_agency",
                        reason=f"this token may not write events of agency {result.agency_code!r}",
                    )
                )
            elif result.source and not token.allows_source(result.source):
                errors.append(
                    FieldError(
                        index=index,
                        field="source",
                        code="forbidden_source",
                        reason=f"this token may not write events of source {result.source!r}",
                    )
                )
            else:
                events.append(result)
        for err in errors:
            metrics.REJECTIONS.labels(err.field, err.code).inc()
        rejected_count = len({e.index for e in errors})
        forbidden = any(e.code.startswith("forbidden_") for e in errors)
        if forbidden and not partial:
            metrics.REQUESTS.labels("forbidden").inc()
            return _error(
                403,
                "forbidden",
                "this token may not write some of these events; none were accepted",
                errors,
            )
        if errors and not partial:
            metrics.REQUESTS.labels("rejected").inc()
            metrics.EVENTS.labels("rejected", "any").inc(len(decoded))
            return _error(
                422,
                "validation_failed",
                f"{rejected_count} of {len(decoded)} events are invalid; none were accepted",
                errors,
            )
        stamp: list[tuple[str, str | bytes | None]] = [
            ("ingested_at_ms", str(int(time.time() * 1000)).encode())
        ]
        records = [_record(e, settings, stamp, source) for e in events]
        started = time.perf_counter()
        try:
            if records:
                await run_in_threadpool(producer.send_all, records)
        except BrokerUnavailable as exc:
            metrics.REQUESTS.labels("unavailable").inc()
            retry = str(settings.ingest_retry_after_s)
            err = FieldError(
                field="kafka", reason=f"event log unavailable ({exc})", code="unavailable"
            )
            return _error(
                503,
                "unavailable",
                "event log unavailable; retry later",
                [err],
                headers={"Retry-After": retry},
            )
        metrics.PRODUCE_SECONDS.observe(time.perf_counter() - started)
        metrics.REQUESTS.labels("accepted" if not errors else "partial").inc()
        by_topic: dict[str, int] = {}
        for rec in records:
            by_topic[rec.topic] = by_topic.get(rec.topic, 0) + 1
        for family, n in Counter(e.family for e in events).items():
            metrics.EVENTS.labels("accepted", family).inc(n)
        if errors:
            metrics.EVENTS.labels("rejected", "any").inc(rejected_count)
        log.info("events_accepted", source=source, accepted=len(events), rejected=rejected_count)
        return Accepted(accepted=len(events), rejected=errors, by_topic=by_topic)

    return app


def main() -> None:
    settings = load(IngestSettings)
    refuse_unsafe_production(settings, "ingest")
    check_at_start(settings, [settings.topics.dossier, settings.topics.document])
    serve(create_app(settings), settings, "ingest", settings.ingest_host, settings.ingest_port)
