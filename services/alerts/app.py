"""The alerts service's Faust app: consumes ``egov.indicator-updates.v1`` (never raw events),
keeps one alert per (rule, scope, indicator, period) in Redis and publishes state changes on
``egov.alerts.v1``. Notifications (email, webhook) build on this state."""

from __future__ import annotations

from typing import Any

import faust
import orjson
from faust.types import StreamT
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from services.alerts.rules import evaluate_breach
from services.calculator.updates import IndicatorUpdate
from shared.catalog import load_agencies
from shared.config import Settings, get_settings
from shared.faust_app import make_faust_app
from shared.logs import get_logger
from shared.scopes import parse_scope
from shared.targets import load_targets
from shared.timeutil import now_utc

log = get_logger("alerts")

UPDATES = Counter("egov_alerts_updates_consumed_total", "Indicator updates evaluated")
TRANSITIONS = Counter("egov_alerts_transitions_total", "Alert state changes", ["rule", "state"])
FIRING = Gauge("egov_alerts_firing", "Alerts firing", ["rule", "severity"])

ALERT_INDEX = "alerts:index"


def alert_key(rule: str, scope: str, indicator: str, period: str) -> str:
    return f"alert:{rule}:{scope}:{indicator}:{period}"


def create_app(settings: Settings | None = None) -> faust.App:
    settings = settings or get_settings()
    app = make_faust_app(
        settings, settings.alerts_group, settings.alerts_host, settings.alerts_port
    )
    updates_topic = app.topic(
        settings.topics.indicator_updates,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    alerts_topic = app.topic(settings.topics.alerts, key_serializer="raw", value_serializer="raw")
    catalog = load_agencies()
    targets = load_targets()
    state: dict[str, Redis] = {}

    def redis() -> Redis:
        if "r" not in state:
            state["r"] = Redis.from_url(settings.redis_url, decode_responses=True)
        return state["r"]

    async def refresh_gauge() -> None:
        counts: dict[tuple[str, str], int] = {}
        for key in await redis().smembers(ALERT_INDEX):
            alert = await redis().hgetall(key)
            if alert.get("state") == "firing":
                label = (str(alert.get("rule", "breach")), str(alert.get("severity", "warning")))
                counts[label] = counts.get(label, 0) + 1
        FIRING.clear()
        for (rule, severity), n in counts.items():
            FIRING.labels(rule, severity).set(n)

    @app.agent(updates_topic)
    async def evaluate(stream: StreamT[Any]) -> None:
        async for raw in stream:
            try:
                update = IndicatorUpdate.model_validate_json(raw)
                scope = parse_scope(update.agency_code, catalog)
            except Exception as exc:
                log.warning("update_ignored", error=type(exc).__name__)
                continue
            UPDATES.inc()
            year = int(update.period)
            for indicator, fig in update.indicators.items():
                target = targets.resolve(indicator, scope, year, settings.default_target_set)
                if target is None:
                    continue
                verdict = evaluate_breach(
                    indicator,
                    fig.numerator,
                    fig.denominator,
                    target,
                    settings.alerts_min_denominator,
                )
                if verdict is None:
                    continue
                key = alert_key("breach", scope.id, indicator, update.period)
                previous = await redis().hget(key, "state")
                new_state = "firing" if verdict.firing else "resolved"
                if previous is None and not verdict.firing:
                    continue
                now = now_utc().isoformat()
                fields: dict[str, str] = {
                    "rule": "breach",
                    "scope": scope.id,
                    "indicator": indicator,
                    "period": update.period,
                    "state": new_state,
                    "severity": verdict.severity or "",
                    "value": str(verdict.value),
                    "target": str(verdict.target),
                    "target_source": verdict.target_source,
                    "last_seen": now,
                }
                if previous != new_state:
                    fields["since"] = now
                await redis().hset(key, mapping=fields)  # type: ignore[arg-type]
                await redis().sadd(ALERT_INDEX, key)
                if previous != new_state:
                    TRANSITIONS.labels("breach", new_state).inc()
                    await alerts_topic.send(key=key.encode(), value=orjson.dumps(fields))
            await refresh_gauge()

    return app
