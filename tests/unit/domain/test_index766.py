"""The 766 scoring table (domain README §8): the national portal's own figures for one
province (year to date on 2026-10-10) reproduced to the cent, the rule kinds, bands and
versions, and properties of any counts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain.index766 import (
    Band,
    Counts,
    band_of,
    load_index766,
    parse_index766_csv,
    sum_counts,
)

_IN_FORCE = load_index766().in_force(date(2026, 10, 10))
assert _IN_FORCE is not None
TABLE = _IN_FORCE


def c(numerator: int, denominator: int) -> Counts:
    return Counts(numerator=numerator, denominator=denominator)


# numerator / denominator → points, as the portal published them
REFERENCE = {
    "PUBLISH_ON_TIME": (c(0, 82), "0.00"),
    "PUBLIC_UPDATE_ON_TIME": (c(79, 82), "3.85"),
    "PUBLIC_CONTENT_FULL": (c(79, 79), "2.00"),
    "DOSSIER_SYNC": (c(370_610, 370_610), "6.00"),
    "ON_TIME": (c(393_087, 443_565), "17.72"),
    "ONLINE_FULL_PROCESS": (c(7_475, 10_000), "8.97"),  # the portal gives the ratio 74.75 %
    "PAYMENT_DOSSIER_ONLINE": (c(179_460, 204_757), "5.26"),
    "PAYMENT_PROCEDURE_TRANSACTED": (c(160, 376), "1.06"),
    "PAYMENT_PROCEDURE_WITH_DOSSIERS": (c(56, 376), "0.37"),
    "ORIGINAL_RESULT_AVAILABLE": (c(284_995, 443_565), "3.86"),
    "SO_HOA_GIAY_TO_GIAI_QUYET": (c(93_664, 443_565), "0.84"),
    "REUSED_DIGITIZED_DATA": (c(82_645, 443_565), "0.47"),
    "SYNCED_WITH_DVCQG_PERSONAL_STORAGE": (c(9_499, 443_565), "0.09"),
    "CITIZEN_DATA_CONNECTED_DOSSIER": (c(279_339, 443_565), "1.26"),
    "CITIZEN_DATA_CONNECTED_FORMALITY": (c(380, 1_346), "0.56"),
    "ELECTRONIC_CERTIFIED_COPY": (c(0, 0), "2.00"),
    "DOSSIER_RECEIVING_SATISFACTION": (c(392_869, 443_565), "5.90"),
    "PETITION_PROCESSING_ON_TIME": (c(241, 485), "2.98"),
    "PETITION_HANDLING_SATISFACTION": (c(186, 485), "2.30"),
}
GROUPS = {
    "CKMB": "11.85",
    "TDGQ": "17.72",
    "CLGQ": "8.97",
    "TTTT": "6.69",
    "MDSH": "9.08",
    "MDHL": "11.18",
}


def test_the_portals_province_is_reproduced_to_the_cent() -> None:
    score = TABLE.score({m: counts for m, (counts, _) in REFERENCE.items()})
    points = {m.metric: m.points for m in score.metrics}
    for metric, (_, expected) in REFERENCE.items():
        assert points[metric] == Decimal(expected), metric
    assert {g.group: g.points for g in score.groups} == {k: Decimal(v) for k, v in GROUPS.items()}
    assert score.total == Decimal("65.49")
    assert score.band is Band.trung_binh
    assert score.version == "portal-2026"


def test_the_table_has_six_groups_21_metrics_and_100_points() -> None:
    assert len(TABLE.rules) == 21
    assert sum(g.max for g in TABLE.score({}).groups) == 100
    assert [g.group for g in TABLE.score({}).groups] == [
        "CKMB",
        "TDGQ",
        "CLGQ",
        "TTTT",
        "MDSH",
        "MDHL",
    ]


def test_threshold_metric_at_79_99_and_80_percent() -> None:
    rule = next(r for r in TABLE.rules if r.metric == "REUSED_DIGITIZED_DATA")  # 2 points, 80 %
    at = TABLE.score({rule.metric: c(8_000, 10_000)})
    below = TABLE.score({rule.metric: c(7_999, 10_000)})
    above = TABLE.score({rule.metric: c(10_000, 10_000)})
    points = {
        s: next(m.points for m in x.metrics if m.metric == rule.metric)
        for s, x in (("at", at), ("below", below), ("above", above))
    }
    # at and above the threshold: the maximum; at 79.99 %, 2 × 79.99/80 = 1.99975, which
    # rounds half up to 2.00 — the portal's rounding, not a threshold met
    assert points == {"at": Decimal("2.00"), "below": Decimal("2.00"), "above": Decimal("2.00")}
    for ratio, expected in ((7_950, "1.99"), (7_900, "1.98"), (4_000, "1.00")):
        low = TABLE.score({rule.metric: c(ratio, 10_000)})
        got = next(m.points for m in low.metrics if m.metric == rule.metric)
        assert got == Decimal(expected), ratio


def test_empty_denominators_score_full_points_monitors_none() -> None:
    score = TABLE.score({})
    for m in score.metrics:
        if m.method == "monitor":
            assert m.points is None and m.max == 0
        else:
            assert m.points == m.max and m.ratio is None
    assert score.total == 100 and score.band is Band.xuat_sac


@pytest.mark.parametrize(
    ("total", "band"),
    [
        ("90", "Xuất sắc"),
        ("89.99", "Tốt"),
        ("80", "Tốt"),
        ("79.99", "Khá"),
        ("70", "Khá"),
        ("69.99", "Trung bình"),
        ("50", "Trung bình"),
        ("49.99", "Yếu"),
        ("0", "Yếu"),
    ],
)
def test_bands(total: str, band: str) -> None:
    assert band_of(Decimal(total)) == band


def test_versions_by_valid_from() -> None:
    tables = parse_index766_csv(_csv_with_second_version())
    assert tables.in_force(date(2025, 6, 30)) is None  # no 766 table before the first
    assert tables.in_force(date(2026, 12, 31)).version == "portal-2026"  # type: ignore[union-attr]
    assert tables.in_force(date(2027, 1, 1)).version == "v2027"  # type: ignore[union-attr]


def _csv_with_second_version() -> str:
    from importlib import resources

    text = resources.files("shared.domain.data").joinpath("index766.csv").read_text("utf-8")
    header, *rows = text.strip().splitlines()
    again = [r.replace("portal-2026,2025-07-01", "v2027,2027-01-01") for r in rows]
    return "\n".join([header, *rows, *again]) + "\n"


def test_a_table_whose_groups_do_not_sum_to_100_is_refused() -> None:
    text = _csv_with_second_version()
    broken = text.replace(
        'Tiến độ giải quyết,20,ON_TIME,"Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn",20',
        'Tiến độ giải quyết,20,ON_TIME,"Tỷ lệ hồ sơ giải quyết trước hạn, đúng hạn",19',
        1,
    )
    assert broken != text
    with pytest.raises(ValueError, match="TDGQ"):
        parse_index766_csv(broken)


def test_numerator_above_denominator_is_refused() -> None:
    with pytest.raises(ValueError, match="numerator"):
        c(5, 4)


SCORED = [r.metric for r in TABLE.rules if r.method != "monitor"]
counts_st = st.integers(0, 10_000).flatmap(
    lambda d: st.builds(lambda n: c(n, d), st.integers(0, d))
)
unit_st = st.dictionaries(st.sampled_from(TABLE.metrics), counts_st, max_size=21)
# a shared machine: generation may be slow, never the property
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(unit_st)
def test_points_within_bounds_and_groups_never_above_their_maximum(counts) -> None:
    score = TABLE.score(counts)
    for m in score.metrics:
        if m.points is not None:
            assert 0 <= m.points <= m.max
    for g in score.groups:
        assert 0 <= g.points <= g.max
    assert score.total == sum(g.points for g in score.groups)
    assert 0 <= score.total <= 100


@SETTINGS
@given(st.sampled_from(SCORED), st.integers(1, 5_000), st.data())
def test_points_are_monotone_in_the_numerator(metric, denominator, data) -> None:
    a = data.draw(st.integers(0, denominator))
    b = data.draw(st.integers(a, denominator))
    low = TABLE.score({metric: c(a, denominator)})
    high = TABLE.score({metric: c(b, denominator)})
    assert high.total >= low.total


@SETTINGS
@given(st.lists(unit_st, min_size=1, max_size=4))
def test_an_aggregate_is_the_scoring_of_summed_counts(units) -> None:
    summed = sum_counts(units)
    for metric in TABLE.metrics:
        expected_n = sum(u[metric].numerator for u in units if metric in u)
        expected_d = sum(u[metric].denominator for u in units if metric in u)
        got = summed.get(metric, c(0, 0))
        assert (got.numerator, got.denominator) == (expected_n, expected_d)
    # never an average of the units' scores: one unit at 0/10 and one at 90/90 give 90/100
    two = sum_counts([{"ON_TIME": c(0, 10)}, {"ON_TIME": c(90, 90)}])
    on_time = next(m for m in TABLE.score(two).metrics if m.metric == "ON_TIME")
    assert on_time.points == Decimal("18.00")
