"""The calculator's garbage collection, on its own schedule.

Its batches allocate a few dozen objects per record — decoded events, the rules' steps,
script arguments — none in a reference cycle: reference counting frees them all. Python's
automatic collector still walks the young ones every few thousand allocations, which cost
~9 % of the calculator's CPU on the simulated year (``make bench-pipeline``: 23,205 →
25,902 events/s with it off). So automatic collection is off, and a timer collects every
``calculator_gc_interval_s``: what cycles a library leaves (an exception's traceback, a
closed connection) are still reclaimed, a few seconds later. Each collection's pause is
observed in ``egov_calculator_gc_seconds``.
"""

from __future__ import annotations

import gc
import time

from prometheus_client import Histogram

PAUSES = Histogram(
    "egov_calculator_gc_seconds",
    "The calculator's scheduled garbage collections (automatic collection is off)",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


def take_over() -> None:
    """Automatic collection off; the long-lived objects of now out of every collection."""
    gc.collect()
    gc.freeze()
    gc.disable()


def collect() -> int:
    """One full collection (the frozen objects excluded): the unreachable objects found."""
    started = time.perf_counter()
    found = gc.collect()
    PAUSES.observe(time.perf_counter() - started)
    return found
