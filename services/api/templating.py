"""Server-rendered pages (public results, live board): one Jinja2 environment, Vietnamese
number formats, strict undefined, autoescaping; security headers shared by every page."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from shared.domain.calendar import LOCAL_TZ
from shared.readmodel.display import band_class, num, pct, points, score

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def month_slash(label: str) -> str:
    """``2025-03`` → ``03/2025``."""
    year, _, month = label.partition("-")
    return f"{month}/{year}"


def month_vi(label: str) -> str:
    """``2025-03`` → ``tháng 03/2025``."""
    return f"tháng {month_slash(label)}"


def local_time(value: datetime | None, fmt: str = "%H:%M:%S %d/%m/%Y") -> str:
    return "—" if value is None else value.astimezone(LOCAL_TZ).strftime(fmt)


def day_vi(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def data_number(value: float | int | None) -> str:
    """A figure exactly as the API's JSON has it (``repr`` round-trips a float), empty for
    null: what the browser tests compare, cell by cell."""
    return "" if value is None else repr(value)


def to_json_attr(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        pct=pct,
        num=num,
        points=points,
        score=score,
        band_class=band_class,
        month_vi=month_vi,
        month_slash=month_slash,
        local_time=local_time,
        day_vi=day_vi,
        data_number=data_number,
        json_attr=to_json_attr,
    )
    env.globals["static_url"] = static_url
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def render_block(template: str, block: str, **context: Any) -> str:
    """One ``{% block %}`` of a template alone (the board's live fragments)."""
    tpl = environment().get_template(template)
    ctx = tpl.new_context(context)
    return "".join(tpl.blocks[block](ctx))


@lru_cache(maxsize=32)
def _static_digest(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def static_url(name: str) -> str:
    """``/static/<name>?v=<digest>``: a changed file is a new URL, so it can be cached long."""
    return f"/static/{name}?v={_static_digest(name)}"


def csp(frame_ancestors: Sequence[str] = ("'none'",), *, scripts: bool = False) -> str:
    """Content-Security-Policy of a page: nothing but this origin's CSS (and scripts, for the
    board), forms posting here, framed only by ``frame_ancestors``."""
    parts = [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors " + " ".join(frame_ancestors),
    ]
    if scripts:
        parts += ["script-src 'self'", "connect-src 'self'"]
    return "; ".join(parts)


def page_headers(
    frame_ancestors: Sequence[str] = ("'none'",),
    *,
    scripts: bool = False,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": csp(frame_ancestors, scripts=scripts),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
    if "'none'" in frame_ancestors:
        headers["X-Frame-Options"] = "DENY"
    headers.update(extra or {})
    return headers


def markup(text: str) -> Markup:
    return Markup(text)
