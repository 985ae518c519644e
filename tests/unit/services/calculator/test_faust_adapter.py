"""The Faust adapter (services/calculator/faust_adapter.py) holds every private part of
Faust the calculator uses: this fails when the installed faust-streaming is not the one it
was tested with, or when a private member it uses is gone or called differently."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path
from typing import Any

import faust
from faust.transport.consumer import Fetcher
from faust.transport.drivers.aiokafka import Consumer

from services.calculator import faust_adapter
from services.calculator.faust_adapter import (
    PRIVATE_ATTRIBUTES,
    PRIVATE_METHODS,
    TESTED_FAUST_STREAMING,
    compatibility_problems,
)

CALCULATOR = Path(faust_adapter.__file__).parent


def test_the_installed_faust_is_the_tested_one_with_every_private_member() -> None:
    assert importlib.metadata.version("faust-streaming") == TESTED_FAUST_STREAMING
    assert compatibility_problems() == []
    # and on a real consumer and fetcher (instance attributes, not only annotations)
    app = faust.App("adapter-test", broker="kafka://127.0.0.1:1", store="memory://")
    consumer = app.consumer
    for name in PRIVATE_ATTRIBUTES:
        assert hasattr(consumer, name), name
    assert hasattr(Fetcher(app), "_stopped")
    for name in PRIVATE_METHODS:
        assert callable(getattr(consumer, name)), name


def test_an_upgrade_that_changes_them_is_named() -> None:
    class Renamed(Consumer):
        _wait_next_records = None  # type: ignore[assignment]  # gone

        def _to_message(self, tp: Any, record: Any, extra: Any = None) -> Any:  # changed
            return None

    class NoLoop:
        def fun(self) -> None:
            pass

    problems = compatibility_problems("0.16.0", Renamed, NoLoop())
    assert problems == [
        "faust-streaming 0.16.0 installed, the adapter was tested with 0.15.3",
        "Renamed._wait_next_records is gone",
        "Renamed._to_message(self, tp, record, extra) changed",
        "Faust's Fetcher no longer runs consumer._drain_messages",
    ]


def private_accesses(path: Path) -> set[str]:
    """Attributes with a leading underscore read or written on something else than
    ``self``/``cls``/``batch`` (own objects) in a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls", "os"})
        ):
            found.add(node.attr)
    return found


def test_no_other_calculator_module_touches_faust_privately() -> None:
    names = set(PRIVATE_METHODS) | set(PRIVATE_ATTRIBUTES) | {"_consumer"}
    assert private_accesses(CALCULATOR / "faust_adapter.py") >= set(PRIVATE_METHODS)
    for path in sorted(CALCULATOR.glob("*.py")):
        if path.name != "faust_adapter.py":
            assert not (private_accesses(path) & names), path.name


def test_fetch_wait_bounded_on_aiokafka_fetcher_through_faust_thread() -> None:
    """Faust asks aiokafka for fetches that wait 1,500 ms at the broker; the calculator
    bounds it on the running consumer's fetcher (False until there is one)."""
    app = faust.App("adapter-test", broker="kafka://127.0.0.1:1", store="memory://")
    adapter = faust_adapter.FaustConsumer(app)
    assert adapter.bound_fetch_wait(100) is False  # the consumer thread has not started

    class KafkaFetcher:
        _fetch_max_wait_ms = 1500

    class KafkaConsumer:
        _fetcher = KafkaFetcher()

    app.consumer._thread._consumer = KafkaConsumer()  # type: ignore[attr-defined]  # its start
    assert adapter.bound_fetch_wait(100) is True
    assert KafkaConsumer._fetcher._fetch_max_wait_ms == 100
