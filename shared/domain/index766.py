"""The Decision 766 service-quality index (domain README §8) as the national portal scores
it, read from ``shared/domain/data/index766.csv`` (one row per metric, versioned by
``version`` and ``valid_from``) so a new scoring version replaces data, not code.

- ``linear``: points = max × ratio; ``threshold`` (t %): max × min(1, ratio / t);
  ``monitor``: shown, never scored.
- ``empty_denominator`` = ``full``: 0/0 gives full points (the portal does so); ``none``:
  0/0 is not evaluated (a monitor metric).
- Each metric's points come from the unrounded counts (exact fractions) and are rounded to
  two decimals half up; a group is the sum of its metrics' rounded points, the total the
  sum of the groups (65.49 = 11.85 + 17.72 + 8.97 + 9.08 + 6.69 + 11.18).
- An aggregate (a group of units, the province) is scored on the summed numerators and
  denominators of its units (:func:`sum_counts`), never as an average of scores.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TOTAL_POINTS = Decimal(100)
_CENT = Decimal("0.01")


class Method(StrEnum):
    linear = "linear"
    threshold = "threshold"
    monitor = "monitor"


class EmptyDenominator(StrEnum):
    full = "full"  # 0/0 scores the metric's maximum
    none = "none"  # 0/0 is not evaluated


class Band(StrEnum):
    """Xếp loại (§8): the lower bound of each band, best first."""

    xuat_sac = "Xuất sắc"
    tot = "Tốt"
    kha = "Khá"
    trung_binh = "Trung bình"
    yeu = "Yếu"


BAND_FLOORS: tuple[tuple[Decimal, Band], ...] = (
    (Decimal(90), Band.xuat_sac),
    (Decimal(80), Band.tot),
    (Decimal(70), Band.kha),
    (Decimal(50), Band.trung_binh),
    (Decimal(0), Band.yeu),
)


def band_of(total: Decimal) -> Band:
    return next(band for floor, band in BAND_FLOORS if total >= floor)


class MetricRule(BaseModel):
    """One row of ``index766.csv``."""

    model_config = ConfigDict(frozen=True)

    version: str
    valid_from: date
    group: str
    group_name: str
    group_max: Decimal
    metric: str
    name: str
    max_points: Decimal
    method: Method
    threshold_pct: Decimal | None = None
    empty_denominator: EmptyDenominator
    source: str

    @field_validator("threshold_pct", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _threshold_given(self) -> MetricRule:
        if self.method is Method.threshold and not self.threshold_pct:
            raise ValueError(f"{self.metric}: a threshold metric needs threshold_pct")
        if self.method is Method.monitor and self.max_points != 0:
            raise ValueError(f"{self.metric}: a monitor metric scores no points")
        return self


class Counts(BaseModel):
    """A metric's numerator and denominator for one scope and period."""

    model_config = ConfigDict(frozen=True)

    numerator: int = Field(ge=0)
    denominator: int = Field(ge=0)

    @model_validator(mode="after")
    def _at_most_whole(self) -> Counts:
        if self.numerator > self.denominator:
            raise ValueError(f"numerator {self.numerator} > denominator {self.denominator}")
        return self


class MetricScore(BaseModel):
    metric: str
    name: str
    group: str
    method: Method
    numerator: int
    denominator: int
    ratio: float | None  # percent, None when 0/0
    points: Decimal | None  # None: a monitor metric, or 0/0 not evaluated
    max: Decimal


class GroupScore(BaseModel):
    group: str
    name: str
    points: Decimal
    max: Decimal


class IndexScore(BaseModel):
    version: str
    total: Decimal
    band: Band
    groups: list[GroupScore]
    metrics: list[MetricScore]


class ScoringTable(BaseModel):
    """One version of the scoring table: its metrics in the file's order."""

    model_config = ConfigDict(frozen=True)

    version: str
    valid_from: date
    rules: tuple[MetricRule, ...]

    @model_validator(mode="after")
    def _sums(self) -> ScoringTable:
        groups: dict[str, Decimal] = {}
        for rule in self.rules:
            groups[rule.group] = groups.get(rule.group, Decimal(0)) + rule.max_points
        for rule in self.rules:
            if groups[rule.group] != rule.group_max:
                raise ValueError(
                    f"{self.version}: group {rule.group} metrics sum to {groups[rule.group]}, "
                    f"not its maximum {rule.group_max}"
                )
        if sum(groups.values()) != TOTAL_POINTS:
            raise ValueError(f"{self.version}: groups sum to {sum(groups.values())}, not 100")
        return self

    @property
    def metrics(self) -> list[str]:
        return [r.metric for r in self.rules]

    def score(self, counts: Mapping[str, Counts]) -> IndexScore:
        """The index of one scope and period from its counts (a metric missing from
        ``counts`` is 0/0)."""
        metrics = [score_metric(r, counts.get(r.metric, _EMPTY)) for r in self.rules]
        groups: dict[str, GroupScore] = {}
        for rule, scored in zip(self.rules, metrics, strict=True):
            g = groups.get(rule.group)
            if g is None:
                g = groups[rule.group] = GroupScore(
                    group=rule.group, name=rule.group_name, points=Decimal(0), max=rule.group_max
                )
            g.points += scored.points or Decimal(0)
        total = sum((g.points for g in groups.values()), Decimal(0))
        return IndexScore(
            version=self.version,
            total=total,
            band=band_of(total),
            groups=list(groups.values()),
            metrics=metrics,
        )

    def totals(
        self, counts: Mapping[str, tuple[int, int]]
    ) -> tuple[Decimal, Band, dict[str, Decimal]]:
        """The total, band and each group's points of :meth:`score` of the same
        (numerator, denominator) pairs, exactly (integer arithmetic, no model per metric):
        what a ranking of many units needs."""
        groups: dict[str, int] = {}
        for rule, cents in _fast_rules(self):
            n, d = counts.get(rule.metric, (0, 0))
            groups[rule.group] = groups.get(rule.group, 0) + cents(n, d)
        points = {g: Decimal(v) / 100 for g, v in groups.items()}
        total = Decimal(sum(groups.values())) / 100
        return total, band_of(total), points


