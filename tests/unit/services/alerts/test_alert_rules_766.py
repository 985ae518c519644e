"""The Decision 766 alert rules as pure functions: the band warning (hysteresis, too little
data), the weekly drop (points or ratio), the findings of a unit's scores and their
Vietnamese messages."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.alerts import messages
from services.alerts.evaluate766 import UnitScores, findings_766
from services.alerts.rules import (
    MetricWeek,
    Observation,
    evaluate_index766_band,
    evaluate_metric_drop,
)
from services.alerts.state import Stored, next_alert
from shared.domain.alerts import AlertState, Rule, alert_key
from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import load_agencies
from shared.domain.index766 import Counts, IndexScore, load_index766
from shared.domain.periods import Period, PeriodKind
from shared.platform.config import AlertsSettings

TABLE = load_index766().in_force(date(2026, 12, 1))
SETTINGS = AlertsSettings()  # floor 70, margin 0.5, drop 2 points / 10 pp, 30 dossiers
AGENCY = load_agencies().agencies["H01.05"]
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=LOCAL_TZ)


def band(projected: float, received: int = 100, was_firing: bool = False) -> Observation | None:
    return evaluate_index766_band(
        projected, received, 70.0, min_denominator=30, margin=0.5, was_firing=was_firing
    )


def test_band_fires_below_the_floor_only() -> None:
    below, at = band(69.99), band(70.0)
    assert below is not None and below.firing and below.projected == 69.99
    assert at is not None and not at.firing


def test_band_resolves_only_above_floor_plus_margin() -> None:
    still = band(70.3, was_firing=True)
    back = band(70.5, was_firing=True)
    assert still is not None and still.firing
    assert back is not None and not back.firing


def test_band_not_judged_on_too_few_dossiers() -> None:
    assert band(10.0, received=29) is None
    assert band(10.0, received=0) is None


def drop(before: MetricWeek, last: MetricWeek) -> Observation | None:
    return evaluate_metric_drop(before, last, drop_points=2, drop_ratio=10, min_denominator=30)


def test_drop_by_points() -> None:
    obs = drop(MetricWeek(100, 100, 20.0), MetricWeek(90, 100, 18.0))  # −2 points, −10 pp
    assert obs is not None and obs.firing and obs.value == 90.0 and obs.target == 100.0
    small = drop(MetricWeek(100, 100, 20.0), MetricWeek(95, 100, 19.0))
    assert small is not None and not small.firing


def test_drop_by_ratio_on_a_small_metric() -> None:
    # a 2-point metric: −15 pp is only −0.3 points, but a sharp fall of its ratio
    obs = drop(MetricWeek(80, 100, 1.6), MetricWeek(65, 100, 1.3))
    assert obs is not None and obs.firing


def test_drop_not_judged_on_few_cases_nor_monitor_metrics() -> None:
    few = drop(MetricWeek(100, 100, 20.0), MetricWeek(0, 29, 0.0))
    assert few is not None and not few.firing
    assert drop(MetricWeek(100, 100, None), MetricWeek(0, 100, None)) is None


def scored(**pairs: tuple[int, int]) -> IndexScore:
    assert TABLE is not None
    return TABLE.score({m: Counts(numerator=n, denominator=d) for m, (n, d) in pairs.items()})


def scores(
    ytd: IndexScore, last: IndexScore, before: IndexScore, received: int = 200, overdue: int = 0
) -> UnitScores:
    last_week = Period(PeriodKind.range, date(2026, 11, 27), date(2026, 12, 3), "l")
    before_week = Period(PeriodKind.range, date(2026, 11, 20), date(2026, 11, 26), "b")
    return UnitScores(ytd, last, before, received, overdue, (before_week, last_week))


# every other metric 0/0: full points (the portal's rule); ONLINE_FULL_PROCESS −12 and the
# satisfaction −4.33 (threshold 90 %): 83.67 with ON_TIME full
GOOD = {
    "ON_TIME": (200, 200),
    "DOSSIER_SYNC": (200, 200),
    "ONLINE_FULL_PROCESS": (0, 200),
    "DOSSIER_RECEIVING_SATISFACTION": (50, 200),
}


def test_findings_name_the_metric_and_counts_of_a_unit_below_70() -> None:
    ytd = scored(**{**GOOD, "ON_TIME": (50, 200)})  # ON_TIME 5/20 points: 68.67
    assert float(ytd.total) == 68.67
    found = findings_766(AGENCY, scores(ytd, ytd, ytd, overdue=150), {}, SETTINGS)
    bands = [f for f in found if f.subject.rule is Rule.index766_band]
    assert len(bands) == 1 and bands[0].obs.firing
    f = bands[0]
    assert f.subject.key == alert_key(Rule.index766_band, "H01.05", None, "2026")
    assert f.subject.metric == ("ON_TIME", "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn")
    assert (f.details["numerator"], f.details["denominator"]) == (50, 200)
    assert not [x for x in found if x.subject.rule is Rule.index766_drop and x.obs.firing]
    alert, changed = next_alert(None, f, NOW)
    assert alert is not None and changed
    text = messages.subject(alert)
    assert text == (
        "[Cảnh báo] Sở Khoa học và Công nghệ: Chỉ số 766 dự báo cuối năm "
        f"{f'{float(ytd.total):.2f}'.replace('.', ',')} điểm, dưới 70,00 (Khá); "
        "Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn 50/200 (25,00%)"
    )
    body = messages.body(alert, "http://grafana/d/x")
    assert "hồ sơ đang quá hạn: 150" in body and "5,00/20,00 điểm" in body


def test_band_names_the_weakest_metric_when_on_time_is_full() -> None:
    ytd = scored(**GOOD)
    f = next(
        x
        for x in findings_766(AGENCY, scores(ytd, ytd, ytd), {}, SETTINGS)
        if x.subject.rule is Rule.index766_band
    )
    assert f.subject.metric is not None and f.subject.metric[0] == "ONLINE_FULL_PROCESS"
    assert not f.obs.firing


def test_weekly_drop_finding_and_message() -> None:
    before = scored(**GOOD)
    last = scored(**{**GOOD, "DOSSIER_SYNC": (100, 200)})  # 6 → 3 points, 100 % → 50 %
    found = findings_766(AGENCY, scores(before, last, before), {}, SETTINGS)
    drops = [f for f in found if f.subject.rule is Rule.index766_drop and f.obs.firing]
    assert [f.subject.key for f in drops] == [
        alert_key(Rule.index766_drop, "H01.05", "DOSSIER_SYNC", "2026")
    ]
    alert, _ = next_alert(None, drops[0], NOW)
    assert alert is not None
    name = drops[0].subject.metric[1] if drops[0].subject.metric else ""
    assert messages.subject(alert) == (
        f"[Cảnh báo] Sở Khoa học và Công nghệ: {name} giảm mạnh trong tuần: "
        "7 ngày qua 100/200 (50,00%), 3,00 điểm; 7 ngày trước 200/200 (100,00%), 6,00 điểm"
    )
    assert "27/11/2026–03/12/2026" in messages.body(alert, "http://grafana/d/x")
    # the next week no longer drops: the same key resolves
    found = findings_766(AGENCY, scores(last, last, last), {}, SETTINGS)
    again = next(f for f in found if f.subject.key == drops[0].subject.key)
    resolved, changed = next_alert(alert, again, NOW + timedelta(days=7))
    assert resolved is not None and changed and resolved.state is AlertState.resolved
    assert messages.subject(resolved).startswith("[Đã khắc phục]")


def test_band_hysteresis_reads_the_stored_alert() -> None:
    ytd = scored(**{**GOOD, "ON_TIME": (64, 200)})  # 70.07
    total = float(ytd.total)
    assert 70 <= total < 70.5, total
    fresh = findings_766(AGENCY, scores(ytd, ytd, ytd), {}, SETTINGS)
    assert not next(f for f in fresh if f.subject.rule is Rule.index766_band).obs.firing
    below = scored(**{**GOOD, "ON_TIME": (50, 200)})
    first = next(
        f
        for f in findings_766(AGENCY, scores(below, below, below), {}, SETTINGS)
        if f.subject.rule is Rule.index766_band
    )
    alert, _ = next_alert(None, first, NOW)
    assert alert is not None
    stored = {alert.key: Stored(alert.model_dump_json().encode())}
    kept = findings_766(AGENCY, scores(ytd, ytd, ytd), stored, SETTINGS)
    assert next(f for f in kept if f.subject.rule is Rule.index766_band).obs.firing
