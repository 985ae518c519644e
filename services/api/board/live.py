"""Server-sent events of the live board: one poller per API process, whatever the number of
open boards. While someone watches, it reads every ``board_poll_s`` (1 s) what could change
the board — the catalog version, the data version of every agency (``ver:{agency}``, raised
by every write of figures), the alert store, the mail index, the minute (overdue and "today"
move with the clock) — and only when that changed renders the board's fragments again and
pushes those whose HTML differs. Nothing is pushed while nothing changes. ``GET /board``
serves the same rendering while that fingerprint stands (one rendering per change, however
many boards load; templates rendered off the event loop).

A stream ends after ``STREAM_S`` seconds and the browser's EventSource reconnects by itself
(``retry``), sending the last event id it saw: fragments it already has are not sent again.
Bounded streams let the server stop without waiting on open boards. At most
``EGOV_BOARD_MAX_STREAMS`` are open at once (:meth:`BoardHub.reserve`); a slot is released
when its response ends, however it ends (:class:`HeldStream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from services.api.board.view import BoardData, board_data, mail_dir
from services.api.context import ApiContext
from shared.domain.calendar import now_utc
from shared.platform.mailbox import index_stamp
from shared.platform.off_loop import off_loop
from shared.store.alert_commands import alert_documents

log = logging.getLogger(__name__)

STREAM_S = 10.0
KEEPALIVE_S = 5.0
RETRY_MS = 1000

Renderer = Callable[[BoardData], dict[str, str]]
# Where an EventSource ends a line: CRLF, CR or LF only. (str.splitlines also splits at
# U+2028, U+2029, U+0085…, which would cut a fragment's JSON string in two.)
_SSE_LINE_END = re.compile(r"\r\n|\r|\n")


def digest(html: str) -> str:
    """Names a fragment's HTML: the page carries it, so a browser skips what it has."""
    return hashlib.blake2b(html.encode(), digest_size=10).hexdigest()


def sse(event: str, data: str, event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in _SSE_LINE_END.split(data)]
    return "\n".join(lines) + "\n\n"


class BoardHub:
    def __init__(self, ctx: ApiContext, render: Renderer) -> None:
        self.ctx = ctx
        self.render = render
        self.interval = ctx.settings.board_poll_s
        self.max_streams = ctx.settings.board_max_streams
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.latest: dict[str, tuple[int, str]] = {}  # fragment → (sequence, message)
        # event ids grow across restarts of the API, so a reconnecting browser's last id
        # never hides a newer fragment
        self.seq = int(time.time() * 1000)
        self._fingerprint: bytes | None = None  # of the fragments last pushed
        self._rendered: tuple[bytes, dict[str, str]] | None = None
        self._rendering: dict[bytes, asyncio.Future[dict[str, str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.renders = 0  # for tests: how many times the board was computed

    async def fingerprint(self) -> bytes:
        catalogs = await self.ctx.catalogs.current()
        codes = sorted(catalogs.agencies.agencies)
        versions = await self.ctx.store.data_versions(codes)
        raws = await alert_documents(self.ctx.redis)
        h = hashlib.blake2b(digest_size=16)
        h.update(repr((catalogs.version, versions, index_stamp(mail_dir(self.ctx)))).encode())
        h.update(now_utc().strftime("%Y%m%d%H%M").encode())
        for raw in raws:
            h.update(raw or b"-")
        return h.digest()

    async def fragments_now(self) -> dict[str, str]:
        """The board's fragments as they stand: rendered again only when the fingerprint
        moved (``GET /board`` and the poller share them), concurrent callers sharing one
        rendering."""
        return await self._fragments_for(await self.fingerprint())

    async def _fragments_for(self, fingerprint: bytes) -> dict[str, str]:
        if self._rendered is not None and self._rendered[0] == fingerprint:
            return self._rendered[1]
        pending = self._rendering.get(fingerprint)
        if pending is None:
            pending = self._rendering[fingerprint] = asyncio.ensure_future(
                self._render(fingerprint)
            )
        return await asyncio.shield(pending)

    async def _render(self, fingerprint: bytes) -> dict[str, str]:
        # the fingerprint was read before the data: a change meanwhile moves it past this
        # one, so what is rendered here is never served for a later state
        try:
            data = await board_data(self.ctx)
            fragments = await off_loop(self.render, data)  # the templates: off the loop
            self.renders += 1
            self._rendered = (fingerprint, fragments)
            return fragments
        finally:
            self._rendering.pop(fingerprint, None)

    async def tick(self) -> None:
        fingerprint = await self.fingerprint()
        if fingerprint == self._fingerprint:
            return
        fragments = await self._fragments_for(fingerprint)
        self._fingerprint = fingerprint
        for name, html in fragments.items():
            previous = self.latest.get(name)
            message_data = json.dumps(
                {"name": name, "html": html, "digest": digest(html)}, ensure_ascii=False
            )
            if previous is not None and previous[1] == message_data:
                continue
            self.seq += 1
            self.latest[name] = (self.seq, message_data)
            message = sse("fragment", message_data, self.seq)
            for queue in list(self.subscribers):
                with contextlib.suppress(asyncio.QueueFull):
                    queue.put_nowait(message)

    async def _run(self) -> None:
        while self.subscribers:
            try:
                await self.tick()
            except Exception:  # Redis away for a moment: try again at the next tick
                log.exception("board update failed")
            await asyncio.sleep(self.interval)

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            # nobody watched meanwhile: what we last rendered may be stale, start afresh
            self.latest.clear()
            self._fingerprint = None
            self._task = asyncio.create_task(self._run())

    def reserve(self) -> asyncio.Queue[str] | None:
        """A subscriber slot for one stream, or None when ``max_streams`` are open."""
        if len(self.subscribers) >= self.max_streams:
            return None
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=64)
        self.subscribers.add(queue)
        return queue

    def release(self, queue: asyncio.Queue[str]) -> None:
        self.subscribers.discard(queue)

    async def stream(
        self, queue: asyncio.Queue[str], last_event_id: int | None
    ) -> AsyncIterator[str]:
        """One browser's events (on its reserved ``queue``): what it lacks of the current
        fragments, then each change, for ``STREAM_S`` seconds."""
        self._ensure_running()
        loop = asyncio.get_running_loop()
        ends = loop.time() + STREAM_S
        try:
            yield f"retry: {RETRY_MS}\n\n"
            for seq, message_data in sorted(self.latest.values()):
                if last_event_id is None or seq > last_event_id:
                    yield sse("fragment", message_data, seq)
            while (left := ends - loop.time()) > 0:
                try:
                    yield await asyncio.wait_for(queue.get(), timeout=min(left, KEEPALIVE_S))
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self.release(queue)


class HeldStream(StreamingResponse):
    """A streaming response that calls ``release`` once it is over — also when the client
    left before the stream's first event (its generator then never runs its ``finally``)."""

    def __init__(
        self, content: AsyncIterator[str], release: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
