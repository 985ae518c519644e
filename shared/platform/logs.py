"""structlog set-up: JSON lines on stdout. Never pass tokens or personal data to a logger."""

from __future__ import annotations

import logging

import structlog

from shared.platform.version import VERSION


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(format="%(message)s", level=level)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=False),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]


def log_start(service: str, **fields: object) -> None:
    """The first line a service logs: its name and release (``shared/platform/version.py``),
    and where it listens. Nothing secret goes in ``fields``."""
    get_logger(service).info("service_start", service=service, version=VERSION, **fields)
