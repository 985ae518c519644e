"""Which PDF library renders the reports: reportlab or fpdf2, measured on the same job —
the 2024 appendix table (31 rows × 15 columns, A4 landscape, the header repeated on each
page, DejaVu Sans embedded as a subset for the Vietnamese text).

``python -m bench.pdf_libraries`` prints, per library, the median time of ``BENCH_PDF_RUNS``
renderings (default 30), the size of the PDF, and whether ``pdftotext`` (when installed)
gets the Vietnamese names back. The numbers are in docs/performance.md.
"""

from __future__ import annotations

import csv
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from services.api.reports.annual_table import AnnualRow, AnnualTable
from services.api.reports.files import COLUMNS
from services.api.reports.pdf import FONT_BOLD, FONT_REGULAR, annual_pdf
from shared.readmodel.figures import Verdict


def appendix_table() -> AnnualTable:
    """The published 2024 appendix as an :class:`AnnualTable` (no Redis needed)."""
    data = resources.files("shared.domain.data")
    text = data.joinpath("appendix-2024-full-online.csv").read_text()
    rows: list[AnnualRow] = []
    total: AnnualRow | None = None
    for r in csv.DictReader(text.splitlines()):
        published = r["published_full_online_rate"].rstrip("%")
        rate = float(published) if published else None
        counts = {k: int(r[k]) for k in AnnualRow.model_fields if k in r and r[k].isdigit()}
        row = AnnualRow(
            stt=None if r["row"] == "TOTAL" else int(r["row"]),
            agency_code=r["agency_code"],
            agency_name=r["agency_name"],
            group=r["group"] or None,
            level=r["level"] or None,
            **counts,
            rate=rate,
            rate_text="" if rate is None else f"{rate:.2f}%",
            target=70.0,
            verdict=Verdict(r["published_verdict"]) if r["published_verdict"] else None,
            category_sum_minus_total=0,
        )
        if r["row"] == "TOTAL":
            total = row
        else:
            rows.append(row)
    assert total is not None
    return AnnualTable(
        year=2024,
        period="2024",
        indicator="full_online_rate",
        target_set="cv-112-eval-2024",
        rows=rows,
        total=total,
        agencies_meeting=sum(r.verdict is Verdict.meets for r in rows),
        agencies_evaluated=len(rows),
    )


def fpdf2_annual(table: AnnualTable) -> bytes:
    """The same table drawn with fpdf2 (``FPDF.table`` repeats its heading row)."""
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_margins(10, 10, 10)
    pdf.add_font("DejaVu", "", str(FONT_REGULAR))
    pdf.add_font("DejaVu", "B", str(FONT_BOLD))
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 12)
    pdf.cell(
        0, 8, f"Tỷ lệ hồ sơ trực tuyến toàn trình năm {table.year}", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("DejaVu", "", 7)
    widths = (8, 52, 16, 13, 12, 12, 15, 15, 12, 15, 15, 12, 18, 18, 14)
    with pdf.table(
        col_widths=widths,
        headings_style=FontFace(emphasis="BOLD", fill_color=(230, 233, 238)),
        repeat_headings=1,
        line_height=4,
        text_align=("RIGHT", "LEFT", *["RIGHT"] * 13),
    ) as grid:
        grid.row([header for _, header in COLUMNS])
        for row in [*table.rows, table.total]:
            data = row.model_dump(mode="json")
            cells = []
            for key, _ in COLUMNS:
                value = data[key]
                if key == "rate":
                    value = row.rate_text
                cells.append("" if value is None else str(value))
            grid.row(cells)
    return bytes(pdf.output())


def _timed(
    render: Callable[[AnnualTable], bytes], table: AnnualTable, runs: int
) -> tuple[float, bytes]:
    render(table)  # warm: font parsing, imports
    times = []
    body = b""
    for _ in range(runs):
        started = time.perf_counter()
        body = render(table)
        times.append(time.perf_counter() - started)
    return statistics.median(times), body


def _extracts(body: bytes) -> str:
    if shutil.which("pdftotext") is None:
        return "pdftotext not installed"
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(body)
        f.flush()
        text = subprocess.run(
            ["pdftotext", "-layout", f.name, "-"], capture_output=True, text=True, check=True
        ).stdout
    wanted = ("Sở Thông tin và Truyền thông", "Tổng cộng (toàn tỉnh)", "99.05%")
    return "text ok" if all(w in text for w in wanted) else "text MISSING"


def main() -> None:
    runs = int(os.environ.get("BENCH_PDF_RUNS", "30"))
    table = appendix_table()
    out = Path(os.environ.get("BENCH_PDF_OUT", ".run/bench-pdf"))
    out.mkdir(parents=True, exist_ok=True)
    for name, render in (("reportlab", annual_pdf), ("fpdf2", fpdf2_annual)):
        seconds, body = _timed(render, table, runs)
        (out / f"annual-2024-{name}.pdf").write_bytes(body)
        print(
            f"{name:<10} median {seconds * 1000:7.1f} ms  {len(body) / 1024:7.1f} KiB  "
            f"{_extracts(body)}  -> {out / f'annual-2024-{name}.pdf'}"
        )


if __name__ == "__main__":
    main()
