"""Alert rules and working hours as pure functions."""

from __future__ import annotations

from datetime import datetime

from services.alerts.rules import (
    Severity,
    evaluate_breach,
    evaluate_projection,
    project_year_end,
)
from services.alerts.working_hours import WorkingHours
from shared.timeutil import LOCAL_TZ


def test_breach_needs_the_minimum_denominator() -> None:
    assert evaluate_breach(0, 29, 85, min_denominator=30, margin=1, was_firing=False) is None
    obs = evaluate_breach(0, 30, 85, min_denominator=30, margin=1, was_firing=False)
    assert obs is not None and obs.firing and obs.severity is Severity.critical


def test_breach_severity_by_distance_and_hysteresis() -> None:
    near = evaluate_breach(80, 100, 85, min_denominator=1, margin=1, was_firing=False)
    assert near is not None and near.severity is Severity.warning  # 5 points below
    # back at 85.5 %: above target but inside the margin, so a firing breach stays firing
    held = evaluate_breach(855, 1000, 85, min_denominator=1, margin=1, was_firing=True)
    assert held is not None and held.firing
    fresh = evaluate_breach(855, 1000, 85, min_denominator=1, margin=1, was_firing=False)
    assert fresh is not None and not fresh.firing
    cleared = evaluate_breach(860, 1000, 85, min_denominator=1, margin=1, was_firing=True)
    assert cleared is not None and not cleared.firing


def test_projection_extrapolates_the_recent_pace() -> None:
    # 90 % so far, 50 % over the last 30 days, 60 days left: heading below 85 %
    projected = project_year_end((900, 1000), (150, 300), 30, 60)
    # 150/30 a day × 60 = +300 of +600 more: (900 + 300) / (1000 + 600)
    assert projected == 100 * 1200 / 1600
    warn = evaluate_projection(
        projected, False, 1000, 85, min_denominator=30, margin=1, was_firing=False
    )
    assert warn is not None and warn.firing
    # a firing breach already says more: no early warning on top
    quiet = evaluate_projection(
        projected, True, 1000, 85, min_denominator=30, margin=1, was_firing=False
    )
    assert quiet is not None and not quiet.firing
    assert project_year_end((100, 100), (100, 100), 30, 37) == 100.0  # exact, no drift


def test_working_hours_skip_nights_and_weekends() -> None:
    hours = WorkingHours()
    friday = datetime(2026, 11, 20, 16, 0, tzinfo=LOCAL_TZ)
    monday = datetime(2026, 11, 23, 8, 30, tzinfo=LOCAL_TZ)
    assert hours.hours_between(friday, monday) == 2.5
    night = datetime(2026, 11, 24, 18, 0, tzinfo=LOCAL_TZ)
    morning = datetime(2026, 11, 25, 7, 0, tzinfo=LOCAL_TZ)
    assert hours.hours_between(night, morning) == 0.0
    assert hours.hours_between(monday, friday) == 0.0
