"""The alerts service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from services.alerts.model import Channel
from shared.domain.alerts import Alert, Rule, Severity

FIRING = Gauge("egov_alerts_firing", "Alerts firing", ["rule", "severity"])
TRANSITIONS = Counter("egov_alerts_transitions_total", "Alert state changes", ["rule", "state"])
NOTIFICATIONS = Counter(
    "egov_alerts_notifications_total", "Notification deliveries", ["channel", "outcome"]
)
GIVEN_UP = Counter(
    "egov_alerts_notifications_given_up_total",
    "Notifications dropped: 'final' (4xx, invalid URL or configuration: never retried) or "
    "'attempts' (still failing after the last retry)",
    ["channel", "reason"],
)
OUTBOX_DEPTH = Gauge("egov_alerts_outbox_depth", "Notifications waiting in the outbox")
UPDATES = Counter("egov_alerts_updates_consumed_total", "Indicator updates evaluated")
PIPELINE_LAG = Gauge(
    "egov_alerts_pipeline_lag_events",
    "Events waiting for the calculator, measured by the alerts service (-1: not measurable)",
)
PIPELINE_STALLED = Gauge(
    "egov_alerts_pipeline_stalled_seconds",
    "Seconds the calculator's committed offsets have not moved while events wait",
)
PIPELINE_BEHIND = Gauge(
    "egov_alerts_pipeline_behind", "1 while the pipeline is behind (silence not judged)"
)
FOREIGN = Counter(
    "egov_alerts_foreign_alerts_total",
    "Alerts posted by Alertmanager whose name is not in the project's Prometheus rules",
)
for _rule in Rule:
    for _sev in Severity:
        FIRING.labels(_rule.value, _sev.value)
for _channel in Channel:
    for _outcome in ("sent", "retried", "failed"):
        NOTIFICATIONS.labels(_channel.value, _outcome)
    for _reason in ("final", "attempts"):
        GIVEN_UP.labels(_channel.value, _reason)


def refresh_firing(firing: list[Alert]) -> None:
    """``egov_alerts_firing`` from the alerts firing now (0 for every other label)."""
    counts: dict[tuple[str, str], int] = {}
    for alert in firing:
        label = (alert.rule.value, (alert.severity or Severity.warning).value)
        counts[label] = counts.get(label, 0) + 1
    for rule in Rule:
        for sev in Severity:
            FIRING.labels(rule.value, sev.value).set(counts.get((rule.value, sev.value), 0))
