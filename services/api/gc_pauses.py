"""The API's garbage-collector pauses, measured and kept short.

A full collection walks every tracked object: the app, its routes and schemas, the
catalogs (~1,400 resolved scopes), cached results. At hundreds of requests per second the
allocation counts trigger one every few seconds, and the loop stops while it runs: the
requests of that moment wait. At start, and whenever the catalogs are read (the API's
largest long-lived objects: agencies, procedures, resolved scopes), what exists is frozen
out of the collector's generations (``gc.freeze``), and each pause is observed in
``egov_api_gc_pause_seconds{generation}``. (Freezing without collecting keeps the cyclic
garbage of that moment for good: a few objects per catalog change.)
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

PAUSES = Histogram(
    "egov_api_gc_pause_seconds",
    "Garbage-collector pauses of the API process, per generation collected",
    ["generation"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5),
)
_started: list[float] = [0.0]


def _observe(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - _started[0])


def freeze_long_lived(_: object = None) -> None:
    """Move every object tracked now to the permanent generation (no pause)."""
    gc.freeze()


def install() -> None:
    """Observe every pause; freeze what exists now (the app, settings, catalogs read)."""
    if _observe not in gc.callbacks:
        gc.callbacks.append(_observe)
    gc.collect()
    gc.freeze()