_EMPTY = Counts(numerator=0, denominator=0)


def _cents_of(rule: MetricRule) -> Callable[[int, int], int]:
    """A rule's points in cents from (numerator, denominator), as :func:`score_metric`
    rounds them (half up), in integers: max = mn/md, threshold = tn/td percent."""
    mf = Fraction(rule.max_points)
    mn, md = mf.numerator, mf.denominator
    full = (2 * mn * 100 + md) // (2 * md)
    if rule.method is Method.monitor:
        return lambda n, d: 0
    empty = full if rule.empty_denominator is EmptyDenominator.full else 0
    if rule.method is Method.linear:

        def linear(n: int, d: int) -> int:
            if not d:
                return empty
            return (2 * mn * 100 * n + md * d) // (2 * md * d)

        return linear
    assert rule.threshold_pct is not None
    tf = Fraction(rule.threshold_pct)
    tn, td = tf.numerator, tf.denominator

    def threshold(n: int, d: int) -> int:
        if not d:
            return empty
        if n * td * 100 >= d * tn:
            return full
        num, den = mn * 100 * n * td * 100, md * d * tn
        return (2 * num + den) // (2 * den)

    return threshold


_FAST: dict[int, list[tuple[MetricRule, Callable[[int, int], int]]]] = {}


def _fast_rules(table: ScoringTable) -> list[tuple[MetricRule, Callable[[int, int], int]]]:
    found = _FAST.get(id(table))
    if found is None or found[0][0] is not table.rules[0]:
        found = _FAST[id(table)] = [(r, _cents_of(r)) for r in table.rules]
    return found


def round_points(value: Fraction) -> Decimal:
    """Two decimals, half up, from an exact fraction (no binary float on the way)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(_CENT, rounding=ROUND_HALF_UP)


def score_metric(rule: MetricRule, counts: Counts) -> MetricScore:
    num, den = counts.numerator, counts.denominator
    ratio = Fraction(num, den) if den else None
    points: Decimal | None
    if rule.method is Method.monitor:
        points = None
    elif ratio is None:
        points = rule.max_points if rule.empty_denominator is EmptyDenominator.full else None
    else:
        share = ratio
        if rule.method is Method.threshold:
            assert rule.threshold_pct is not None
            share = min(Fraction(1), ratio / (Fraction(rule.threshold_pct) / 100))
        points = round_points(Fraction(rule.max_points) * share)
    return MetricScore(
        metric=rule.metric,
        name=rule.name,
        group=rule.group,
        method=rule.method,
        numerator=num,
        denominator=den,
        ratio=None if ratio is None else float(ratio * 100),
        points=points,
        max=rule.max_points,
    )


def sum_counts(parts: Iterable[Mapping[str, Counts]]) -> dict[str, Counts]:
    """An aggregate's counts: every metric's numerators and denominators summed."""
    total: dict[str, tuple[int, int]] = {}
    for part in parts:
        for metric, c in part.items():
            n, d = total.get(metric, (0, 0))
            total[metric] = (n + c.numerator, d + c.denominator)
    return {m: Counts(numerator=n, denominator=d) for m, (n, d) in total.items()}


class ScoringTables(BaseModel):
    """Every version of the table; :meth:`in_force` picks the one of an evaluation date."""

    model_config = ConfigDict(frozen=True)

    tables: tuple[ScoringTable, ...]  # by valid_from

    def in_force(self, on: date) -> ScoringTable | None:
        """The latest version valid on ``on``; None before the first (no 766 index then)."""
        found = None
        for table in self.tables:
            if table.valid_from <= on:
                found = table
        return found


def parse_index766_csv(text: str) -> ScoringTables:
    rows = [MetricRule.model_validate(r) for r in csv.DictReader(io.StringIO(text))]
    versions: dict[str, list[MetricRule]] = {}
    for row in rows:
        versions.setdefault(row.version, []).append(row)
    tables = []
    for version, rules in versions.items():
        starts = {r.valid_from for r in rules}
        if len(starts) != 1:
            raise ValueError(f"version {version}: one valid_from expected, got {sorted(starts)}")
        tables.append(ScoringTable(version=version, valid_from=starts.pop(), rules=tuple(rules)))
    tables.sort(key=lambda t: t.valid_from)
    return ScoringTables(tables=tuple(tables))


@lru_cache(maxsize=1)
def load_index766() -> ScoringTables:
    text = resources.files("shared.domain.data").joinpath("index766.csv").read_text("utf-8")
    return parse_index766_csv(text)
