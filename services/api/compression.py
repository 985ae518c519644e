"""Responses compressed for clients that accept gzip, each distinct body once.

The public page of 117 units is ~430 kB of HTML and a 117-unit ranking ~30 kB of JSON;
sent as they are, writing them costs the API more than finding them in its cache. Every
browser and portal asks for ``Accept-Encoding: gzip``. Starlette's ``GZipMiddleware``
compresses every response again; here a cached response — the same ``bytes`` object
served from the response cache (services/api/response_cache.py) — is compressed once and
its compressed bytes kept beside it (keyed by the object's identity, the object itself
held so the identity cannot be reused), so a hit costs a dictionary lookup. Bodies below
``MIN_SIZE``, streamed bodies and bodies already encoded pass unchanged.
"""

from __future__ import annotations

import gzip

from cachetools import LRUCache
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.platform.off_loop import off_loop

MIN_SIZE = 1400  # one packet: below it gzip saves nothing worth a header
LEVEL = 6
# content types worth compressing (text; images and PDFs are compressed already)
COMPRESSIBLE = (b"text/", b"application/json", b"application/javascript", b"image/svg+xml")
# above this a body is compressed in a worker thread (a 430 kB page: a few ms of CPU)
OFF_LOOP_SIZE = 64 * 1024


class Compressed:
    """The compressed copies of recent bodies, by identity."""

    def __init__(self, maxsize: int = 256) -> None:
        self._by_id: LRUCache[int, tuple[bytes, bytes]] = LRUCache(maxsize=maxsize)

    async def of(self, body: bytes) -> bytes:
        found = self._by_id.get(id(body))
        if found is not None and found[0] is body:
            return found[1]
        if len(body) > OFF_LOOP_SIZE:
            packed = await off_loop(gzip.compress, body, LEVEL, mtime=0)
        else:
            packed = gzip.compress(body, LEVEL, mtime=0)
        self._by_id[id(body)] = (body, packed)
        return packed


class GzipCached:
    """Pure ASGI middleware: gzip for clients that accept it (see the module's header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.compressed = Compressed()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        accepts = "gzip" in Headers(scope=scope).get("accept-encoding", "")
        start: Message | None = None

        async def send_compressed(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if start is None:  # already sent (a streamed body) or not ours
                await send(message)
                return
            body: bytes = message.get("body", b"")
            headers = MutableHeaders(raw=start["headers"])
            kind = headers.get("content-type", "").encode()
            plain = (
                not accepts
                or message.get("more_body", False)
                or len(body) < MIN_SIZE
                or "content-encoding" in headers
                or not kind.startswith(COMPRESSIBLE)
            )
            if not plain:
                body = await self.compressed.of(body)
                headers["content-encoding"] = "gzip"
                headers["content-length"] = str(len(body))
                etag = headers.get("etag")
                if etag and not etag.startswith("W/"):  # same content, other bytes
                    headers["etag"] = "W/" + etag
                message = {**message, "body": body}
            if not plain or kind.startswith(COMPRESSIBLE):
                headers.add_vary_header("Accept-Encoding")
            await send(start)
            start = None
            await send(message)

        await self.app(scope, receive, send_compressed)
        if start is not None:  # a response without a body message
            await send(start)
