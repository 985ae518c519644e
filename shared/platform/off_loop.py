"""CPU-bound parts of a computation run off the event loop.

A cold read is Redis round trips (the loop waits without working) and Python work on what
came back: building a page's values, rendering its HTML, encoding JSON. Done on the loop,
that work holds every other request for as long as it runs (a cold public page of 117
units: tens of milliseconds). :func:`off_loop` hands such a pure function to a small pool
of worker threads; the loop serves other requests meanwhile. Threads share the GIL, so the
loop still waits for it — at most the interpreter's switch interval (``SWITCH_INTERVAL_S``,
set by the API at start) each time it has work.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

# Two workers: one cold page at a time per worker; more would only share the same GIL.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="off-loop")

# The GIL hand-over interval the API runs with (Python's default: 5 ms): how long a worker
# thread may keep the loop waiting when a request arrives.
SWITCH_INTERVAL_S = 0.001


async def off_loop(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread; the loop serves others meanwhile."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))
