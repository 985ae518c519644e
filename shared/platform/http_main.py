"""Run a FastAPI service with uvicorn, the way every HTTP service of the stack runs, and the
ASGI middleware every one of them carries (the release in ``X-Egov-Version``)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.platform.config import PlatformSettings
from shared.platform.logs import configure_logging, log_start
from shared.platform.version import VERSION, VERSION_HEADER

_VERSION_HEADER = (VERSION_HEADER.lower().encode(), VERSION.encode())


class VersionHeader:
    """Pure ASGI middleware: every HTTP response carries ``X-Egov-Version`` (errors and
    refusals included), so a client or a proxy log knows which release answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), _VERSION_HEADER]
            await send(message)

        await self.app(scope, receive, send_with_version)


def serve(app: FastAPI, settings: PlatformSettings, service: str, host: str, port: int) -> None:
    import uvicorn

    configure_logging(settings.log_level)
    log_start(service, host=host, port=port, env=settings.env)
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
