"""A Redis node killed mid-call: uvloop reports the write on the closed connection as a
RuntimeError (redis-py lets it through), which must be retried like a ConnectionError —
the process aborting the batch instead was the failover test's "calculator died" — while
any other RuntimeError (a bug) still aborts the batch."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any
from unittest.mock import AsyncMock

import pytest

from services.calculator.calculator import Calculator
from shared.store.client import closed_transport

CLOSED = RuntimeError(
    "unable to perform operation on <TCPTransport closed=True reading=False 0x55b3>; "
    "the handler is closed"
)


class FlakyStore:
    def __init__(self, first: BaseException) -> None:
        self.first: BaseException | None = first
        self.calls = 0

    async def apply_many(self, *args: Any, **kwargs: Any) -> list[bool]:
        self.calls += 1
        if self.first is not None:
            exc, self.first = self.first, None
            raise exc
        return [True]


def _retry(store: FlakyStore) -> list[bool]:
    fake: Any = SimpleNamespace(store=store, fill_gaps=AsyncMock())
    batch: Any = SimpleNamespace(gap_floor=dict, last={})
    return asyncio.run(Calculator.apply_with_retry(fake, [], batch, None))


def test_a_closed_connection_is_retried() -> None:
    store = FlakyStore(CLOSED)
    assert _retry(store) == [True]
    assert store.calls == 2


def test_any_other_runtime_error_aborts() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        _retry(FlakyStore(RuntimeError("boom")))


def test_only_uvloops_closed_handler_counts() -> None:
    assert closed_transport(CLOSED)
    assert not closed_transport(RuntimeError("boom"))
    assert not closed_transport(ValueError("the handler is closed"))
