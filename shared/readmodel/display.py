"""How figures are written for people, in one place: Vietnamese decimal comma, two decimals
for rates (§4: verdicts compare unrounded values, reports show 99,05%), dot thousands."""

from __future__ import annotations


def pct(value: float | None, digits: int = 2) -> str:
    """99.0512 → ``99,05%``; None (not evaluated) → ``—``."""
    if value is None:
        return "—"
    return f"{value:.{digits}f}".replace(".", ",") + "%"


def num(value: int | None) -> str:
    """40221 → ``40.221`` (Vietnamese thousands separator); None → ``—``."""
    return "—" if value is None else f"{int(value):,}".replace(",", ".")


def points(value: float | None) -> str:
    """Change in percentage points: ``+1,25 điểm``, ``−0,40 điểm``, ``0,00 điểm``."""
    if value is None:
        return "—"
    text = f"{abs(value):.2f}".replace(".", ",")
    if round(value, 2) > 0:
        return f"+{text} điểm"
    if round(value, 2) < 0:
        return f"−{text} điểm"
    return f"{text} điểm"


def score(value: float | None) -> str:
    """Points of the 766 index: 65.49 → ``65,49``; None → ``—``."""
    return "—" if value is None else f"{value:.2f}".replace(".", ",")


BAND_CLASSES = {"Xuất sắc": "xs", "Tốt": "tot", "Khá": "kha", "Trung bình": "tb", "Yếu": "yeu"}


def band_class(band: str) -> str:
    """The CSS class suffix of a 766 band (``band-xs``…)."""
    return BAND_CLASSES.get(band, "none")
