"""The alerts service's Faust app.

It consumes ``egov.indicator-updates.v1`` (never raw events) and re-evaluates the
threshold rules of the agencies that changed and of every scope they belong to; timers
check overdue dossiers, the pipeline's own lag and silent sources, send the daily digest,
re-post what fires to Alertmanager, and deliver the outbox — on the group's leader only (one
worker of the group, elected by Faust), so N workers neither judge nor mail N times. Alert
changes are published on ``egov.alerts.v1``. Alertmanager's webhook accepts the alert names
of the project's Prometheus rules, read once here at start.
"""

from __future__ import annotations

import math
from typing import Any

import faust
import orjson
from faust.types import StreamT
from faust.web import Request, Response, View

from services.alerts.engine import AlertEngine
from services.alerts.model import Alert
from services.alerts.receiver import PROJECT_RULES, alert_names
from shared.contract.indicator_update import IndicatorUpdate
from shared.platform.auth import FailureLimiter
from shared.platform.config import AlertsSettings, load, token_book
from shared.platform.faust_app import guarded_timer, make_faust_app
from shared.platform.logs import get_logger
from shared.store.client import redis_from_url

log = get_logger("alerts")


def create_app(settings: AlertsSettings | None = None) -> faust.App:
    settings = settings or load(AlertsSettings)
    app = make_faust_app(
        settings, settings.alerts_group, settings.alerts_host, settings.alerts_port, leader=True
    )
    known_alerts = alert_names(settings.alerts_prometheus_rules or [PROJECT_RULES])
    updates_topic = app.topic(
        settings.topics.indicator_updates,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    alerts_topic = app.topic(settings.topics.alerts, key_serializer="raw", value_serializer="raw")
    state: dict[str, AlertEngine] = {}

    async def publish(alert: Alert) -> None:
        await alerts_topic.send(key=alert.key.encode(), value=alert.model_dump_json().encode())

    def engine() -> AlertEngine:
        if "engine" not in state:
            state["engine"] = AlertEngine(
                settings,
                redis_from_url(settings.redis_url),
                publish=publish,
                known_alerts=known_alerts,
            )
        return state["engine"]

    @app.agent(updates_topic)
    async def evaluate(stream: StreamT[Any]) -> None:
        async for raw in stream:
            try:
                update = IndicatorUpdate.model_validate_json(raw)
            except ValueError as exc:
                log.warning("update_ignored", error=type(exc).__name__)
                continue
            try:
                await engine().on_update(update.agency_code, int(update.period))
            except Exception as exc:  # the next update re-evaluates from Redis anyway
                log.warning("evaluation_failed", agency=update.agency_code, error=repr(exc))

    @guarded_timer(app, settings.alerts_check_interval_s, on_leader=True)
    async def scheduled_checks() -> None:
        e = engine()
        await e.check_ended()
        await e.check_overdue()
        await e.check_silence()
        await e.send_digest()
        await e.refresh_gauges()
        await e.repost_alertmanager()
        await e.prune()

    @guarded_timer(app, settings.alerts_outbox_interval_s, on_leader=True)
    async def deliver_outbox() -> None:
        await engine().deliver()

    tokens = token_book(settings)
    failures = FailureLimiter(settings.auth_failures_per_minute)

    @app.page("/v1/alertmanager/webhook")
    class AlertmanagerWebhook(View):
        """Alertmanager's webhook receiver: the project's Prometheus alerts, mailed in
        Vietnamese through the routes (other alert names ignored). Bearer token with the
        operate scope."""

        async def post(self, request: Request) -> Response:
            client = str(getattr(request, "remote", None) or "unknown")
            if (wait := failures.retry_after(client)) is not None:
                return self.json(
                    {"error": "rate_limited", "field": "Authorization"},
                    status=429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            spec = tokens.identify(presented.strip()) if scheme.lower() == "bearer" else None
            if spec is None:
                failures.failed(client)
                return self.json({"error": "unauthorized", "field": "Authorization"}, status=401)
            if not spec.allows("operate"):
                return self.json({"error": "forbidden", "field": "Authorization"}, status=403)
            try:
                payload = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                return self.json({"error": "invalid_body", "field": "body"}, status=400)
            if not isinstance(payload, dict):
                return self.json({"error": "invalid_body", "field": "body"}, status=400)
            changed = await engine().on_alertmanager(payload)
            return self.json({"changed": changed})

    return app
