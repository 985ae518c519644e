"""An alert as the alerts service keeps it in Redis, publishes it on ``egov.alerts.v1`` and
the API serves it: its rule, severity and state. Shared by the alerts service (the one
writer) and the API (a reader, and the caller of ``shared.store.alert_commands``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class Severity(StrEnum):
    warning = "warning"
    critical = "critical"


class Rule(StrEnum):
    breach = "breach"  # year-to-date value below target
    projection = "projection"  # year-end value projected below target
    overdue = "overdue"  # open dossiers past due_at
    due_soon = "due_soon"  # open dossiers due within 24 hours
    silent_source = "silent_source"  # kết nối gián đoạn: no events from a source
    silent_agency = "silent_agency"  # no events from an agency that normally emits
    pipeline_behind = "pipeline_behind"  # the calculator lags: silence cannot be judged
    system = "system"  # a Prometheus alert on the pipeline, relayed by Alertmanager
    # Decision 766 index (domain §8): a unit's year-to-date score, judged now with its open
    # overdue dossiers counted late, below a band floor (default 70, "Khá")
    index766_band = "index766_band"
    # a 766 metric of a unit: its last 7 days fell sharply against the 7 days before
    index766_drop = "index766_drop"


INDEX766_RULES = frozenset({Rule.index766_band, Rule.index766_drop})


class AlertState(StrEnum):
    firing = "firing"
    resolved = "resolved"


class Alert(BaseModel):
    """One alert per key (rule, scope, indicator, period)."""

    key: str
    rule: Rule
    scope: str
    scope_name: str
    indicator: str | None = None
    indicator_name: str | None = None
    period: str
    target_set: str | None = None
    state: AlertState
    severity: Severity | None = None
    value: float | None = None
    target: float | None = None
    target_source: str | None = None
    projected: float | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    silenced_until: datetime | None = None

    def silenced(self, now: datetime) -> bool:
        return self.silenced_until is not None and self.silenced_until > now

    def transition(self) -> tuple[AlertState, datetime, datetime | None]:
        """What an operator acknowledges: this state since this time (not ``last_seen``,
        which every evaluation moves)."""
        return (self.state, self.first_seen, self.resolved_at)


def alert_key(rule: Rule, scope: str, indicator: str | None, period: str) -> str:
    return f"{rule.value}|{scope}|{indicator or '-'}|{period}"
