"""The calculator's collector: off automatically, on its timer."""

from __future__ import annotations

import gc
import weakref

from services.calculator import garbage


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_cycles_wait_for_the_timer_and_are_reclaimed_by_it() -> None:
    was_enabled = gc.isenabled()
    try:
        garbage.take_over()
        assert not gc.isenabled()
        before = garbage.PAUSES._sum.get()
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        gone = weakref.ref(a)
        del a, b
        for _ in range(50_000):  # far past the automatic thresholds: nothing collects
            [object()]
        assert gone() is not None
        assert garbage.collect() >= 2
        assert gone() is None
        assert garbage.PAUSES._sum.get() > before
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
