"""The annual table as files leaders open: CSV (UTF-8 with BOM, so Excel shows Vietnamese
correctly) and XLSX laid out like the published appendix (merged group headers,
percentages as numbers with a percent format, a totals row).

Text that a spreadsheet would run as a formula (a catalog name beginning with ``=``, ``+``,
``-`` or ``@``) is written as text: in CSV with a leading ``'``, in XLSX as a string cell
with Excel's quote prefix."""

from __future__ import annotations

import csv
import io
import re

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.page import PageMargins
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from services.api.reports.annual_table import AnnualRow, AnnualTable

# (column key, header under its group); groups span the columns listed with them
COLUMNS: list[tuple[str, str]] = [
    ("stt", "STT"),
    ("agency_name", "Cơ quan, đơn vị"),
    ("hstn_total", "Tổng số HSTN"),
    ("tthc_total", "Tổng số TTHC"),
    ("in_person_only_hstn", "HSTN"),
    ("in_person_only_tthc", "TTHC"),
    ("partial_in_person_hstn", "HSTN trực tiếp"),
    ("partial_online_hstn", "HSTN trực tuyến"),
    ("partial_tthc", "TTHC"),
    ("full_in_person_hstn", "HSTN trực tiếp"),
    ("full_online_hstn", "HSTN trực tuyến"),
    ("full_tthc", "TTHC"),
    ("rate", "Tỷ lệ hồ sơ trực tuyến toàn trình"),
    ("verdict", "Kết quả"),
    ("category_sum_minus_total", "Chênh lệch (tổng các loại − HSTN)"),
]
GROUPS = [
    ("Một phần (Trực tiếp)", 5, 6),
    ("DVC trực tuyến một phần", 7, 9),
    ("DVC trực tuyến toàn trình", 10, 12),
]


CellValue = str | int | float | None

# What makes a spreadsheet read a cell as a formula (OWASP "CSV injection"); tab and CR too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?%?")


def spreadsheet_text(value: str) -> str:
    """``value`` as a CSV cell no spreadsheet runs: a leading ``'`` before a formula start
    (a signed number such as ``-1.50`` stays a number)."""
    if value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_cells(cells: list[CellValue]) -> list[CellValue]:
    """A CSV row with its text made safe (:func:`spreadsheet_text`); None is empty."""
    return ["" if c is None else spreadsheet_text(c) if isinstance(c, str) else c for c in cells]


def _cells(row: AnnualRow) -> list[CellValue]:
    data = row.model_dump(mode="json")
    out: list[CellValue] = []
    for key, _ in COLUMNS:
        value = data[key]
        if key == "rate":
            value = None if value is None else value / 100  # a number, shown as a percent
        if key == "stt" and value is None:
            value = ""
        out.append(value)
    return out


def to_csv(table: AnnualTable) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    group_row = [""] * len(COLUMNS)
    for title, first, _last in GROUPS:
        group_row[first - 1] = title
    writer.writerow(group_row)
    writer.writerow([header for _, header in COLUMNS])
    for row in [*table.rows, table.total]:
        cells = _cells(row)
        rate_index = [k for k, _ in COLUMNS].index("rate")
        rate = cells[rate_index]
        cells[rate_index] = "" if rate is None else f"{100 * float(rate):.2f}%"
        writer.writerow(csv_cells(cells))
    return "\ufeff".encode() + out.getvalue().encode("utf-8")


def print_setup(ws: Worksheet, header_rows: str) -> None:
    """Prints like the published appendix: A4 landscape, every column on one page width
    (as many pages down as needed), the header rows repeated on each page, wrapped text."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = header_rows
    ws.print_options.horizontalCentered = True
    ws.page_margins = PageMargins(left=0.4, right=0.4, top=0.5, bottom=0.5, header=0.3, footer=0.3)
    footer = ws.oddFooter
    if footer is not None and footer.center is not None:
        footer.center.text = "Trang &P / &N"
    # wrapped header text needs room: spreadsheet programs do not grow rows of merged cells
    ws.row_dimensions[1].height = 22
    first, _, last = header_rows.partition(":")
    for r in range(int(first), int(last or first) + 1):
        ws.row_dimensions[r].height = 40
    for row in ws.iter_rows(min_row=4, min_col=2, max_col=2):  # long agency names wrap
        for cell in row:
            cell.alignment = Alignment(vertical="center", wrap_text=True)


def to_xlsx(table: AnnualTable) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = f"Phụ lục {table.year}"
    bold = Font(bold=True)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    n = len(COLUMNS)
    title = f"Tỷ lệ hồ sơ trực tuyến toàn trình năm {table.year}" + (
        f" (bộ chỉ tiêu {table.target_set})" if table.target_set else ""
    )
    ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=13)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=n)
    # two header rows: groups merged across their columns, single columns merged down
    grouped = {c for _, first, last in GROUPS for c in range(first, last + 1)}
    for col, (_, header) in enumerate(COLUMNS, start=1):
        if col in grouped:
            ws.cell(row=3, column=col, value=header)
        else:
            ws.cell(row=2, column=col, value=header)
            ws.merge_cells(start_row=2, start_column=col, end_row=3, end_column=col)
    for group_title, first, last in GROUPS:
        ws.cell(row=2, column=first, value=group_title)
        ws.merge_cells(start_row=2, start_column=first, end_row=2, end_column=last)
    for r in (2, 3):
        for col in range(1, n + 1):
            cell = ws.cell(row=r, column=col)
            cell.font, cell.alignment, cell.border = bold, center, border
    rate_col = [k for k, _ in COLUMNS].index("rate") + 1
    for offset, row in enumerate([*table.rows, table.total]):
        r = 4 + offset
        for col, value in enumerate(_cells(row), start=1):
            cell = ws.cell(row=r, column=col, value=value)
            if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                cell.data_type = "s"  # text, never a formula
                cell.quotePrefix = True  # and it stays text when someone edits the cell
            cell.border = border
            if col == rate_col:
                cell.number_format = "0.00%"
            if row is table.total:
                cell.font = bold
    widths = [6, 38, 12, 10, 9, 9, 11, 11, 9, 11, 11, 9, 14, 14, 14]
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width
    ws.freeze_panes = "C4"
    print_setup(ws, header_rows="2:3")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
