"""The Decision 766 gauges: a unit's total and band, the aggregates scored on summed
counts (never an average), the band counts per group, ended units left out."""

from __future__ import annotations

from datetime import date

from services.calculator import index766_metrics
from services.calculator.index766_metrics import TOTAL, UNITS, Row, _period_rows, publish
from shared.domain.catalog import load_agencies
from shared.domain.index766 import Band, load_index766
from shared.domain.procedures import ProcedureCatalog
from shared.store.catalogs import Catalogs

TABLE = load_index766().in_force(date(2026, 12, 1))
CATALOGS = Catalogs(1, load_agencies(), ProcedureCatalog([]))
TODAY = date(2026, 12, 3)
A, B, C = "H01.05", "H01.06", "H01.101"  # two so_nganh units, one dia_phuong


def samples(gauge: object) -> dict[tuple[str, ...], float]:
    out = {}
    for metric in gauge.collect():  # type: ignore[attr-defined]
        for s in metric.samples:
            out[tuple(s.labels.values())] = s.value
    return out


def test_units_and_aggregates_on_summed_counts() -> None:
    assert TABLE is not None
    pairs = {
        A: {"ON_TIME": (0, 100)},  # 80.00: ON_TIME 0/20
        B: {"ON_TIME": (100, 100)},  # 100.00
        C: {"ON_TIME": (50, 100), "ONLINE_FULL_PROCESS": (0, 10)},  # 100 − 10 − 12 = 78.00
    }
    rows = {r.scope: r for r in _period_rows("year", TABLE, CATALOGS, pairs, TODAY)}
    assert (rows[A].total, rows[A].band, rows[A].group) == (80.0, Band.tot, "so_nganh")
    assert rows[C].total == 78.0 and rows[C].band is Band.kha
    # so_nganh: ON_TIME 100/200 → 10 points lost, not the average of 80 and 100 (same here)
    assert rows["group:so_nganh"].total == 90.0
    # the province: ON_TIME 150/300 (−10), ONLINE_FULL_PROCESS 0/10 (−12): 78, where the
    # average of the three units would be 86
    assert rows["province"].total == 78.0 and rows["province"].group == "province"


def test_ended_unit_counts_in_aggregates_but_has_no_series() -> None:
    assert TABLE is not None
    ended = next(a for a in CATALOGS.agencies.agencies.values() if a.valid_to is not None)
    day = ended.valid_to
    assert day is not None
    rows = _period_rows(
        "year",
        TABLE,
        CATALOGS,
        {ended.agency_code: {"ON_TIME": (0, 10)}},
        day.replace(year=day.year + 1),
    )
    assert ended.agency_code not in {r.scope for r in rows}
    assert rows and rows[-1].scope in index766_metrics.AGGREGATES and rows[-1].total < 100


def test_publish_replaces_the_series_and_counts_bands() -> None:
    publish([Row(A, "so_nganh", "year", 65.0, Band.trung_binh)])
    publish(
        [
            Row(A, "so_nganh", "year", 72.5, Band.kha),
            Row(B, "so_nganh", "year", 91.0, Band.xuat_sac),
            Row("province", "province", "year", 80.0, Band.tot),
        ]
    )
    totals = samples(TOTAL)
    assert totals == {
        (A, "so_nganh", "year", "Khá"): 72.5,  # the old band's series is gone
        (B, "so_nganh", "year", "Xuất sắc"): 91.0,
        ("province", "province", "year", "Tốt"): 80.0,
    }
    units = samples(UNITS)
    assert units[("year", "so_nganh", "Khá")] == 1 and units[("year", "so_nganh", "Xuất sắc")] == 1
    assert units[("year", "so_nganh", "Trung bình")] == 0  # every band, zeros included
    assert units[("year", "dia_phuong", "Yếu")] == 0
    assert sum(units.values()) == 2  # the province is not a unit
