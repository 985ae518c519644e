"""Decision 766 scores kept per scope and period while their inputs hold."""

from __future__ import annotations

from datetime import date

from services.api.reports.score_windows import ScoreWindows
from shared.domain.periods import Period, PeriodKind
from shared.readmodel.index766_inputs import Evaluation

MONTH = Period(PeriodKind.month, date(2026, 11, 1), date(2026, 11, 30), "2026-11")


def at(instant_s: int, day: date = date(2026, 11, 20)) -> Evaluation:
    return Evaluation(MONTH, instant_s, day)


def test_a_window_holds_for_its_versions_instants_and_day() -> None:
    windows: ScoreWindows[str] = ScoreWindows()
    windows.put("k", (1, 2), at(100), 200, "score")
    assert windows.get("k", (1, 2), at(100)) == "score"
    assert windows.get("k", (1, 2), at(200)) == "score"
    assert windows.get("k", (1, 2), at(201)) is None  # a due time passed
    assert windows.get("k", (1, 2), at(99)) is None  # before the instant read at
    assert windows.get("k", (1, 3), at(150)) is None  # a unit was written
    assert windows.get("k", (1, 2), at(150, date(2026, 11, 21))) is None  # another day
    assert windows.get("other", (1, 2), at(150)) is None


def test_one_window_per_scope_whatever_versions_it_went_through() -> None:
    """Steady writes: each version's scores replace the previous ones (they kept ~10⁵
    objects alive for the collector under the bench's writes)."""
    windows: ScoreWindows[int] = ScoreWindows()
    for v in range(500):
        windows.put("ranking", (v, v), at(100), None, v)
    assert len(windows) == 1
    assert windows.get("ranking", (499, 499), at(150)) == 499


def test_scores_read_before_a_write_do_not_replace_newer_ones() -> None:
    windows: ScoreWindows[str] = ScoreWindows()
    windows.put("k", (5, 7), at(100), None, "newer")
    windows.put("k", (5, 6), at(100), None, "older")  # its computation ended last
    assert windows.get("k", (5, 7), at(120)) == "newer"
    assert windows.get("k", (5, 6), at(120)) is None
