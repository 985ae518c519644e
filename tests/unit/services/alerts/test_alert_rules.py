"""Alert rules and working hours as pure functions."""

from __future__ import annotations

from datetime import date, datetime

from services.alerts import messages
from services.alerts.evaluate import scopes_of
from services.alerts.model import Alert, AlertState
from services.alerts.rules import (
    Rule,
    Severity,
    evaluate_breach,
    evaluate_pipeline,
    evaluate_projection,
    project_year_end,
)
from services.alerts.working_hours import WorkingHours
from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import load_agencies
from shared.domain.targets import Target
from shared.readmodel.figures import Figure, judge


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


def test_not_evaluated_never_fires_and_resolves() -> None:
    """§4a.7: 67 dossiers, all in person, of an agency without a full_online procedure."""
    for was_firing in (False, True):
        obs = evaluate_breach(
            0, 67, 85, min_denominator=30, margin=1, was_firing=was_firing, evaluated=False
        )
        assert obs is not None and not obs.firing and obs.value is None
        warn = evaluate_projection(
            10.0, False, 67, 85, min_denominator=30, margin=1, was_firing=was_firing,
            evaluated=False,
        )  # fmt: skip
        assert warn is not None and not warn.firing and warn.projected is None
    # an empty denominator is not evaluated either: what fired resolves
    empty = evaluate_breach(0, 0, 85, min_denominator=30, margin=1, was_firing=True)
    assert empty is not None and not empty.firing
    # the same figure, evaluated, is a critical breach
    judged = evaluate_breach(0, 67, 85, min_denominator=30, margin=1, was_firing=False)
    assert judged is not None and judged.firing and judged.severity is Severity.critical


def test_resolution_by_not_evaluated_says_so() -> None:
    at = datetime(2026, 6, 30, 10, 0, tzinfo=LOCAL_TZ)
    alert = Alert(
        key="breach|thanh-tra-tinh|full_online_rate|2026",
        rule=Rule.breach,
        scope="thanh-tra-tinh",
        scope_name="Thanh tra tỉnh",
        indicator="full_online_rate",
        indicator_name="Tỷ lệ hồ sơ trực tuyến toàn trình",
        period="2026",
        state=AlertState.resolved,
        severity=Severity.critical,
        target=85.0,
        first_seen=at,
        last_seen=at,
        resolved_at=at,
    )
    assert messages.subject(alert) == (
        "[Đã khắc phục] Thanh tra tỉnh: Tỷ lệ hồ sơ trực tuyến toàn trình không đánh giá "
        "(chỉ số không áp dụng hoặc chưa có dữ liệu)"
    )
    assert "Đánh giá: Không đánh giá" in messages.body(alert, "http://dash")
    firing = alert.model_copy(update={"state": AlertState.firing, "value": 0.0})
    assert "dưới chỉ tiêu" in messages.subject(firing)


def test_digest_lines_judge_only_evaluated_values() -> None:
    target = Target(
        target_set="kh-1205-2025", indicator="full_online_rate", applies_to="group:so_nganh",
        period=2025, min_percent=85.0, source="Kế hoạch 1205/KH-UBND",
    )  # fmt: skip
    below = judge("full_online_rate", "so-tttt", Figure(10, 40), target)
    assert messages.ranked_line("Sở Thông tin và Truyền thông", below) == (
        "    Sở Thông tin và Truyền thông: 25.00% (Chưa đạt, chỉ tiêu 85.00%)"
    )
    na = judge("full_online_rate", "thanh-tra-tinh", Figure(0, 67, evaluated=False), target)
    assert "Chưa đạt" not in messages.ranked_line("Thanh tra tỉnh", na)


def test_pipeline_behind_by_lag_or_stall_with_hysteresis() -> None:
    def judge(lag: int, stalled_s: float, was_firing: bool) -> bool:
        obs = evaluate_pipeline(
            lag, stalled_s, max_lag=1000, max_stall_s=120, was_firing=was_firing
        )
        return obs.firing

    assert not judge(999, 0, False) and judge(1000, 0, False)  # a backlog
    assert not judge(5, 119, False) and judge(5, 120, False)  # events wait, nothing moves
    assert not judge(0, 0, False)
    # a backlog being replayed stays one alert until at most a tenth of max_lag waits
    assert judge(500, 0, True) and judge(101, 0, True) and not judge(100, 0, True)
    assert judge(50, 300, True)  # … and processing moves
    obs = evaluate_pipeline(2000, 0, max_lag=1000, max_stall_s=120, was_firing=False)
    assert obs.severity is Severity.critical and obs.value == 2000.0


# -- ended units (the packaged catalog in time, domain README §4a.6, §9) -----------------


def test_the_alert_rules_judge_only_units_valid_now() -> None:
    ytd = date(2026, 1, 1)
    today = date(2026, 12, 3)

    def ids(code: str, start: date, end: date) -> list[str]:
        return [s.id for s in scopes_of(code, load_agencies(), start, end)]

    assert ids("H01.187", ytd, today) == ["H01.187", "group:dia_phuong", "level:xa", "province"]
    # a district after its end: neither it nor level:huyen is judged
    assert ids("ubnd-an-phu", ytd, today) == ["group:dia_phuong", "province"]
    # a late event of a district, read in August 2025: the 2025 figures of level:huyen
    # have members, but none is valid any more
    assert ids("ubnd-an-phu", date(2025, 1, 1), date(2025, 8, 1)) == [
        "group:dia_phuong",
        "province",
    ]
    # before the end, all of them
    assert ids("ubnd-an-phu", date(2025, 1, 1), date(2025, 6, 30)) == [
        "ubnd-an-phu",
        "group:dia_phuong",
        "level:huyen",
        "province",
    ]
    # a department merged on 2025-03-01, read in March
    assert "so-tttt" not in ids("so-tttt", date(2025, 1, 1), date(2025, 3, 1))


def test_an_alert_resolved_because_its_unit_ended_says_so() -> None:
    at = datetime(2025, 7, 1, 9, 0, tzinfo=LOCAL_TZ)
    alert = Alert(
        key="breach|ubnd-an-phu|full_online_rate|2025",
        rule=Rule.breach,
        scope="ubnd-an-phu",
        scope_name="UBND huyện An Phú",
        indicator="full_online_rate",
        indicator_name="Tỷ lệ hồ sơ trực tuyến toàn trình",
        period="2025",
        state=AlertState.resolved,
        severity=Severity.critical,
        value=41.5,
        target=70.0,
        details={"valid_to": "2025-06-30"},
        first_seen=at,
        last_seen=at,
        resolved_at=at,
    )
    assert messages.subject(alert) == (
        "[Đã khắc phục] UBND huyện An Phú: Tỷ lệ hồ sơ trực tuyến toàn trình không còn đánh giá "
        "(đơn vị đã kết thúc hoạt động ngày 30/06/2025)"
    )
    assert "đạt 70,00%" not in messages.subject(alert)  # never "reached the target"
    body = messages.body(alert, "http://dash")
    assert "Đánh giá: không còn đánh giá — đơn vị đã kết thúc hoạt động ngày 30/06/2025" in body
    level = alert.model_copy(
        update={
            "scope": "level:huyen",
            "scope_name": "Cấp huyện",
            "details": {"members_valid_now": 0},
        }
    )
    assert messages.subject(level).endswith(
        "không còn đánh giá (không còn đơn vị nào của phạm vi đang hoạt động)"
    )
