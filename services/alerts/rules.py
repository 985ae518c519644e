"""Alert rules as pure functions: threshold breach with hysteresis, year-end projection,
overdue dossiers, silent sources and the pipeline falling behind. The service keeps the
resulting state in Redis."""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.alerts import Rule, Severity

__all__ = [
    "MetricWeek",
    "Observation",
    "Rule",
    "Severity",
    "breach_severity",
    "evaluate_breach",
    "evaluate_count",
    "evaluate_index766_band",
    "evaluate_metric_drop",
    "evaluate_pipeline",
    "evaluate_projection",
    "project_year_end",
]


@dataclass(frozen=True)
class Observation:
    """What a rule concluded: firing or not, and what the message should say."""

    firing: bool
    severity: Severity | None = None
    value: float | None = None
    target: float | None = None
    projected: float | None = None


def breach_severity(value: float, target: float) -> Severity:
    """Critical when 10 points or more below target, warning otherwise."""
    return Severity.critical if target - value >= 10 else Severity.warning


def evaluate_breach(
    numerator: int,
    denominator: int,
    target: float,
    *,
    min_denominator: int,
    margin: float,
    was_firing: bool,
    evaluated: bool = True,
) -> Observation | None:
    """None while there is too little data to judge.

    Hysteresis: a firing breach resolves only at ``target + margin`` or above, so a value
    flapping around the target gives one alert, not a storm.

    Not evaluated (``evaluated`` False: the read model gives no value, because the
    indicator does not apply or the denominator is empty) never fires, and resolves a
    firing breach (§4a.7).
    """
    if not evaluated or denominator <= 0:
        return Observation(False, None, None, target)
    if denominator < max(1, min_denominator):
        return None
    value = 100.0 * numerator / denominator
    firing = value < target + margin if was_firing else value < target
    severity = breach_severity(value, target) if firing else None
    return Observation(firing, severity, value, target)


def project_year_end(
    ytd: tuple[int, int], recent: tuple[int, int], recent_days: int, remaining_days: int
) -> float | None:
    """The year-end percentage if the rest of the year continues like the recent window:
    numerator and denominator both extrapolated from their recent daily pace."""
    num, den = ytd
    if recent_days > 0 and remaining_days > 0:
        # scaled by recent_days so the arithmetic stays exact (integers)
        num = num * recent_days + recent[0] * remaining_days
        den = den * recent_days + recent[1] * remaining_days
    return None if den <= 0 else 100.0 * num / den


def evaluate_projection(
    projected: float | None,
    breach_firing: bool,
    denominator: int,
    target: float,
    *,
    min_denominator: int,
    margin: float,
    was_firing: bool,
    evaluated: bool = True,
) -> Observation | None:
    """Early warning: the projected year-end value falls below target while the
    year-to-date value still meets it (a firing breach already says more).

    Not evaluated never warns, and resolves a firing early warning (§4a.7)."""
    if not evaluated or denominator <= 0:
        return Observation(False, None, None, target)
    if projected is None or denominator < max(1, min_denominator):
        return None
    threshold = target + margin if was_firing else target
    firing = projected < threshold and not breach_firing
    return Observation(firing, Severity.warning if firing else None, None, target, projected)


def evaluate_count(count: int, severity: Severity) -> Observation:
    return Observation(count > 0, severity if count > 0 else None, float(count))


def evaluate_pipeline(
    lag: int, stalled_s: float, *, max_lag: int, max_stall_s: float, was_firing: bool
) -> Observation:
    """Behind while ``max_lag`` events or more wait, or events wait and nothing has been
    processed for ``max_stall_s``. Hysteresis: it resolves only once at most a tenth of
    ``max_lag`` waits and processing moves, so a backlog being replayed gives one alert."""
    stalled = lag > 0 and stalled_s >= max_stall_s
    firing = (lag > max_lag // 10 if was_firing else lag >= max_lag) or stalled
    return Observation(firing, Severity.critical if firing else None, float(lag))


def evaluate_index766_band(
    projected: float,
    received: int,
    floor: float,
    *,
    min_denominator: int,
    margin: float,
    was_firing: bool,
) -> Observation | None:
    """A unit's projected year-end 766 score (domain §8) below a band floor.

    ``projected`` is the year-to-date score judged now, its open overdue dossiers counted
    late: if the rest of the year runs like the year so far, every ratio — hence every
    metric's points — ends where it is now. None (no judgement, state kept) while the unit
    received fewer than ``min_denominator`` dossiers this year; hysteresis like a breach: a
    firing warning resolves only at ``floor + margin``."""
    if received < max(1, min_denominator):
        return None
    firing = projected < floor + margin if was_firing else projected < floor
    return Observation(firing, Severity.warning if firing else None, projected, floor, projected)


@dataclass(frozen=True)
class MetricWeek:
    """One 766 metric of a unit over 7 days: its counts and points (None: not scored)."""

    numerator: int
    denominator: int
    points: float | None

    @property
    def ratio(self) -> float | None:
        return None if self.denominator <= 0 else 100.0 * self.numerator / self.denominator


def evaluate_metric_drop(
    before: MetricWeek,
    last: MetricWeek,
    *,
    drop_points: float,
    drop_ratio: float,
    min_denominator: int,
) -> Observation | None:
    """A sharp weekly drop of one scored 766 metric: its points over the last 7 days at
    least ``drop_points`` below those of the 7 days before, or its ratio at least
    ``drop_ratio`` percentage points below. Not judged (None) when the metric is not
    scored; not firing while either week counts fewer than ``min_denominator`` cases (too
    few to call a drop). The window slides: it resolves as soon as the last 7 days no
    longer show the drop. ``value`` is the ratio now, ``target`` the ratio before."""
    if before.points is None or last.points is None:
        return None
    if min(before.denominator, last.denominator) < max(1, min_denominator):
        return Observation(False)
    r0, r1 = before.ratio, last.ratio
    assert r0 is not None and r1 is not None  # denominators ≥ 1
    firing = round(before.points - last.points, 2) >= drop_points or r0 - r1 >= drop_ratio
    return Observation(firing, Severity.warning if firing else None, r1, r0)
