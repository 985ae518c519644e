"""The national portal's Decision 766 export (domain README §8): parsing XLSX and CSV,
checking columns and cells (each error naming line and column), exact code matching, and
the per-unit differences."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import Workbook

from shared.domain.catalog import load_agencies
from shared.domain.exceptions import PortalFileError
from shared.domain.index766 import load_index766
from shared.domain.portal766 import (
    EXPORT_GROUPS,
    by_largest_difference,
    compare_unit,
    group_info,
    missing_units,
    parse_portal_export,
    split_known,
)

TABLE = load_index766().in_force(date(2026, 10, 31))
assert TABLE is not None
GROUPS = group_info(TABLE)
MAXIMA = {g.group: g.max for g in GROUPS}
HEADER = "MA_COQUAN,TEN,TDGQ,MDHL,MDSH,TTTT,CLGQ,CKMB,TONG_SCORE"
# the portal's reference of issue 19: 65.49 = 17.72 + 11.18 + 9.08 + 6.69 + 8.97 + 11.85
REF = ["17.72", "11.18", "9.08", "6.69", "8.97", "11.85", "65.49"]


def csv_bytes(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def xlsx_bytes(rows: Sequence[Sequence[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_group_maxima_are_the_scoring_tables() -> None:
    assert {
        "TDGQ": Decimal(20),
        "MDHL": Decimal(18),
        "MDSH": Decimal(22),
        "TTTT": Decimal(10),
        "CLGQ": Decimal(12),
        "CKMB": Decimal(18),
    } == MAXIMA
    assert [g.group for g in GROUPS] == ["TDGQ", "MDHL", "MDSH", "TTTT", "CLGQ", "CKMB"]


def test_a_csv_export_is_parsed() -> None:
    rows = parse_portal_export(
        csv_bytes(HEADER, "H01.05,Sở Khoa học và Công nghệ," + ",".join(REF)), MAXIMA
    )
    assert len(rows) == 1
    row = rows[0]
    assert (row.line, row.agency_code, row.name) == (2, "H01.05", "Sở Khoa học và Công nghệ")
    assert row.groups == dict(zip(EXPORT_GROUPS, map(Decimal, REF[:6]), strict=True))
    assert row.total == Decimal("65.49")


def test_semicolons_decimal_commas_a_bom_other_columns_and_any_header_case() -> None:
    text = (
        "\ufeffSTT;ma_coquan;Ten;TDGQ;MDHL;MDSH;TTTT;CLGQ;CKMB;Tong_Score\n"
        "\n"
        '1;H01.101;UBND phường Long Xuyên;"20";18;22,00;10;12;18;100\n'
    )
    rows = parse_portal_export(text.encode("utf-8"), MAXIMA)
    assert rows[0].agency_code == "H01.101" and rows[0].line == 3  # the blank line counts
    assert rows[0].groups["MDSH"] == Decimal("22.00") and rows[0].total == Decimal(100)


def test_an_xlsx_export_is_parsed_with_the_sheets_row_numbers() -> None:
    data = xlsx_bytes(
        [
            ["Bảng điểm 766 — tháng 10/2026"],  # a title row above the header is not allowed
        ]
    )
    with pytest.raises(PortalFileError) as exc:
        parse_portal_export(data, MAXIMA)
    assert exc.value.missing_columns[0] == "MA_COQUAN"
    data = xlsx_bytes(
        [
            HEADER.split(","),
            ["H01.05", "Sở Khoa học và Công nghệ", 17.72, 11.18, 9.08, 6.69, 8.97, 11.85, 65.49],
            [None] * 9,
            ["H01.06", "Sở Công Thương", 20, 18, 22, 10, 12, 18, 100],
        ]
    )
    rows = parse_portal_export(data, MAXIMA)
    assert [(r.line, r.agency_code) for r in rows] == [(2, "H01.05"), (4, "H01.06")]
    assert rows[0].groups["TDGQ"] == Decimal("17.72") and rows[0].total == Decimal("65.49")
    assert rows[1].groups["MDSH"] == Decimal(22)


def test_a_missing_column_is_named() -> None:
    data = csv_bytes("MA_COQUAN,TEN,TDGQ,MDHL,MDSH,CLGQ,CKMB", "H01.05,x,1,1,1,1,1")
    with pytest.raises(PortalFileError) as exc:
        parse_portal_export(data, MAXIMA)
    assert exc.value.missing_columns == ["TTTT", "TONG_SCORE"]
    assert "missing column(s) TTTT, TONG_SCORE" in str(exc.value)
    xlsx = xlsx_bytes([["MA_COQUAN", "TDGQ", "MDHL", "MDSH", "TTTT", "CLGQ", "CKMB", "TONG_SCORE"]])
    with pytest.raises(PortalFileError) as exc:
        parse_portal_export(xlsx, MAXIMA)
    assert exc.value.missing_columns == ["TEN"]


def test_every_bad_cell_is_named_by_line_and_column() -> None:
    data = csv_bytes(
        HEADER,
        "H01.05,a,17.72,11.18,abc,6.69,8.97,11.85,65.49",  # not a number
        "H01.06,b,20.5,11.18,9.08,6.69,8.97,11.85,65.49",  # above TDGQ's 20
        "H01.07,c,17.72,-1,9.08,6.69,8.97,11.85,65.49",  # negative
        "H01.08,d,17.72,11.18,9.08,6.69,8.97,,65.49",  # empty
        "H01.09,e,17.72,11.18,9.08,10.01,8.97,11.85,100.5",  # TTTT above 10, total above 100
        ",f,1,1,1,1,1,1,6",  # no code
        "H01.05,g,1,1,1,1,1,1,6",  # repeated code
        "H01.10,h,NaN,1,1,1,1,1,6",
    )
    with pytest.raises(PortalFileError) as exc:
        parse_portal_export(data, MAXIMA)
    assert exc.value.missing_columns == []
    assert exc.value.errors == [
        "line 2, column MDSH: 'abc' is not a number",
        "line 3, column TDGQ: 20.5 is outside 0..20",
        "line 4, column MDHL: -1 is outside 0..18",
        "line 5, column CKMB: empty, a number is required",
        "line 6, column TTTT: 10.01 is outside 0..10",
        "line 6, column TONG_SCORE: 100.5 is outside 0..100",
        "line 7, column MA_COQUAN: empty",
        "line 8, column MA_COQUAN: 'H01.05' repeats line 2",
        "line 9, column TDGQ: 'NaN' is not a number",
    ]


def test_an_xlsx_text_cell_that_is_no_number_is_named() -> None:
    data = xlsx_bytes(
        [HEADER.split(","), ["H01.05", "x", "mười", 11.18, 9.08, 6.69, 8.97, 11.85, 65.49]]
    )
    with pytest.raises(PortalFileError) as exc:
        parse_portal_export(data, MAXIMA)
    assert exc.value.errors == ["line 2, column TDGQ: 'mười' is not a number"]


def test_files_that_are_neither_are_refused() -> None:
    with pytest.raises(PortalFileError, match="not a readable XLSX"):
        parse_portal_export(b"PK\x03\x04broken zip", MAXIMA)
    with pytest.raises(PortalFileError, match="must be UTF-8"):
        parse_portal_export("MA_COQUAN,TEN\nH01.05,Sở Tư pháp".encode("utf-16"), MAXIMA)
    with pytest.raises(PortalFileError, match="no unit rows"):
        parse_portal_export(csv_bytes(HEADER), MAXIMA)


def test_codes_are_matched_exactly_never_by_name() -> None:
    units = load_agencies().valid_between(date(2026, 10, 1), date(2026, 10, 31))
    data = csv_bytes(
        HEADER,
        "H01.05,Sở Khoa học và Công nghệ," + ",".join(REF),
        # the name of H01.06 under an unknown code: not matched to H01.06
        "H01.999,Sở Công Thương," + ",".join(REF),
        # a code of the catalog that ended on 2025-06-30: not in force in October 2026
        "so-gddt,Sở Giáo dục và Đào tạo," + ",".join(REF),
        "h01.06,Sở Công Thương," + ",".join(REF),  # codes are case-sensitive
    )
    known, unknown = split_known(parse_portal_export(data, MAXIMA), units)
    assert [r.agency_code for r in known] == ["H01.05"]
    assert [(u.line, u.code, u.name) for u in unknown] == [
        (3, "H01.999", "Sở Công Thương"),
        (4, "so-gddt", "Sở Giáo dục và Đào tạo"),
        (5, "h01.06", "Sở Công Thương"),
    ]
    missing = missing_units(known, units)
    assert len(missing) == len(units) - 1
    assert "H01.06" in {m.agency_code for m in missing}
    assert "H01.05" not in {m.agency_code for m in missing}


def test_differences_are_flagged_above_the_threshold_and_sorted() -> None:
    catalog = load_agencies()
    rows = parse_portal_export(
        csv_bytes(
            HEADER,
            "H01.05,a," + ",".join(REF),
            "H01.06,b,17.72,11.18,9.08,6.69,8.97,11.85,65.49",
            "H01.07,c,17.72,11.18,9.08,6.69,8.97,11.85,65.49",
        ),
        MAXIMA,
    )
    ref = dict(zip(EXPORT_GROUPS, map(Decimal, REF[:6]), strict=True))
    one = Decimal(1)
    same = compare_unit(rows[0], catalog.get("H01.05"), GROUPS, Decimal("65.49"), ref, one)  # type: ignore[arg-type]
    assert not same.flagged and same.largest_difference == 0
    assert all(g.difference == 0 and not g.flagged for g in same.groups)
    # TDGQ 2 points below the portal's: the group and the unit flagged
    low = {**ref, "TDGQ": Decimal("15.72")}
    off = compare_unit(rows[1], catalog.get("H01.06"), GROUPS, Decimal("63.49"), low, one)  # type: ignore[arg-type]
    assert off.flagged and off.total_difference == -2.0 and off.largest_difference == 2.0
    assert [(g.group, g.difference, g.flagged) for g in off.groups if g.difference] == [
        ("TDGQ", -2.0, True)
    ]
    # exactly 1 point apart is not "more than 1 point"
    edge = {**ref, "CKMB": Decimal("12.85")}
    at_one = compare_unit(rows[2], catalog.get("H01.07"), GROUPS, Decimal("66.49"), edge, one)  # type: ignore[arg-type]
    assert not at_one.flagged and at_one.largest_difference == 1.0
    ordered = by_largest_difference([same, at_one, off])
    assert [u.agency_code for u in ordered] == ["H01.06", "H01.07", "H01.05"]
