"""The Decision 766 formulas on the counted inputs (``shared.readmodel.index766_inputs``),
hand-computed: every metric's numerator and denominator, the 0/0 rule, the threshold
metrics around 80 %, the evaluation instant and the publications' latest-event rule."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.calendar import LOCAL_TZ
from shared.domain.index766 import Counts, load_index766
from shared.domain.periods import parse_period
from shared.domain.procedures import Procedure
from shared.readmodel.index766_inputs import aggregate, evaluation, unit_counts, unit_pairs
from shared.store.index766_reads import (
    Publication,
    Raw766,
    latest_publications,
    local_midnight_s,
    months_of,
)

_TABLE = load_index766().in_force(date(2026, 10, 31))
assert _TABLE is not None
TABLE = _TABLE


def proc(code: str, **flags: bool) -> Procedure:
    return Procedure(
        procedure_code=code,
        agency_code="so-tttt",
        name=code,
        service_level="partial_online",
        eligible_full_online=flags.get("eligible", False),
        fee_required=flags.get("fee", False),
        citizen_data_connected=flags.get("citizen", False),
        certified_copy=flags.get("certified", False),
    )


CATALOG = [
    proc("e1", eligible=True, fee=True, citizen=True),
    proc("e2", eligible=True),
    proc("f1", fee=True),
    proc("f2", fee=True, citizen=True),
    proc("c1", certified=True),
    proc("c2", certified=True),
]

RAW = Raw766(
    marks={
        "received": 100,
        "received_full_online_online": 30,
        "received_digitized": 41,
        "received_reused_data": 12,
        "received_digitized_shared": 7,
        "received_citizen_data": 55,
        "c_synced": 90,
        "c_returned_electronic": 60,
        "c_late": 8,
        "c_unsat_or_late": 11,
        "pk_received": 20,
        "pk_class_procedure": 6,
        "pk_class_staff": 3,
        "pk_on_time": 15,
        "pk_unsat_or_late": 5,
    },
    proc_received={"e1": 25, "e2": 15, "f1": 3, "c1": 10, "c2": 6, "gone": 40},
    proc_returned_e={"c1": 9, "c2": 1, "e1": 20},
    dos_paid=50,
    dos_paid_online=35,
    proc_paid_online=frozenset({"f2", "e2", "not-in-catalog"}),
    open_overdue={"d": 4, "du": 1, "p": 2, "pu": 1},
    publications={
        "e1": Publication(True, True, True, True),
        "f1": Publication(False, True, False, False),
        "x9": Publication(True, False, False, False),
    },
)


def test_every_formula_by_hand() -> None:
    got = {m: (c.numerator, c.denominator) for m, c in unit_counts(RAW, CATALOG).items()}
    assert got == {
        "PUBLISH_ON_TIME": (2, 3),  # e1, x9 decided on time / 3 published
        "PUBLIC_UPDATE_ON_TIME": (1, 3),
        "PUBLIC_CONTENT_FULL": (1, 2),  # e1 of the publicized e1, f1
        "DOSSIER_SYNC": (90, 100),
        "ON_TIME": (88, 100),  # 100 − 8 late − 4 open past due
        "ONLINE_FULL_PROCESS": (30, 40),  # / dossiers of e1, e2
        "PAYMENT_DOSSIER_ONLINE": (35, 50),
        "PAYMENT_PROCEDURE_TRANSACTED": (1, 3),  # f2 of the fee e1, f1, f2
        "PAYMENT_PROCEDURE_WITH_DOSSIERS": (2, 3),  # e1, f1
        "ORIGINAL_RESULT_AVAILABLE": (60, 100),
        "SO_HOA_GIAY_TO_GIAI_QUYET": (41, 100),
        "REUSED_DIGITIZED_DATA": (12, 100),
        "SYNCED_WITH_DVCQG_PERSONAL_STORAGE": (7, 100),
        "CITIZEN_DATA_CONNECTED_DOSSIER": (55, 100),
        "CITIZEN_DATA_CONNECTED_FORMALITY": (2, 6),
        "ELECTRONIC_CERTIFIED_COPY": (10, 16),  # c1 + c2
        "DOSSIER_RECEIVING_SATISFACTION": (86, 100),  # 100 − 11 − 4 + 1
        "PETITION_PROCESSING_ON_TIME": (15, 20),
        "PETITION_HANDLING_SATISFACTION": (14, 20),  # 20 − 5 − 2 + 1
        "PETITION_CLASSIFICATION_TTHC": (6, 20),
        "PETITION_CLASSIFICATION_STAFF": (3, 20),
    }
    assert set(got) == set(TABLE.metrics)


def test_scores_by_hand() -> None:
    scored = TABLE.score(unit_counts(RAW, CATALOG))
    pts = {m.metric: m.points for m in scored.metrics}
    assert pts["ON_TIME"] == Decimal("17.60")
    assert pts["PAYMENT_PROCEDURE_TRANSACTED"] == Decimal("0.83")  # 2 × (1/3) / 0.8
    assert pts["DOSSIER_RECEIVING_SATISFACTION"] == Decimal("5.73")  # 6 × 0.86 / 0.9
    assert pts["ELECTRONIC_CERTIFIED_COPY"] == Decimal("1.25")
    assert pts["PETITION_CLASSIFICATION_TTHC"] is None
    groups = {g.group: g.points for g in scored.groups}
    assert groups == {
        "CKMB": Decimal("4.00") + Decimal("1.33") + Decimal("1.00") + Decimal("5.40"),
        "TDGQ": Decimal("17.60"),
        "CLGQ": Decimal("9.00"),
        "TTTT": Decimal("4.20") + Decimal("0.83") + Decimal("1.67"),
        "MDSH": Decimal("3.60")
        + Decimal("1.64")
        + Decimal("0.30")
        + Decimal("0.28")
        + Decimal("1.10")
        + Decimal("0.67")
        + Decimal("1.25"),
        "MDHL": Decimal("5.73") + Decimal("4.50") + Decimal("4.20"),
    }
    assert scored.total == sum(groups.values())


def test_empty_inputs_score_full_points() -> None:
    """A unit with nothing counted and no procedure: every metric 0/0, 100 points."""
    counts = unit_counts(Raw766(), [])
    assert all(c == Counts(numerator=0, denominator=0) for c in counts.values())
    scored = TABLE.score(counts)
    assert scored.total == 100 and scored.band.value == "Xuất sắc"
    # a catalog without a fee procedure: the payment procedure metrics stay 0/0 (full)
    with_catalog = unit_counts(Raw766(), [proc("c1", certified=True)])
    assert with_catalog["PAYMENT_PROCEDURE_TRANSACTED"] == Counts(numerator=0, denominator=0)
    assert with_catalog["CITIZEN_DATA_CONNECTED_FORMALITY"] == Counts(numerator=0, denominator=1)


def reused(share: int) -> tuple[Decimal | None, Decimal | None]:
    """REUSED_DIGITIZED_DATA (threshold 80 %) and SO_HOA (linear) at share/10,000."""
    raw = Raw766(
        marks={"received": 10_000, "received_reused_data": share, "received_digitized": share}
    )
    scored = {m.metric: m.points for m in TABLE.score(unit_counts(raw, [])).metrics}
    return scored["REUSED_DIGITIZED_DATA"], scored["SO_HOA_GIAY_TO_GIAI_QUYET"]


def test_threshold_metric_around_80_percent() -> None:
    assert reused(8000) == (Decimal("2.00"), Decimal("3.20"))  # 80 %: full points
    assert reused(10_000) == (Decimal("2.00"), Decimal("4.00"))  # capped at the maximum
    # 79.99 %: 2 × 0.9999 = 1.99975, rounded half up to 2.00; linear 3.1996 → 3.20
    assert reused(7999) == (Decimal("2.00"), Decimal("3.20"))
    assert reused(7980) == (Decimal("2.00"), Decimal("3.19"))  # 1.995 → 2.00 (half up)
    assert reused(7979) == (Decimal("1.99"), Decimal("3.19"))  # 1.99475
    assert reused(4000) == (Decimal("1.00"), Decimal("1.60"))


def test_online_full_process_never_exceeds_its_denominator() -> None:
    """Dossiers received online under a full_online procedure the catalog no longer marks
    eligible still count as dossiers of an eligible procedure."""
    raw = Raw766(marks={"received": 10, "received_full_online_online": 4}, proc_received={"x": 10})
    assert unit_counts(raw, [])["ONLINE_FULL_PROCESS"] == Counts(numerator=4, denominator=4)


def test_aggregate_sums_counts_never_scores() -> None:
    a = unit_counts(RAW, CATALOG)
    b = unit_counts(Raw766(marks={"received": 100, "c_synced": 10}), [])
    summed = aggregate({"a": a, "b": b}, ["a", "b", "unknown"])
    assert summed["DOSSIER_SYNC"] == Counts(numerator=100, denominator=200)
    total = TABLE.score(summed).total
    average = (TABLE.score(a).total + TABLE.score(b).total) / 2
    assert total != average


def test_evaluation_instant() -> None:
    october = parse_period("2026-10")
    midnight = local_midnight_s(date(2026, 11, 1))
    assert midnight == datetime(2026, 11, 1, tzinfo=LOCAL_TZ).timestamp()
    closed = evaluation(october, midnight + 86_400 * 40)
    assert (closed.instant_s, closed.day, closed.closed) == (midnight, date(2026, 10, 31), True)
    running = evaluation(october, midnight - 3600.7)  # 31 Oct 23:00:xx local
    assert (running.instant_s, running.day, running.closed) == (
        midnight - 3601,
        date(2026, 10, 31),
        False,
    )
    year = evaluation(parse_period("2026"), local_midnight_s(date(2026, 12, 3)) + 60)
    assert year.day == date(2026, 12, 3) and not year.closed
    assert months_of(date(2026, 11, 1), date(2027, 2, 28)) == [
        "202611",
        "202612",
        "202701",
        "202702",
    ]


def test_latest_publication_per_procedure() -> None:
    flat = [
        b"p1|aa|1111",
        b"100",
        b"p1|bb|0000",
        b"200",
        b"p2|aa|0101",
        b"150",
        b"p2|ff|1010",
        b"150",  # a tie: the highest member
    ]
    assert latest_publications(flat) == {
        "p1": Publication(False, False, False, False),
        "p2": Publication(True, False, True, False),
    }


@given(
    st.lists(
        st.tuples(st.integers(0, 10**7), st.integers(0, 10**7)).map(lambda t: (min(t), max(t))),
        min_size=21,
        max_size=21,
    )
)
@settings(max_examples=400, deadline=None)
def test_fast_totals_equal_the_scoring(pairs: list[tuple[int, int]]) -> None:
    """``ScoringTable.totals`` (integers, for rankings) gives exactly ``score``'s total,
    band and group points, 0/0 and the thresholds included."""
    counts = {
        m: Counts(numerator=n, denominator=d)
        for m, (n, d) in zip(TABLE.metrics, pairs, strict=True)
    }
    scored = TABLE.score(counts)
    total, band, groups = TABLE.totals(dict(zip(TABLE.metrics, pairs, strict=True)))
    assert (total, band) == (scored.total, scored.band)
    assert groups == {g.group: g.points for g in scored.groups}


def test_fast_totals_at_the_rounding_edges() -> None:
    for share in (7979, 7980, 7999, 8000, 10_000, 0, 1, 5, 625, 1875):
        raw = Raw766(
            marks={
                "received": 10_000,
                "received_reused_data": share,
                "received_digitized": share,
                "c_unsat_or_late": 10_000 - share,
            }
        )
        scored = TABLE.score(unit_counts(raw, []))
        pairs = unit_pairs(raw, [])
        assert TABLE.totals(pairs)[0] == scored.total
        assert TABLE.totals(pairs)[2] == {g.group: g.points for g in scored.groups}
