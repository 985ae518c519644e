"""Inline SVG sparklines, drawn on the server: a trend reads without JavaScript, in any
browser, and in the portal's frame. Gaps (months not evaluated) break the line. A trend
that crosses a change of territory (the merged province from 2025-07, domain README §9)
has a vertical marker at that month, labelled, and says so in its accessible name."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from services.api.templating import month_slash, month_vi
from shared.readmodel.display import pct


@dataclass(frozen=True)
class TrendPoint:
    period: str  # YYYY-MM
    value: float | None  # percent, as the API returns it; None: not evaluated


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def sparkline(
    points: Sequence[TrendPoint],
    target: float | None = None,
    *,
    width: int = 132,
    height: int = 34,
    label: str = "",
    territory: str | None = None,
    fmt: Callable[[float | None], str] = pct,
) -> str:
    """An ``<svg>`` of the points, scaled to their range (and the target's, drawn dashed);
    ``fmt`` writes a value in its title (default: a percent). ``territory``: the first month
    (``YYYY-MM``) of a new territory; when a later point than the first is that month, a
    marker stands there (``spark-territory``, "từ MM/YYYY")."""
    pad = 4.0
    step = (width - 2 * pad) / max(1, len(points) - 1)
    months = [p.period for p in points]
    mark = months.index(territory) if territory in months[1:] else None
    top = 11.0 if mark is not None else 0.0  # room for the marker's label
    full = height + int(top)
    values = [p.value for p in points if p.value is not None]
    summary = "; ".join(f"{month_vi(p.period)}: {fmt(p.value)}" for p in points)
    since = month_slash(territory) if territory is not None else ""
    change = f" Địa giới thay đổi từ {since}." if mark is not None else ""
    title = escape(f"{label}Xu hướng {len(points)} tháng — {summary}.{change}")
    head = (
        f'<svg class="spark" role="img" aria-label="{title}" width="{width}" height="{full}" '
        f'viewBox="0 0 {width} {full}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>'
    )
    if mark is not None:
        x = pad + mark * step
        anchor, tx = ("end", x - 2) if x > width / 2 else ("start", x + 2)
        head += (
            f'<line class="spark-territory" x1="{_fmt(x)}" y1="1" x2="{_fmt(x)}" '
            f'y2="{_fmt(full - 1)}"/><text class="spark-territory-label" x="{_fmt(tx)}" y="8" '
            f'text-anchor="{anchor}">từ {since}</text>'
        )
    if not values:
        return (
            head + f'<text x="{width / 2:.0f}" y="{top + height / 2 + 4:.0f}" '
            'text-anchor="middle" class="spark-empty">không có số liệu</text></svg>'
        )
    scale = values + ([target] if target is not None else [])
    lo, hi = min(scale), max(scale)
    if hi - lo < 5.0:  # a flat line stays flat-looking, not a zoomed-in wiggle
        mid = (hi + lo) / 2
        lo, hi = mid - 2.5, mid + 2.5
    lo, hi = max(0.0, lo), min(100.0, hi)
    if hi <= lo:
        lo, hi = max(0.0, hi - 5.0), max(5.0, hi)

    def y(v: float) -> float:
        return top + height - pad - (v - lo) / (hi - lo) * (height - 2 * pad)

    parts = [head]
    if target is not None and lo <= target <= hi:
        ty = _fmt(y(target))
        parts.append(
            f'<line class="spark-target" x1="{_fmt(pad)}" y1="{ty}" x2="{_fmt(width - pad)}" '
            f'y2="{ty}"/>'
        )
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, p in enumerate(points):
        if p.value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        segment.append(f"{_fmt(pad + i * step)},{_fmt(y(p.value))}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) == 1:
            cx, cy = seg[0].split(",")
            parts.append(f'<circle class="spark-dot" cx="{cx}" cy="{cy}" r="1.8"/>')
        else:
            parts.append(f'<polyline class="spark-line" points="{" ".join(seg)}"/>')
    last_i = max(i for i, p in enumerate(points) if p.value is not None)
    last_v = points[last_i].value
    assert last_v is not None
    parts.append(
        f'<circle class="spark-last" cx="{_fmt(pad + last_i * step)}" cy="{_fmt(y(last_v))}" '
        'r="2.6"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
