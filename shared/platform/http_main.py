"""Run a FastAPI service with uvicorn, the way every HTTP service of the stack runs."""

from __future__ import annotations

from fastapi import FastAPI

from shared.platform.config import PlatformSettings
from shared.platform.logs import configure_logging


def serve(app: FastAPI, settings: PlatformSettings, host: str, port: int) -> None:
    import uvicorn

    configure_logging(settings.log_level)
    # access logs stay off: request lines can carry identifiers that are nobody's business
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        # forwarded headers only from EGOV_TRUSTED_PROXIES (shared/platform/auth.py trust_proxies),
        # not uvicorn's default of believing 127.0.0.1
        proxy_headers=False,
        loop="uvloop",
        http="httptools",
    )
