"""What every Faust-based service (calculator, alerts) shares: how the app is configured
and the pages it serves on its web port (/healthz and /metrics)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.platform.config import PlatformSettings
from shared.platform.logs import get_logger
from shared.platform.version import VERSION

log = get_logger("faust")
TimerFn = Callable[[], Awaitable[None]]


def add_standard_pages(app: faust.App) -> None:
    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        # aiohttp refuses a charset inside content_type, so the header is set directly.
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "ok", "version": VERSION})


def make_faust_app(
    settings: PlatformSettings,
    group: str,
    host: str,
    port: int,
    *,
    leader: bool = False,
    **extra: Any,
) -> faust.App:
    """A Faust app that commits offsets only after processing (at-least-once), keeps no
    durable local state (everything lives in Redis) and serves the standard pages.

    ``leader``: elect one worker of the group as leader (Faust's leader topic, one
    partition, ``settings.topic_replication`` replicas), for timers that must run once per
    group (:func:`guarded_timer` ``on_leader``)."""
    datadir = Path(settings.faust_data_dir) / group
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        group,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(datadir),
        web_host=host,
        web_port=port,
        web_bind=host,
        topic_disable_leader=not leader,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # a worker that died (SIGKILL, host lost) hands its partitions over in seconds
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
        **extra,
    )
    add_standard_pages(app)
    return app


def guarded_timer(
    app: faust.App, interval: float, *, on_leader: bool = False
) -> Callable[[TimerFn], TimerFn]:
    """A Faust timer whose failures are logged, not raised: an exception escaping a timer
    crashes the whole worker (and with it the consumer).

    ``on_leader``: only the group's leader runs it (the app needs ``leader=True``), e.g.
    gauges of figures shared by the whole group, which N workers would otherwise export N
    times; see :func:`on_leadership` to drop them on the workers that are not leader."""

    def decorate(fn: TimerFn) -> TimerFn:
        async def run() -> None:
            try:
                await fn()
            except Exception as exc:
                log.warning("timer_failed", timer=fn.__name__, error=repr(exc))

        run.__name__ = fn.__name__
        app.timer(interval=interval, on_leader=on_leader)(run)
        return fn

    return decorate


def on_leadership(app: faust.App, changed: Callable[[bool], None]) -> None:
    """Call ``changed(app.is_leader())`` after every rebalance of the group (the leader
    topic's partition may have moved to another worker)."""

    async def assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
        changed(app.is_leader())

    app.on_partitions_assigned.connect(assigned)  # type: ignore[arg-type]
