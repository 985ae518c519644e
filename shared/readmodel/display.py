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
