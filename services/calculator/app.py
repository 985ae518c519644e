"""The calculator's Faust app: the wiring.

Faust runs the worker (group membership, rebalances, leader election, timers, web); the
agent subscribes the dossier and document topics, whose records the calculator's fetch
loop takes from the consumer in whole fetches (``services.calculator.faust_adapter``).
What the calculator does with them is ``services.calculator.calculator.Calculator``;
when a batch is done and which offsets are committed, ``services.calculator.checkpoint``.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import StreamT

from services.calculator.calculator import BATCH_MAX, COMMIT_INTERVAL_S, Calculator, abort_batch
from services.calculator.faust_adapter import check_compatibility
from shared.platform.config import CalculatorSettings, load
from shared.platform.faust_app import make_faust_app


def create_app(settings: CalculatorSettings | None = None) -> faust.App:
    settings = settings or load(CalculatorSettings)
    check_compatibility()
    app = make_faust_app(
        settings,
        settings.calculator_group,
        settings.calculator_host,
        settings.calculator_port,
        topic_partitions=settings.topic_partitions,
        broker_commit_interval=COMMIT_INTERVAL_S,
        broker_max_poll_records=BATCH_MAX,
        leader=True,  # one worker of the group exports the group's gauges
    )
    topics = settings.topics
    events_topic = app.topic(
        topics.dossier,
        topics.document,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )
    calculator = Calculator(
        settings,
        app,
        deadletter_topic=app.topic(topics.deadletter, key_serializer="raw", value_serializer="raw"),
        updates_topic=app.topic(
            topics.indicator_updates, key_serializer="raw", value_serializer="raw"
        ),
    )

    @app.agent(events_topic)
    async def apply_events(stream: StreamT[Any]) -> None:
        """Subscribes the event topics. Their records never reach this stream: the
        calculator's fetch loop (``services.calculator.fetch_loop``) pulls them from the
        consumer in whole fetches, decodes, applies and commits them."""
        async for _ in stream:
            abort_batch(RuntimeError("an event record reached the Faust stream"))

    calculator.install()
    return app
