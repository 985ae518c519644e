"""Every rejection path of POST /v1/events: status code and a reason naming the field.

None of these requests reaches Kafka (they are refused before producing), so the app runs
in-process here; the accepted path is covered end to end against a real broker.
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest
from fastapi.testclient import TestClient

from services.ingest.app import create_app
from shared.domain.catalog import load_agencies
from shared.domain.procedures import ProcedureCatalog
from shared.platform.config import Settings
from shared.store.catalogs import CatalogCache, Catalogs
from shared.store.client import redis_from_url
from tests.factories import received

AUTH = {"Authorization": "Bearer dev-ingest-token"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(
        kafka_bootstrap="127.0.0.1:1",
        redis_url="redis://127.0.0.1:1/0",
        ingest_max_body_bytes=20_000,
        ingest_produce_timeout_s=1.0,
    )
    # no Redis here: the copy of the catalog a running ingest read from Redis before
    copy = Catalogs(1, load_agencies(), ProcedureCatalog([]))
    catalogs = CatalogCache(redis_from_url(settings.redis_url), initial=copy)
    with TestClient(create_app(settings, catalogs)) as c:
        yield c


def test_no_catalog_read_yet_and_redis_down_is_503_never_422() -> None:
    """Before any copy of the catalog, an unknown agency can't be judged: 503, not 422
    (issue 20, item 1; the packaged catalog lacks every agency added since)."""
    settings = Settings(kafka_bootstrap="127.0.0.1:1", redis_url="redis://127.0.0.1:1/0")
    with TestClient(create_app(settings)) as fresh:
        resp = fresh.post(
            "/v1/events", content=orjson.dumps([received(agency="xa-mau-moi-01")]), headers=AUTH
        )
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == str(settings.ingest_retry_after_s)
    assert resp.json()["error"] == "catalog_unavailable"


def post(
    client: TestClient, body: bytes, headers: dict[str, str] | None = None, **params: str
) -> tuple[int, dict]:  # type: ignore[type-arg]
    resp = client.post(
        "/v1/events",
        content=body,
        params=params,
        headers={"content-type": "application/json", **(AUTH if headers is None else headers)},
    )
    return resp.status_code, resp.json()


def fields(body: dict) -> set[str]:  # type: ignore[type-arg]
    return {e["field"] for e in body["errors"]}


def test_missing_token_is_401(client: TestClient) -> None:
    status, body = post(client, orjson.dumps([received()]), headers={})
    assert status == 401 and fields(body) == {"Authorization"}


def test_wrong_token_is_403(client: TestClient) -> None:
    status, body = post(
        client, orjson.dumps([received()]), headers={"Authorization": "Bearer nope"}
    )
    assert status == 403 and fields(body) == {"Authorization"}
    assert "nope" not in orjson.dumps(body).decode()


def test_invalid_json_is_400_naming_body(client: TestClient) -> None:
    status, body = post(client, b'[{"event_id": "x",')
    assert status == 400 and fields(body) == {"body"}
    assert "invalid JSON" in body["errors"][0]["reason"]


def test_invalid_ndjson_line_names_its_index(client: TestClient) -> None:
    lines = orjson.dumps(received()) + b"\n{broken\n"
    resp = client.post(
        "/v1/events", content=lines, headers={**AUTH, "content-type": "application/x-ndjson"}
    )
    assert resp.status_code == 422
    assert resp.json()["errors"] == [
        {"index": 1, "field": "body", "reason": resp.json()["errors"][0]["reason"], "code": "json"}
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"dossier_id": None}, "dossier_id"),
        ({"channel": "fax"}, "channel"),
        ({"occurred_at": "2024-03-01T10:00:00"}, "occurred_at"),
        ({"occurred_at": "2099-03-01T10:00:00+07:00"}, "occurred_at"),
        ({"agency_code": "so-khong-co"}, "agency_code"),
    ],
)
def test_invalid_event_rejects_the_batch_with_422(
    client: TestClient, change: dict[str, object], field: str
) -> None:
    bad = received(dossier="bad")
    for key, value in change.items():
        if value is None:
            bad.pop(key)
        else:
            bad[key] = value
    status, body = post(client, orjson.dumps([received(dossier="good"), bad]))
    assert status == 422
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["field"] == field
    assert body["errors"][0]["reason"]


def test_oversized_body_is_413(client: TestClient) -> None:
    events = [received(dossier=f"d{i}") for i in range(100)]
    status, body = post(client, orjson.dumps(events))
    assert status == 413 and fields(body) == {"body"}


def test_partial_with_only_invalid_events_produces_nothing(client: TestClient) -> None:
    bad = received(channel="fax")
    status, body = post(client, orjson.dumps([bad]), partial="true")
    assert status == 202
    assert body["accepted"] == 0 and body["rejected"][0]["field"] == "channel"


def test_broker_unreachable_is_503_with_retry_after(client: TestClient) -> None:
    resp = client.post(
        "/v1/events",
        content=orjson.dumps([received()]),
        headers={**AUTH, "content-type": "application/json"},
    )
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "5"
    assert resp.json()["error"] == "unavailable"


def test_ingest_and_the_api_answer_errors_in_one_envelope(client: TestClient) -> None:
    """Both HTTP services: the same body (error, field, message, message_vi, errors)."""
    from services.api.app import create_app as create_api

    status, ingest_body = post(client, b"[]", headers={})
    assert status == 401
    settings = Settings(redis_url="redis://127.0.0.1:1/0", catalog_log_enabled=False)
    with TestClient(create_api(settings)) as api:
        resp = api.get("/v1/indicators/online_rate", params={"scope": "province"})
    assert resp.status_code == 401
    api_body = resp.json()
    assert (
        set(ingest_body) == set(api_body) == {"error", "field", "message", "message_vi", "errors"}
    )
    assert ingest_body["error"] == api_body["error"] == "unauthorized"
    assert ingest_body["message_vi"] and api_body["message_vi"]


def v12(event_type: str, **fields: object) -> dict[str, object]:
    """A contract v1.2 event of so-tttt in March 2024 (the head of every event, then
    ``fields``)."""
    return {
        "event_id": f"v12-{event_type}",
        "event_type": event_type,
        "occurred_at": "2024-03-01T10:00:00+07:00",
        "agency_code": "so-tttt",
        **fields,
    }


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (v12("transferred", dossier_id="d", procedure_code="p"), "to_agency_code"),
        (
            v12("transferred", dossier_id="d", procedure_code="p", to_agency_code="so-khong-co"),
            "to_agency_code",
        ),
        (v12("portal_synced", procedure_code="p"), "dossier_id"),
        (
            v12("due_changed", dossier_id="d", procedure_code="p", reason="apology_redated"),
            "due_at",
        ),
        (
            v12(
                "petition_received",
                petition_id="pk",
                classification="complaint",
                due_at="2024-03-10T17:00:00+07:00",
            ),
            "classification",
        ),
        (v12("petition_resolved"), "petition_id"),
        (v12("petition_rated", petition_id="pk"), "satisfaction"),
        (
            v12(
                "procedure_published",
                procedure_code="p",
                decision_on_time=True,
                publicized=False,
                publicized_on_time=True,
                content_complete=True,
            ),
            "publicized_on_time",
        ),
        (received(dossier="bad", reused_digitized_data="sometimes"), "reused_digitized_data"),
    ],
)
def test_an_invalid_v12_event_rejects_the_batch_naming_its_field(
    client: TestClient, bad: dict[str, object], field: str
) -> None:
    status, body = post(client, orjson.dumps([received(dossier="good"), bad]))
    assert status == 422, body
    assert body["error"] == "validation_failed" and body["field"] == field
    assert body["errors"][0]["index"] == 1 and body["errors"][0]["field"] == field
    assert body["errors"][0]["reason"] and body["message_vi"]


# -- the packaged catalog in time (domain README §4a.6, §9) -----------------------------


def test_an_event_of_a_2024_district_in_2026_is_refused_naming_agency_code_and_validity(
    client: TestClient,
) -> None:
    """The districts ended on 2025-06-30: a 2026 event of one is a 422 that says so (the
    commune in the same batch is valid: only the district is named)."""
    commune = received(agency="H01.187", dossier="dong-thai", at="2026-03-04T08:15:00+07:00")
    district = received(agency="ubnd-an-phu", dossier="an-phu", at="2026-03-04T08:15:00+07:00")
    status, body = post(client, orjson.dumps([commune, district]))
    assert status == 422
    assert body["errors"] == [
        {
            "index": 1,
            "field": "agency_code",
            "reason": "agency 'ubnd-an-phu' ended on 2025-06-30: not valid on 2026-03-04, "
            "the local date of occurred_at",
            "code": "agency_not_valid",
        }
    ]
    # a department merged on 2025-03-01 names the unit that continues it
    merged = received(agency="so-tttt", dossier="tttt", at="2026-03-04T08:15:00+07:00")
    status, body = post(client, orjson.dumps([merged]))
    assert status == 422
    assert body["errors"][0]["reason"].startswith(
        "agency 'so-tttt' ended on 2025-02-28 (successor: so-khcn-2025): not valid on 2026-03-04"
    )


def test_an_event_of_commune_dong_thai_in_2026_passes_validation(client: TestClient) -> None:
    """H01.187 (UBND xã Đông Thái) is a unit of the packaged catalog from 2025-07-01: its
    event is valid and goes on to Kafka (unreachable here: 503, never a 422)."""
    commune = received(agency="H01.187", dossier="dong-thai", at="2026-11-02T09:00:00+07:00")
    status, body = post(client, orjson.dumps([commune]))
    assert status == 503 and body["error"] == "unavailable", body
    # before the merged province existed, the commune is refused
    early = received(agency="H01.187", dossier="early", at="2025-06-30T09:00:00+07:00")
    status, body = post(client, orjson.dumps([early]))
    assert status == 422
    assert body["errors"][0]["reason"].startswith("agency 'H01.187' starts on 2025-07-01")
