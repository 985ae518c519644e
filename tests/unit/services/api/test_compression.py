"""The gzip middleware: a cached body is compressed once, small or streamed or already
encoded bodies pass unchanged, and clients that do not ask for gzip get the plain bytes."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import Response, StreamingResponse
from fastapi.testclient import TestClient

from services.api.compression import GzipCached

PAGE = ("<tr><td>Ủy ban nhân dân xã Đông Thái</td><td>85,00%</td></tr>" * 400).encode()


@pytest.fixture()
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, list[int]]]:
    calls: list[int] = []
    real = gzip.compress

    def counted(data: bytes, *args: Any, **kwargs: Any) -> bytes:
        calls.append(len(data))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(gzip, "compress", counted)
    app = FastAPI()
    app.add_middleware(GzipCached)

    @app.get("/page")
    def page() -> Response:  # the same bytes object each time, as the response cache
        return Response(PAGE, media_type="text/html", headers={"ETag": '"v1"'})

    @app.get("/small")
    def small() -> Response:
        return Response(b'{"n": 1}', media_type="application/json")

    @app.get("/pdf")
    def pdf() -> Response:
        return Response(PAGE, media_type="application/pdf")

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([PAGE, PAGE]), media_type="text/csv")

    with TestClient(app) as c:
        yield c, calls


def test_a_cached_body_is_compressed_once(client: tuple[TestClient, list[int]]) -> None:
    c, calls = client
    for _ in range(3):
        resp = c.get("/page", headers={"Accept-Encoding": "gzip"})
        assert resp.status_code == 200 and resp.content == PAGE  # decoded by the client
        assert resp.headers["content-encoding"] == "gzip"
        assert int(resp.headers["content-length"]) < len(PAGE) // 10
        assert resp.headers["vary"] == "Accept-Encoding"
        assert resp.headers["etag"] == 'W/"v1"'  # same content, other bytes
    assert calls == [len(PAGE)]


def test_what_passes_unchanged(client: tuple[TestClient, list[int]]) -> None:
    c, calls = client
    plain = c.get("/page", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == PAGE
    assert plain.headers["etag"] == '"v1"' and plain.headers["vary"] == "Accept-Encoding"
    for path in ("/small", "/pdf", "/stream"):
        resp = c.get(path, headers={"Accept-Encoding": "gzip"})
        assert resp.status_code == 200 and "content-encoding" not in resp.headers, path
    assert c.get("/stream", headers={"Accept-Encoding": "gzip"}).content == PAGE * 2
    assert calls == []
