"""Pieces of the pages and reports that need no server: which months are published, the
sparklines, Vietnamese number formats, the mail store, the XLSX print setup and the PDF
reports' text."""

from __future__ import annotations

import io
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import MergedCell

from bench.pdf_libraries import appendix_table
from services.api.board.live import sse
from services.api.exceptions import MonthNotClosed
from services.api.public.results import closed_month, closed_months
from services.api.public.sparkline import TrendPoint, sparkline
from services.api.reports.files import to_xlsx
from services.api.reports.pdf import annual_pdf, summary_pdf
from services.api.reports.summary import LeadersSummary
from shared.platform.mailbox import index_stamp, read_message, recent, store_message, text_body
from shared.readmodel.display import pct, points
from tests.tools import need, pdftotext

TODAY = date(2026, 11, 25)


def test_only_closed_months_are_published() -> None:
    assert closed_month(None, TODAY).label == "2026-10"
    assert closed_month("", TODAY).label == "2026-10"
    assert closed_month("2026-10", TODAY).label == "2026-10"
    assert closed_month("2015-01", TODAY).label == "2015-01"
    for text in ("2026-11", "2026-12", "2027-01", "2014-12", "2026-1", "2026-00", "2026-13", "x"):
        with pytest.raises(MonthNotClosed):
            closed_month(text, TODAY)
    # on the first day of a month, the month before has just closed
    assert closed_month(None, date(2027, 1, 1)).label == "2026-12"
    picker = closed_months(TODAY)
    assert picker[0] == "2026-10" and picker[1] == "2026-09" and len(picker) == 24


def test_vietnamese_number_formats() -> None:
    assert pct(99.0512) == "99,05%" and pct(None) == "—" and pct(85.0, 0) == "85%"
    assert points(1.254) == "+1,25 điểm" and points(-0.4) == "−0,40 điểm"
    assert points(0.001) == "0,00 điểm" and points(None) == "—"


def test_sparkline_breaks_at_months_not_evaluated() -> None:
    trend = [
        TrendPoint(f"2026-{m:02d}", v) for m, v in enumerate([50.0, 60.0, None, 70.0, 80.0], 1)
    ]
    svg = sparkline(trend, target=70.0, label="Sở Y tế: ")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count("<polyline") == 2 and 'class="spark-target"' in svg
    assert "tháng 03/2026: —" in svg and "Sở Y tế" in svg  # the accessible summary
    empty = sparkline([TrendPoint("2026-01", None)])
    assert "không có số liệu" in empty and "<polyline" not in empty
    single = sparkline([TrendPoint("2026-01", None), TrendPoint("2026-02", 40.0)])
    assert "<polyline" not in single and "spark-dot" in single


def test_server_sent_event_lines() -> None:
    assert sse("fragment", '{"a":1}', 7) == 'event: fragment\nid: 7\ndata: {"a":1}\n\n'
    assert sse("x", "one\ntwo") == "event: x\ndata: one\ndata: two\n\n"


def test_mail_store_keeps_messages_and_lists_the_newest(tmp_path: Path) -> None:
    assert recent(tmp_path) == [] and index_stamp(tmp_path) == (0, 0)
    for n in range(3):
        body = (
            "From: a@x\r\nTo: b@y\r\nSubject: =?utf-8?b?"
            + __import__("base64").b64encode(f"Cảnh báo số {n}".encode()).decode()
            + "?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit"
            + f"\r\n\r\nSở Y tế {n}\r\n"
        )
        stamp = index_stamp(tmp_path)
        entry = store_message(tmp_path, "a@x", ["b@y"], body.encode())
        assert index_stamp(tmp_path) != stamp
    last = recent(tmp_path, 2)
    assert [e.subject for e in last] == ["Cảnh báo số 2", "Cảnh báo số 1"]
    msg = read_message(tmp_path, entry.file)
    assert msg is not None and text_body(msg).strip() == "Sở Y tế 2"
    for name in ("../index.jsonl", "index.jsonl", entry.file + "x"):
        assert read_message(tmp_path, name) is None


