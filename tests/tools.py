"""Outside programs some tests drive: Debian's chromium (through Playwright), LibreOffice,
poppler. A test skips when one is missing on a developer's machine; in CI (``CI`` set) a
missing one fails the test, since scripts/bootstrap.sh installs them there."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / ".run" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def need(binary: str, package: str) -> str:
    """The path of ``binary``; skip (fail in CI) when it is not installed."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} not installed (Debian package {package}; scripts/bootstrap.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def pdftotext(pdf: bytes | Path, *, layout: bool = True) -> str:
    need("pdftotext", "poppler-utils")
    args = ["pdftotext", *(["-layout"] if layout else []), "-", "-"]
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout.decode()


def pdf_pages(pdf: Path) -> list[tuple[float, float]]:
    """(width, height) in points of every page (pdfinfo)."""
    need("pdfinfo", "poppler-utils")
    out = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "9999", str(pdf)], capture_output=True, text=True, check=True
    ).stdout
    sizes = []
    for line in out.splitlines():
        if line.startswith("Page") and "size:" in line:
            parts = line.split("size:", 1)[1].split()
            sizes.append((float(parts[0]), float(parts[2])))
    return sizes
