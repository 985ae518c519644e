"""Leftovers of issue 20 (item 11) that need no server: a line separator in a board
fragment, the Redis password on redis-cli's command line, a Redis that never answers."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from services.api.board.live import sse
from shared.platform.config import Settings
from shared.store import snapshots
from shared.store.client import redis_from_url


def parse_sse(stream: str) -> list[dict[str, str]]:
    """Events as a browser's EventSource reads them (lines end at CRLF, CR or LF only)."""
    events: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in re.split(r"\r\n|\r|\n", stream):
        if line == "":
            if data:
                events.append({**fields, "data": "\n".join(data)})
            fields, data = {}, []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            fields[name] = value
    return events


def test_a_line_separator_in_a_fragment_keeps_its_json_whole() -> None:
    html = "<td>Sở\u2028Nội vụ\u2029(mới)\x85 — \x1c\x1d\x1e\x0b\x0c</td>"
    message = json.dumps({"name": "kpis", "html": html}, ensure_ascii=False)
    (event,) = parse_sse(sse("fragment", message, 7))
    assert event["id"] == "7" and json.loads(event["data"])["html"] == html
    # plain multi-line data is still sent as several data lines
    assert parse_sse(sse("x", "one\ntwo"))[0]["data"] == "one\ntwo"


def test_redis_cli_gets_the_password_from_its_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: dict[str, Any] = {}

    def fake_run(argv: list[str], **kwargs: Any) -> Any:
        seen["argv"], seen["env"] = argv, kwargs.get("env")
        Path(argv[-1]).write_bytes(b"REDIS0011")
        return type("Done", (), {"returncode": 0, "stderr": ""})()

    monkeypatch.setattr("shared.store.snapshots.subprocess.run", fake_run)
    secret = "mat-khau-redis-rat-dai-42"
    snapshots.take_snapshot(f"redis://nguoi-dung:{secret}@10.0.0.7:6380/0", tmp_path)
    assert not any(secret in arg for arg in seen["argv"])  # never in the process list
    assert "-a" not in seen["argv"] and seen["env"]["REDISCLI_AUTH"] == secret
    argv = seen["argv"]
    assert argv[argv.index("--user") + 1] == "nguoi-dung"
    assert argv[argv.index("-h") + 1] == "10.0.0.7" and argv[argv.index("-p") + 1] == "6380"


@pytest.fixture()
def silent_redis() -> Iterator[str]:
    """A TCP server that accepts and never answers: Redis hung, or a dead link."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        server.close()


def test_redis_clients_give_up_on_a_silent_server(silent_redis: str) -> None:
    async def ping(client: Any) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(Exception) as caught:
            await asyncio.wait_for(client.ping(), timeout=30)
        assert "Timeout" in type(caught.value).__name__
        await client.aclose()
        return loop.time() - started

    # the services pass their settings; every other client has the same defaults
    settings = Settings(redis_url=silent_redis, redis_socket_timeout_s=0.5)
    waited = asyncio.run(ping(redis_from_url(settings.redis_url, settings=settings)))
    assert waited < 3
    client = redis_from_url(silent_redis)
    assert isinstance(client, Redis)
    kwargs = client.connection_pool.connection_kwargs
    defaults = Settings()
    assert kwargs["socket_timeout"] == defaults.redis_socket_timeout_s > 0
    assert kwargs["socket_connect_timeout"] == defaults.redis_connect_timeout_s > 0


def test_the_api_answers_503_when_redis_does_not_answer(silent_redis: str) -> None:
    from fastapi.testclient import TestClient

    from services.api.app import create_app

    settings = Settings(
        redis_url=silent_redis, redis_socket_timeout_s=0.5, catalog_log_enabled=False
    )
    with TestClient(create_app(settings)) as api:
        started = time.monotonic()
        resp = api.get(
            "/v1/indicators/full_online_rate", headers={"Authorization": "Bearer dev-read-token"}
        )
        assert resp.status_code == 503 and resp.json()["error"] == "redis_unavailable"
        assert time.monotonic() - started < 5
