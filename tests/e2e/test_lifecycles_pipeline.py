"""Contract v1.1 lifecycles end to end: messy sequences POSTed over HTTP in a hostile order
reach the API through the real broker, Faust and Redis with the hand-counted figures of
§4a (cohort, one resolution, payments as transactions, intake rejection, withdrawal,
deadlines in force)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.domain.calendar import LOCAL_TZ
from tests.e2e.test_pipeline import READ_AUTH, figures, post, wait_for
from tests.factories import received

pytestmark = pytest.mark.e2e

PAST = "so-vhttdl"
NOW_AGENCY = "vp-ubnd-tinh"


@pytest.fixture(scope="module")
def pipeline(isolated_module, service_factory) -> dict[str, Any]:
    # own topics and Redis database: open-dossier counts are "now" views of every date,
    # which other modules' live events (the dashboards' generator) would add to
    env = isolated_module["env"]
    calculator = service_factory("calculator", env)
    return {
        "ingest": service_factory("ingest", env),
        "api": service_factory("api", env),
        "calculator": calculator,
    }


def dossier(
    event_type: str, at: str, dossier_id: str, agency: str = PAST, **kw: Any
) -> dict[str, Any]:
    return {
        "event_id": f"e2e-{uuid.uuid4().hex[:10]}",
        "event_type": event_type,
        "occurred_at": at,
        "agency_code": agency,
        "dossier_id": dossier_id,
        "procedure_code": "p-vh-1",
        **kw,
    }


def open_counts(api: str, scope: str) -> tuple[int, int, int]:
    body = httpx.get(
        f"{api}/v1/dossiers/open", params={"scope": scope}, headers=READ_AUTH, timeout=10
    ).json()
    return body["open"], body["overdue"], body["due_within_24h"]


def test_messy_lifecycles_give_the_hand_counted_figures(pipeline) -> None:
    ingest, api = pipeline["ingest"].url, pipeline["api"].url
    # k1: in person at 23:59:59 on 31 Dec 2022, again online (full online) at midnight
    # k2: full online, intake rejected (the rejection sent first)
    # k3: full online, withdrawn; k4: resolved late in March, corrected on time in April
    # k5: three payments (two online)
    events = [
        received(
            agency=PAST,
            dossier="k1",
            at="2023-01-01T00:00:00+07:00",
            level="full_online",
            channel="online",
        ),
        dossier("intake_rejected", "2023-01-02T10:00:00+07:00", "k2", reason="Thiếu tờ khai"),
        received(
            agency=PAST,
            dossier="k1",
            at="2022-12-31T23:59:59+07:00",
            level="full_online",
            channel="in_person",
        ),
        received(agency=PAST, dossier="k2", at="2023-01-02T09:00:00+07:00"),
        received(agency=PAST, dossier="k3", at="2023-01-03T09:00:00+07:00"),
        dossier("withdrawn", "2023-01-04T09:00:00+07:00", "k3"),
        received(agency=PAST, dossier="k4", at="2023-03-01T09:00:00+07:00", channel="in_person"),
        dossier(
            "resolved",
            "2023-04-03T09:00:00+07:00",
            "k4",
            due_at="2023-04-30T17:00:00+07:00",
            outcome="approved",
        ),
        dossier(
            "resolved",
            "2023-03-20T09:00:00+07:00",
            "k4",
            due_at="2023-03-15T17:00:00+07:00",
            outcome="approved",
        ),
        received(agency=PAST, dossier="k5", at="2023-05-02T09:00:00+07:00"),
        *(
            dossier("payment", at, "k5", method=method, amount_vnd=10_000)
            for at, method in (
                ("2023-05-02T09:10:00+07:00", "online"),
                ("2023-05-02T09:20:00+07:00", "offline"),
                ("2023-05-03T09:00:00+07:00", "online"),
            )
        ),
    ]
    resp = post(ingest, events)
    assert resp.status_code == 202, resp.text
    assert resp.json()["accepted"] == len(events)
    # 2022: k1 alone, both its categories: 1/1 full online
    assert wait_for(lambda: figures(api, "full_online_rate", PAST, "2022")[:2], (1, 1)) == (1, 1)
    # 2023-01: k3 (withdrawn, stays received) only: k1 belongs to December, k2 was rejected
    assert wait_for(lambda: figures(api, "full_online_rate", PAST, "2023-01")[:2], (1, 1)) == (1, 1)
    # the late first resolution decides: March 0/1, April nothing (not 1/0)
    assert wait_for(lambda: figures(api, "on_time_rate", PAST, "2023-03")[:2], (0, 1)) == (0, 1)
    assert figures(api, "on_time_rate", PAST, "2023-04")[:2] == (0, 0)
    # payments are transactions: 2 online of 3
    assert wait_for(lambda: figures(api, "online_payment_rate", PAST, "2023-05")[:2], (2, 3)) == (
        2,
        3,
    )
    # the rejected and the withdrawn dossiers are not open; k1 and k5 are (their due 2030)
    assert wait_for(lambda: open_counts(api, PAST), (2, 0, 0)) == (2, 0, 0)


def test_deadline_changes_move_dossiers_out_of_overdue(pipeline) -> None:
    ingest, api = pipeline["ingest"].url, pipeline["api"].url
    now = datetime.now(LOCAL_TZ).replace(microsecond=0)

    def at(delta: timedelta) -> str:
        return (now + delta).isoformat()

    # m1 overdue since yesterday; m2 overdue, then suspended; m3 due in 2 days
    events = [
        received(
            agency=NOW_AGENCY,
            dossier="m1",
            at=at(-timedelta(days=5)),
            due_at=at(-timedelta(days=1)),
        ),
        received(
            agency=NOW_AGENCY,
            dossier="m2",
            at=at(-timedelta(days=5)),
            due_at=at(-timedelta(days=2)),
        ),
        received(
            agency=NOW_AGENCY,
            dossier="m3",
            at=at(-timedelta(days=1)),
            due_at=at(timedelta(days=2)),
        ),
    ]
    assert post(ingest, events).status_code == 202
    assert wait_for(lambda: open_counts(api, NOW_AGENCY), (3, 2, 0)) == (3, 2, 0)
    changes = [
        # supplement requested: m1 due in 5 days → not overdue
        dossier(
            "due_changed",
            at(-timedelta(minutes=10)),
            "m1",
            agency=NOW_AGENCY,
            reason="supplement_requested",
            due_at=at(timedelta(days=5)),
        ),
        # m2 suspended: open, no due time
        dossier(
            "due_changed", at(-timedelta(minutes=5)), "m2", agency=NOW_AGENCY, reason="suspended"
        ),
        # m3 extended to within 24 h (an odd but valid change)
        dossier(
            "due_changed",
            at(-timedelta(minutes=1)),
            "m3",
            agency=NOW_AGENCY,
            reason="extended",
            due_at=at(timedelta(hours=12)),
        ),
    ]
    assert post(ingest, changes).status_code == 202
    assert wait_for(lambda: open_counts(api, NOW_AGENCY), (3, 0, 1)) == (3, 0, 1)


def test_v1_1_events_are_validated_with_the_field_named(pipeline) -> None:
    ingest = pipeline["ingest"].url
    bad = [
        dossier("due_changed", "2023-06-01T09:00:00+07:00", "z1", reason="extended"),
        dossier(
            "due_changed",
            "2023-06-01T09:00:00+07:00",
            "z2",
            reason="paused",
            due_at="2023-06-09T09:00:00+07:00",
        ),
        dossier("intake_rejected", "2023-06-01T09:00:00+07:00", "z3", reason="x" * 300),
    ]
    resp = post(ingest, bad)
    assert resp.status_code == 422
    fields = {(e["index"], e["field"]) for e in resp.json()["errors"]}
    assert fields == {(0, "due_at"), (1, "reason"), (2, "reason")}
