"""The API's body limit counts bytes as they arrive (issue 20, item 9): a chunked upload
with no Content-Length is cut at the limit and answered 413 with the error envelope."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

from services.api.app import create_app
from shared.platform.config import Settings


def test_a_chunked_upload_is_cut_at_the_limit_and_answered_413() -> None:
    """Straight through the ASGI app: a body without Content-Length that would never end."""
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", catalog_log_enabled=False))
    chunk = b"token=" + b"x" * 1018
    received = 0
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        if received > 10_000:  # 10 MB: the route would have read it all
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/board/login",
        "raw_path": b"/board/login",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"transfer-encoding", b"chunked"),
            (b"content-type", b"application/x-www-form-urlencoded"),
        ],
        "client": ("10.0.0.9", 5555),
        "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413
    assert json.loads(body)["error"] == "body_too_large"
    assert received <= 4096 // len(chunk) + 2  # stopped reading at the login form's limit
