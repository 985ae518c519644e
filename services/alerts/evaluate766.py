"""The Decision 766 rules of a unit on an update (domain §8): its projected year-end score
below a band floor (``index766_band``) and a sharp weekly drop of one of its metrics
(``index766_drop``).

- Projected: the year-to-date score judged now, its open dossiers past their due time
  counted late (as the index counts them at any instant, ``shared.readmodel.index766_inputs``).
  If the rest of the year runs like the year so far, every ratio — hence every metric's
  points — ends where it is now: that score is the projection. Not judged while the unit
  received fewer than ``EGOV_ALERTS_MIN_DENOMINATOR`` dossiers this year.
- Weekly drop: each scored metric over the last 7 days (today included, judged now) against
  the 7 days before (judged at their end); a fall of ``EGOV_ALERTS_766_DROP_POINTS`` points
  or ``EGOV_ALERTS_766_DROP_RATIO`` percentage points of its ratio warns. Not judged while
  either week counts fewer than ``EGOV_ALERTS_MIN_DENOMINATOR`` cases of the metric.

Units only (aggregates are not warned), and only a unit valid today: what fired for a unit
that ended resolves by the timers' check (:func:`services.alerts.checks.ended`). Every
alert names the unit, the metric (its Vietnamese name) and the counts behind it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.alerts.rules import (
    MetricWeek,
    Observation,
    evaluate_index766_band,
    evaluate_metric_drop,
)
from services.alerts.state import AlertStore, Finding, Stored, Subject
from shared.domain.alerts import Rule, alert_key
from shared.domain.catalog import Agency
from shared.domain.index766 import IndexScore, MetricScore, load_index766
from shared.domain.lifecycle import OPEN_DOSSIER
from shared.domain.periods import Period, PeriodKind
from shared.platform.config import AlertsSettings
from shared.readmodel.index766_inputs import catalog_facts, evaluation, unit_counts, units_raws
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore

WEEK_DAYS = 7
# the metric the band warning names: the one the open overdue dossiers weigh on
BAND_METRIC = "ON_TIME"


@dataclass(frozen=True)
class UnitScores:
    """A unit's index: year to date, the last 7 days and the 7 days before."""

    ytd: IndexScore
    last: IndexScore
    before: IndexScore
    received: int  # dossiers received this year (the band warning's data rule)
    overdue: int  # open dossiers past due now, counted late in ``ytd``
    weeks: tuple[Period, Period]  # (before, last)


def _metric(score: IndexScore, code: str) -> MetricScore:
    return next(m for m in score.metrics if m.metric == code)


def _week(m: MetricScore) -> MetricWeek:
    return MetricWeek(m.numerator, m.denominator, None if m.points is None else float(m.points))


def _span(start: date, end: date) -> Period:
    return Period(PeriodKind.range, start, end, f"{start.isoformat()}..{end.isoformat()}")


async def unit_scores(
    store: IndicatorStore, catalogs: Catalogs, code: str, now: datetime, today: date
) -> UnitScores | None:
    """The unit's three scores (one read of its inputs per period); None before the index."""
    table = load_index766().in_force(today)
    if table is None:
        return None
    year = Period(
        PeriodKind.year, date(today.year, 1, 1), date(today.year, 12, 31), str(today.year)
    )
    last = _span(today - timedelta(days=WEEK_DAYS - 1), today)
    before = _span(today - timedelta(days=2 * WEEK_DAYS - 1), today - timedelta(days=WEEK_DAYS))
    scores: list[IndexScore] = []
    received = overdue = 0
    for period in (year, last, before):
        ev = evaluation(period, now.timestamp())
        raw = (await units_raws(store, [code], ev))[code]
        scores.append(
            table.score(unit_counts(raw, catalog_facts(catalogs.procedures, code, ev.day)))
        )
        if period is year:
            received, overdue = raw.mark("received"), raw.overdue(OPEN_DOSSIER)
    return UnitScores(scores[0], scores[1], scores[2], received, overdue, (before, last))


