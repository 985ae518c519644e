"""Run the calculator worker: ``python -m services.calculator``."""

import asyncio
import gc

import uvloop
from faust import Worker

from services.calculator.app import create_app
from shared.platform.config import CalculatorSettings, load
from shared.platform.logs import configure_logging, log_start
from shared.platform.safety import refuse_unsafe_production
from shared.platform.topic_check import check_at_start
from shared.store.layout import check_redis_at_start

settings = load(CalculatorSettings)
refuse_unsafe_production(settings, "calculator")
configure_logging(settings.log_level)
log_start(
    "calculator", host=settings.calculator_host, port=settings.calculator_port, env=settings.env
)
t = settings.topics
check_at_start(settings, [t.dossier, t.document, t.deadletter, t.indicator_updates])
# waits for Redis (down or loading); exits 78 on figures of another layout
check_redis_at_start(settings)
# uvloop for the worker's loop and the consumer thread's (each makes a new loop)
asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
# the objects of a batch are in no cycle: no automatic collection, a timer collects
# (services/calculator/garbage.py; the batch drain takes over at its start)
gc.set_threshold(20_000, 20, 20)
app = create_app(settings)
Worker(app, loglevel="WARN").execute_from_commandline()
