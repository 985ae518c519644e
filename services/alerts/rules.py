"""Breach rule: a year-to-date value below its target in force, once the denominator is
large enough to judge. Pure logic; the service keeps the resulting state in Redis."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from shared.targets import Target


class Severity(StrEnum):
    warning = "warning"
    critical = "critical"


class Verdict(BaseModel):
    indicator: str
    firing: bool
    severity: Severity | None
    value: float | None
    target: float
    target_source: str
    denominator: int


def evaluate_breach(
    indicator: str, numerator: int, denominator: int, target: Target, min_denominator: int
) -> Verdict | None:
    """None when there is too little data to judge; otherwise firing or not."""
    if denominator < max(1, min_denominator):
        return None
    value = 100.0 * numerator / denominator
    gap = target.min_percent - value
    firing = gap > 0
    severity = None
    if firing:
        severity = Severity.critical if gap >= 10 else Severity.warning
    return Verdict(
        indicator=indicator,
        firing=firing,
        severity=severity,
        value=round(value, 4),
        target=target.min_percent,
        target_source=target.source,
        denominator=denominator,
    )