def test_annual_xlsx_prints_landscape_one_page_wide_with_repeated_headers() -> None:
    wb = load_workbook(io.BytesIO(to_xlsx(appendix_table())))
    ws = wb.active
    assert ws is not None
    assert ws.page_setup.orientation == "landscape"
    assert str(ws.page_setup.paperSize) == ws.PAPERSIZE_A4
    assert int(ws.page_setup.fitToWidth or 0) == 1 and int(ws.page_setup.fitToHeight or 0) == 0
    assert ws.sheet_properties.pageSetUpPr is not None
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$2:$3"
    for col in range(1, ws.max_column + 1):
        for row in (2, 3):
            cell = ws.cell(row=row, column=col)
            assert isinstance(cell, MergedCell) or cell.alignment.wrap_text, cell
    assert all((ws.row_dimensions[r].height or 0) >= 30 for r in (2, 3))


def test_annual_pdf_embeds_its_font_and_has_the_vietnamese_text() -> None:
    table = appendix_table()
    pdf = annual_pdf(table)
    assert pdf.startswith(b"%PDF")
    text = pdftotext(pdf)
    for row in [*table.rows, table.total]:
        line = next(ln for ln in text.splitlines() if row.agency_name in ln)
        assert row.rate_text in line and f"{row.hstn_total:,}".replace(",", ".") in line
    fonts = subprocess.run(
        [need("pdffonts", "poppler-utils"), "-"], input=pdf, capture_output=True, check=False
    )
    if fonts.returncode != 0:  # older pdffonts read no stdin
        path = Path("/tmp") / "egov-annual-test.pdf"
        path.write_bytes(pdf)
        fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True)
    listing = fonts.stdout.decode()
    dejavu = [ln for ln in listing.splitlines() if "DejaVuSans" in ln]
    assert dejavu and all(" yes yes " in ln for ln in dejavu), listing  # embedded, subset


def test_summary_pdf_has_the_months_figures() -> None:
    summary = LeadersSummary.model_validate(
        {
            "month": "2024-12",
            "indicator": "full_online_rate",
            "name_vi": "Tỷ lệ hồ sơ trực tuyến toàn trình",
            "target_set": None,
            "province_value": 42.5,
            "province_previous": 40.25,
            "province_change_points": 2.25,
            "agencies_meeting": 9,
            "agencies_below": 20,
            "agencies_not_evaluated": 1,
            "best": [
                {
                    "rank": 1,
                    "agency_code": "so-gddt",
                    "agency_name": "Sở Giáo dục và Đào tạo",
                    "numerator": 967,
                    "denominator": 1000,
                    "value": 96.7,
                    "target": 70.0,
                    "verdict": "Đạt",
                }
            ],
            "worst": [
                {
                    "rank": 30,
                    "agency_code": "so-tn-mt",
                    "agency_name": "Sở Tài nguyên và Môi trường",
                    "numerator": 4,
                    "denominator": 99,
                    "value": 4.040404,
                    "target": 70.0,
                    "verdict": "Chưa đạt",
                }
            ],
            "movers": [],
            "text": "",
        }
    )
    text = pdftotext(summary_pdf(summary))
    assert "tháng 12/2024" in text and "42,50%" in text and "+2,25 điểm" in text
    assert "Sở Giáo dục và Đào tạo" in text and "96,70%" in text
    assert "Sở Tài nguyên và Môi trường" in text and "4,04%" in text and "Chưa đạt" in text


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_page_colours_meet_wcag_aa_contrast() -> None:
    css = (Path(__file__).resolve().parents[4] / "services/api/static/site.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [  # (text, background) as the stylesheet uses them
        ("ink", "paper"),
        ("ink", "wash"),
        ("muted", "paper"),
        ("muted", "wash"),
        ("link", "paper"),
        ("ok-ink", "ok-bg"),
        ("bad-ink", "bad-bg"),
        ("na-ink", "na-bg"),
        ("warn-ink", "warn-bg"),
        ("ok-ink", "paper"),
        ("bad-ink", "paper"),
        ("brand", "paper"),  # the picker's button
    ]
    for text, background in pairs:
        ratio = contrast(colours[text], colours[background])
        assert ratio >= 4.5, (text, background, round(ratio, 2))
    assert contrast("#ffffff", colours["brand"]) >= 4.5  # the header's text