def _counts(m: MetricScore) -> dict[str, object]:
    return {"numerator": m.numerator, "denominator": m.denominator, "ratio": m.ratio}


def _band_metric(score: IndexScore) -> MetricScore:
    """The metric the band warning names: ON_TIME (open overdue dossiers weigh on it), or,
    where it keeps its full points, the scored metric furthest below its maximum."""
    on_time = _metric(score, BAND_METRIC)
    if on_time.points is None or on_time.points < on_time.max:
        return on_time
    scored = [m for m in score.metrics if m.points is not None]
    return max(scored, key=lambda m: (m.max - (m.points or 0), m.metric == BAND_METRIC))


def _subject(rule: Rule, agency: Agency, year: str, metric: MetricScore) -> Subject:
    return Subject(
        rule,
        agency.agency_code,
        agency.name,
        year,
        group=agency.group.value,
        metric=(metric.metric, metric.name),
    )


def findings_766(
    agency: Agency, scores: UnitScores, stored: dict[str, Stored], settings: AlertsSettings
) -> list[Finding]:
    """The band warning and one drop finding per scored metric of the unit (pure)."""
    s = settings
    year = str(scores.weeks[1].end.year)
    out: list[Finding] = []
    weakest = _band_metric(scores.ytd)
    band = _subject(Rule.index766_band, agency, year, weakest)
    obs = evaluate_index766_band(
        float(scores.ytd.total),
        scores.received,
        s.alerts_766_floor,
        min_denominator=s.alerts_min_denominator,
        margin=s.alerts_766_resolve_margin,
        was_firing=stored.get(band.key, Stored()).firing,
    )
    if obs is not None:
        # the alert's value is the named metric's ratio (a percent, as lists show values);
        # the score is ``projected``
        obs = Observation(obs.firing, obs.severity, weakest.ratio, obs.target, obs.projected)
        details: dict[str, object] = {
            "total": float(scores.ytd.total),
            "band": scores.ytd.band.value,
            "received": scores.received,
            "overdue_open": scores.overdue,
            "points": float(weakest.points or 0),
            "max": float(weakest.max),
            **_counts(weakest),
        }
        out.append(Finding(band, obs, details))
    before, last = scores.weeks
    for m_last in scores.last.metrics:
        m_before = _metric(scores.before, m_last.metric)
        drop = evaluate_metric_drop(
            _week(m_before),
            _week(m_last),
            drop_points=s.alerts_766_drop_points,
            drop_ratio=s.alerts_766_drop_ratio,
            min_denominator=s.alerts_min_denominator,
        )
        if drop is None:
            continue
        subject = _subject(Rule.index766_drop, agency, year, m_last)
        out.append(
            Finding(
                subject,
                drop,
                {
                    "before": {
                        **_counts(m_before),
                        "points": float(m_before.points or 0),
                        "from": before.start.isoformat(),
                        "to": before.end.isoformat(),
                    },
                    "last": {
                        **_counts(m_last),
                        "points": float(m_last.points or 0),
                        "from": last.start.isoformat(),
                        "to": last.end.isoformat(),
                    },
                    "max": float(m_last.max),
                },
            )
        )
    return out


class Index766Evaluation:
    def __init__(self, settings: AlertsSettings, figures: IndicatorStore) -> None:
        self.settings = settings
        self.figures = figures

    async def findings(
        self, store: AlertStore, catalogs: Catalogs, code: str, now: datetime, today: date
    ) -> tuple[list[Finding], dict[str, Stored]]:
        agency = catalogs.agencies.get(code)
        if agency is None or not agency.valid_on(today):
            return [], {}
        scores = await unit_scores(self.figures, catalogs, code, now, today)
        if scores is None:
            return [], {}
        year = today.year
        keys = [alert_key(Rule.index766_band, code, None, str(year))]
        keys += [
            alert_key(Rule.index766_drop, code, m.metric, str(year)) for m in scores.last.metrics
        ]
        stored = await store.read(keys)
        return findings_766(agency, scores, stored, self.settings), stored
