"""PDF reports that print: the annual appendix table (A4 landscape, the two header rows
repeated on every page) and the leaders' monthly summary (A4 portrait). They render the
same :class:`AnnualTable` and :class:`LeadersSummary` the JSON routes return.

reportlab draws them (chosen against fpdf2 by ``bench/pdf_libraries.py``: about twice
as fast for a smaller file; both embed subset fonts). The text is set in DejaVu Sans (Debian's
``fonts-dejavu-core``; ``EGOV_PDF_FONT_DIR`` names another directory holding
``DejaVuSans.ttf`` and ``DejaVuSans-Bold.ttf``), embedded as a subset, so every Vietnamese
letter prints and ``pdftotext`` gets the text back.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from services.api.exceptions import FontMissing
from services.api.reports.annual_table import AnnualRow, AnnualTable
from services.api.reports.files import COLUMNS, GROUPS
from services.api.reports.summary import LeadersSummary
from shared.domain.calendar import LOCAL_TZ, now_utc
from shared.readmodel.display import pct, points
from shared.readmodel.figures import Verdict

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/local/share/fonts/dejavu"),
)
REGULAR_FILE, BOLD_FILE = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"
FONT, FONT_B = "EgovSans", "EgovSans-Bold"


def font_dir() -> Path:
    configured = os.environ.get("EGOV_PDF_FONT_DIR")
    for d in ([Path(configured)] if configured else []) + list(FONT_DIRS):
        if (d / REGULAR_FILE).is_file() and (d / BOLD_FILE).is_file():
            return d
    raise FontMissing(
        f"{REGULAR_FILE} not found in {', '.join(map(str, FONT_DIRS))}: install Debian's "
        "fonts-dejavu-core or set EGOV_PDF_FONT_DIR"
    )


def _font(name: str) -> Path:
    return font_dir() / name


FONT_REGULAR = FONT_DIRS[0] / REGULAR_FILE
FONT_BOLD = FONT_DIRS[0] / BOLD_FILE


@lru_cache(maxsize=1)
def _register_fonts() -> None:
    pdfmetrics.registerFont(TTFont(FONT, str(_font(REGULAR_FILE))))
    pdfmetrics.registerFont(TTFont(FONT_B, str(_font(BOLD_FILE))))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_B, italic=FONT, boldItalic=FONT_B)


def _style(
    size: float,
    *,
    bold: bool = False,
    align: Literal[0, 1, 2, 4] = 0,
    leading: float | None = None,
) -> ParagraphStyle:
    return ParagraphStyle(
        f"s{size}{bold}{align}",
        fontName=FONT_B if bold else FONT,
        fontSize=size,
        leading=leading or size * 1.25,
        alignment=align,
    )


def num(n: int | None) -> str:
    """40221 → ``40.221`` (Vietnamese thousands separator)."""
    return "" if n is None else f"{n:,}".replace(",", ".")


def _stamp() -> str:
    return now_utc().astimezone(LOCAL_TZ).strftime("%H:%M ngày %d/%m/%Y")


def _footer(text: str) -> Any:
    def draw(canvas: Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        width, _ = doc.pagesize
        canvas.drawString(doc.leftMargin, 6 * mm, text)
        canvas.drawRightString(width - doc.rightMargin, 6 * mm, f"Trang {doc.page}")
        canvas.restoreState()

    return draw


def _document(buf: io.BytesIO, pagesize: tuple[float, float], title: str) -> SimpleDocTemplate:
    return SimpleDocTemplate(
        buf,
        pagesize=pagesize,
        leftMargin=10 * mm,
        rightMargin=10 * mm,
        topMargin=10 * mm,
        bottomMargin=12 * mm,
        title=title,
        author="egov-monitor",
        subject=title,
        creator="egov-monitor",
        pageCompression=1,
    )


VERDICT_COLOURS = {
    Verdict.meets: colors.HexColor("#0d5d2a"),
    Verdict.below: colors.HexColor("#a0231b"),
    Verdict.not_evaluated: colors.HexColor("#424850"),
}


def _verdict_paragraph(verdict: Verdict | None, base: ParagraphStyle) -> Any:
    if verdict is None:
        return ""
    colour = VERDICT_COLOURS[verdict].hexval()[2:]
    return Paragraph(f'<font color="#{colour}">{escape(verdict.value)}</font>', base)


def _annual_cells(row: AnnualRow, cell: ParagraphStyle, name: ParagraphStyle) -> list[Any]:
    data = row.model_dump(mode="json")
    out: list[Any] = []
    for key, _ in COLUMNS:
        value = data[key]
        if key == "agency_name":
            out.append(Paragraph(escape(str(value)), name))
        elif key == "rate":
            out.append(row.rate_text or "—")
        elif key == "verdict":
            out.append(_verdict_paragraph(row.verdict, name))
        elif key == "stt":
            out.append("" if value is None else str(value))
        else:
            out.append(num(value))
    return out


def annual_pdf(table: AnnualTable) -> bytes:
    """The appendix table on A4 landscape pages, one page wide, header rows repeated."""
    _register_fonts()
    buf = io.BytesIO()
    what = "Tỷ lệ hồ sơ trực tuyến toàn trình"
    period = f"năm {table.year}" if table.period == str(table.year) else f"kỳ {table.period}"
    title = f"{what} {period}"
    doc = _document(buf, landscape(A4), title)
    head = _style(6.8, bold=True, align=TA_CENTER, leading=8)
    name = _style(7, leading=8.5)
    name_b = _style(7, bold=True, leading=8.5)
    n = len(COLUMNS)
    grouped = {c - 1 for _, first, last in GROUPS for c in range(first, last + 1)}
    top: list[Any] = [""] * n
    bottom: list[Any] = [""] * n
    for i, (_, header) in enumerate(COLUMNS):
        (bottom if i in grouped else top)[i] = Paragraph(escape(header), head)
    for group_title, first, _last in GROUPS:
        top[first - 1] = Paragraph(escape(group_title), head)
    body = [_annual_cells(r, _style(7), name) for r in table.rows]
    body.append(_annual_cells(table.total, _style(7), name_b))
    widths_mm = (8, 58, 16, 13, 12, 12, 15, 15, 12, 15, 15, 12, 20, 18, 16)
    grid = Table([top, bottom, *body], colWidths=[w * mm for w in widths_mm], repeatRows=2)
    style: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), FONT, 7),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#8a939e")),
        ("BACKGROUND", (0, 0), (-1, 1), colors.HexColor("#e6e9ee")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (2, 2), (-1, -1), "RIGHT"),
        ("ALIGN", (0, 2), (0, -1), "RIGHT"),
        ("FONT", (0, -1), (-1, -1), FONT_B, 7),
        ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f3f5f8")),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
    ]
    for i in range(n):  # single columns span both header rows
        if i not in grouped:
            style.append(("SPAN", (i, 0), (i, 1)))
    for _, first, last in GROUPS:
        style.append(("SPAN", (first - 1, 0), (last - 1, 0)))
    grid.setStyle(TableStyle(style))
    target = f"bộ chỉ tiêu {table.target_set}" if table.target_set else "chỉ tiêu đang có hiệu lực"
    story: list[Any] = [
        Paragraph(escape(title), _style(13, bold=True)),
        Spacer(1, 1.5 * mm),
        Paragraph(
            escape(
                f"Đánh giá theo {target}: {table.agencies_meeting}/{table.agencies_evaluated} "
                f"cơ quan đạt. HSTN: hồ sơ tiếp nhận; TTHC: thủ tục hành chính. Số liệu của "
                f"egov-monitor, xuất lúc {_stamp()}."
            ),
            _style(8),
        ),
        Spacer(1, 3 * mm),
        grid,
    ]
    doc.build(story, onFirstPage=_footer(title), onLaterPages=_footer(title))
    return buf.getvalue()


def _ranked_table(rows: Sequence[Any], label: ParagraphStyle) -> Table:
    data: list[list[Any]] = [["Hạng", "Cơ quan", "Tỷ lệ", "Chỉ tiêu", "Kết quả"]]
    for r in rows:
        data.append(
            [
                str(r.rank),
                Paragraph(escape(r.agency_name), label),
                pct(r.value),
                pct(r.target),
                r.verdict.value if r.verdict is not None else "",
            ]
        )
    grid = Table(data, colWidths=[14 * mm, 88 * mm, 24 * mm, 24 * mm, 30 * mm], repeatRows=1)
    grid.setStyle(_small_table_style())
    return grid


def _small_table_style() -> TableStyle:
    return TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), FONT, 9),
            ("FONT", (0, 0), (-1, 0), FONT_B, 9),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e6e9ee")),
            ("LINEBELOW", (0, 0), (-1, -1), 0.4, colors.HexColor("#b7bec7")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ALIGN", (2, 1), (-1, -1), "RIGHT"),
            ("ALIGN", (0, 1), (0, -1), "RIGHT"),
        ]
    )


def summary_pdf(summary: LeadersSummary) -> bytes:
    """The leaders' one-page summary of a month."""
    _register_fonts()
    buf = io.BytesIO()
    year, month = summary.month.split("-")
    title = f"Tóm tắt cho lãnh đạo — {summary.name_vi}, tháng {month}/{year}"
    doc = _document(buf, A4, title)
    text = _style(10, leading=13)
    label = _style(9, leading=11)
    h2 = _style(11.5, bold=True)
    change = (
        "—" if summary.province_change_points is None else points(summary.province_change_points)
    )
    key = Table(
        [
            ["Toàn tỉnh tháng này", "Tháng trước", "Thay đổi", "Đạt", "Chưa đạt", "Không đánh giá"],
            [
                pct(summary.province_value),
                pct(summary.province_previous),
                change,
                str(summary.agencies_meeting),
                str(summary.agencies_below),
                str(summary.agencies_not_evaluated),
            ],
        ],
        colWidths=[36 * mm, 30 * mm, 30 * mm, 22 * mm, 24 * mm, 38 * mm],
    )
    key.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), FONT, 8.5),
                ("FONT", (0, 1), (-1, 1), FONT_B, 14),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.HexColor("#4a5058")),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                ("BOX", (0, 0), (-1, -1), 0.6, colors.HexColor("#b7bec7")),
                ("TOPPADDING", (0, 1), (-1, 1), 4),
                ("BOTTOMPADDING", (0, 1), (-1, 1), 6),
            ]
        )
    )
    movers: list[list[Any]] = [["Cơ quan", "Tháng trước", "Tháng này", "Thay đổi"]]
    for m in summary.movers:
        movers.append(
            [
                Paragraph(escape(m.agency_name), label),
                pct(m.previous),
                pct(m.value),
                points(m.change_points),
            ]
        )
    movers_table = Table(movers, colWidths=[88 * mm, 30 * mm, 30 * mm, 32 * mm])
    movers_table.setStyle(_small_table_style())
    target = (
        f"bộ chỉ tiêu {summary.target_set}" if summary.target_set else "chỉ tiêu đang có hiệu lực"
    )
    story: list[Any] = [
        Paragraph(escape(title), _style(15, bold=True, leading=19)),
        Spacer(1, 2 * mm),
        Paragraph(
            escape(f"Đánh giá theo {target}. Số liệu của egov-monitor, xuất lúc {_stamp()}."), text
        ),
        Spacer(1, 4 * mm),
        key,
        Spacer(1, 5 * mm),
        Paragraph("Biểu dương (5 cơ quan cao nhất)", h2),
        Spacer(1, 1.5 * mm),
        _ranked_table(summary.best, label),
        Spacer(1, 5 * mm),
        Paragraph("Phê bình (5 cơ quan thấp nhất)", h2),
        Spacer(1, 1.5 * mm),
        _ranked_table(summary.worst, label),
        Spacer(1, 5 * mm),
        Paragraph("Thay đổi lớn nhất so với tháng trước", h2),
        Spacer(1, 1.5 * mm),
        movers_table
        if summary.movers
        else Paragraph("Không có cơ quan nào có số liệu cả hai tháng.", text),
    ]
    doc.build(story, onFirstPage=_footer(title), onLaterPages=_footer(title))
    return buf.getvalue()
