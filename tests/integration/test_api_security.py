"""Scoped tokens (stored hashed), ingest limited to its agencies, rate limiting (per token,
and failed authentications per client address), CORS and body limits — against a real
Redis, HTTP through the ASGI apps."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.api.app import create_app as create_api
from services.ingest.app import create_app as create_ingest
from shared.platform.config import IngestToken, Settings
from shared.platform.tokens import TokenSpec, digest
from tests.conftest import redis_db
from tests.factories import received

HCM_TOKEN = "tok-hcm-so-y-te"  # an ingest token issued to one agency only
READ_TOKEN = "tok-read-lanh-dao"
OPERATE_TOKEN = "tok-operate-truc-ban"
ADMIN_TOKEN = "tok-admin-so-khcn"
ISSUED = [
    TokenSpec(
        name="his-so-y-te",
        sha256=digest(HCM_TOKEN),
        scopes=["ingest"],
        sources=["his-so-y-te"],
        agencies=["so-y-te"],
    ),
    TokenSpec(name="lanh-dao", sha256=digest(READ_TOKEN), scopes=["read"]),
    TokenSpec(name="truc-ban", sha256=digest(OPERATE_TOKEN), scopes=["read", "operate"]),
    TokenSpec(name="so-khcn", sha256=digest(ADMIN_TOKEN), scopes=["admin"]),
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_each_scope_allowed_and_refused_where_it_should_be(redis_server) -> None:
    # no broker here: catalog replacements are not published on the catalog topic
    settings = Settings(
        redis_url=redis_db(redis_server, 11), tokens=ISSUED, catalog_log_enabled=False
    )
    with TestClient(create_api(settings)) as api:
        path = "/v1/indicators/full_online_rate"
        assert api.get(path).status_code == 401
        assert api.get(path, headers=bearer("wrong")).status_code == 403
        # issued tokens (EGOV_TOKENS) make the dev tokens invalid, also in development
        assert api.get(path, headers=bearer("dev-read-token")).status_code == 403
        assert api.get(path, headers=bearer("dev-admin-token")).status_code == 403
        for token in (READ_TOKEN, OPERATE_TOKEN, ADMIN_TOKEN):  # admin implies read
            assert api.get(path, headers=bearer(token)).status_code == 200, token
        refused = api.get(path, headers=bearer(HCM_TOKEN))  # ingest scope cannot read
        assert refused.status_code == 403 and "'read' scope" in refused.json()["message"]
        csv_body = (
            "procedure_code,agency_code,name,service_level,eligible_full_online,fee_required\n"
        )
        put = "/v1/catalog/procedures"
        assert api.put(put, content=csv_body, headers=bearer(READ_TOKEN)).status_code == 403
        assert api.put(put, content=csv_body, headers=bearer(OPERATE_TOKEN)).status_code == 403
        assert api.put(put, content=csv_body, headers=bearer(ADMIN_TOKEN)).status_code == 200
        # ack and silence take the operate scope: read gets 403, operate and admin reach it
        for action, until in (("ack", None), ("silence", {"until": "2030-01-01T00:00:00+07:00"})):
            url = f"/v1/alerts/khong-co/{action}"
            codes = [
                api.post(url, json=until, headers=bearer(t)).status_code
                for t in (READ_TOKEN, OPERATE_TOKEN, ADMIN_TOKEN)
            ]
            assert codes == [403, 404, 404], action
    with TestClient(
        create_ingest(
            Settings(
                kafka_bootstrap="127.0.0.1:1",
                tokens=ISSUED,
                redis_url=redis_db(redis_server, 11),
                ingest_produce_timeout_s=1,
            )
        )
    ) as ingest:
        body = orjson.dumps([received(agency="so-y-te")])
        headers = {"content-type": "application/json"}
        for token in (READ_TOKEN, ADMIN_TOKEN, "dev-ingest-token"):
            resp = ingest.post("/v1/events", content=body, headers={**headers, **bearer(token)})
            assert resp.status_code == 403, token
        # the right scope passes authorisation (and reaches the broker, which is down here)
        ok = ingest.post("/v1/events", content=body, headers={**headers, **bearer(HCM_TOKEN)})
        assert ok.status_code == 503


def test_ingest_token_cannot_write_another_agencys_events(redis_server) -> None:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1",
        tokens=ISSUED,
        redis_url=redis_db(redis_server, 11),
        ingest_produce_timeout_s=1,
    )
    headers = {"content-type": "application/json", **bearer(HCM_TOKEN)}
    with TestClient(create_ingest(settings)) as ingest:
        mixed = [
            received(agency="so-y-te", dossier="a"),
            received(agency="so-tu-phap", dossier="b"),
        ]
        resp = ingest.post("/v1/events", content=orjson.dumps(mixed), headers=headers)
        assert resp.status_code == 403
        (err,) = resp.json()["errors"]
        assert (err["index"], err["field"], err["code"]) == (1, "agency_code", "forbidden_agency")
        partial = ingest.post(
            "/v1/events",
            content=orjson.dumps([mixed[1]]),
            headers=headers,
            params={"partial": "true"},
        )
        assert partial.status_code == 202 and partial.json()["accepted"] == 0
        foreign = received(agency="so-y-te", source="qlvb-khac")
        resp = ingest.post("/v1/events", content=orjson.dumps([foreign]), headers=headers)
        assert resp.status_code == 403 and resp.json()["errors"][0]["field"] == "source"


def test_rate_limit_answers_429_with_retry_after(redis_server) -> None:
    settings = Settings(
        redis_url=redis_db(redis_server, 11), rate_limit_per_s=1, rate_limit_burst=3
    )
    with TestClient(create_api(settings)) as api:
        codes = [
            api.get("/v1/indicators", headers=bearer("dev-read-token")).status_code
            for _ in range(5)
        ]
        assert codes[:3] == [200, 200, 200] and codes[-1] == 429
        limited = api.get("/v1/indicators", headers=bearer("dev-read-token"))
        assert limited.headers["Retry-After"] == "1"
        assert limited.json()["error"] == "rate_limited"
        # the limit is per token: the admin token still has its own budget
        assert api.get("/v1/indicators", headers=bearer("dev-admin-token")).status_code == 200


def test_cors_allow_list_and_body_limit(redis_server) -> None:
    settings = Settings(
        redis_url=redis_db(redis_server, 11),
        cors_origins=["https://bando.tinh.gov.vn"],
        api_max_body_bytes=100,
    )
    with TestClient(create_api(settings)) as api:
        allowed = api.get(
            "/v1/indicators",
            headers={**bearer("dev-read-token"), "Origin": "https://bando.tinh.gov.vn"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://bando.tinh.gov.vn"
        other = api.get(
            "/v1/indicators", headers={**bearer("dev-read-token"), "Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers
        big = api.post(
            "/v1/reconciliations",
            content=b"x" * 500,
            headers={**bearer("dev-admin-token"), "content-type": "application/json"},
        )
        assert big.status_code == 413 and big.json()["field"] == "body"


def test_ingest_tokens_from_the_environment_are_limited_to_their_agencies(redis_server) -> None:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1",
        redis_url=redis_db(redis_server, 11),
        ingest_produce_timeout_s=1,
        ingest_tokens={
            "his-so-y-te": IngestToken(token=SecretStr("tok-env-so-y-te"), agencies=["so-y-te"]),
            "cong-dvc": IngestToken(token=SecretStr("tok-env-dvc"), agencies=["*"]),
        },
    )
    headers = {"content-type": "application/json"}
    with TestClient(create_ingest(settings)) as ingest:
        other = orjson.dumps([received(agency="so-tu-phap")])
        resp = ingest.post(
            "/v1/events", content=other, headers={**headers, **bearer("tok-env-so-y-te")}
        )
        assert resp.status_code == 403
        assert resp.json()["errors"][0]["code"] == "forbidden_agency"
        # "*" speaks for every agency: authorised (the broker is down here: 503)
        resp = ingest.post(
            "/v1/events", content=other, headers={**headers, **bearer("tok-env-dvc")}
        )
        assert resp.status_code == 503


def test_failed_authentication_is_limited_per_client_address(redis_server) -> None:
    settings = Settings(redis_url=redis_db(redis_server, 11), auth_failures_per_minute=5)
    with TestClient(create_api(settings)) as api:
        path = "/v1/indicators"
        codes = [api.get(path, headers=bearer(f"guess-{i}")).status_code for i in range(5)]
        assert codes == [403] * 5
        limited = api.get(path, headers=bearer("guess-5"))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json()["error"] == "rate_limited"
        # blocked whatever the token, so a right guess cannot be told from a wrong one
        assert api.get(path, headers=bearer("dev-read-token")).status_code == 429
        assert api.get(path).status_code == 429
