"""Contract v1.2 through the running services: each new event type POSTed to ingest is
applied by the real calculator (Faust, the apply script) — noted, never dead-lettered, the
calculator still running — the transfer moving the open dossier, its receipt's figures
staying where it was received (the supplement request without ``due_at`` stopping the
clock); and dossiers moved by a transfer or by a reorganisation's successor."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import httpx
import pytest
import redis
from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from shared.domain.catalog import packaged_agencies_text
from tests.e2e.test_pipeline import READ_AUTH, figures, post, wait_for
from tests.integration.test_contract_v12 import AGENCY, v12_events

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(isolated_module, service_factory) -> dict[str, Any]:
    env = isolated_module["env"]
    return {
        "calculator": service_factory("calculator", env),
        "ingest": service_factory("ingest", env),
        "api": service_factory("api", env),
        **isolated_module,
    }


def applied_by_family(metrics_url: str) -> dict[str, float]:
    text = httpx.get(metrics_url, timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "egov_calculator_events_applied":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels["family"]] = sample.value
    return out


def test_the_calculator_notes_every_v12_event(stack) -> None:
    events = v12_events()
    resp = post(stack["ingest"].url, events)
    assert resp.status_code == 202, resp.text
    store = redis.Redis.from_url(stack["redis_url"])

    def counted() -> int:
        raw = store.hget(f"stat:{{{AGENCY}}}", "events")
        return int(raw) if raw is not None else 0

    assert wait_for(counted, len(events), timeout=90) == len(events)
    store.close()
    assert stack["calculator"].process.alive
    by_family = wait_for(
        lambda: {k: v for k, v in applied_by_family(stack["calculator"].metrics_url).items() if v},
        {"dossier": 5.0, "petition": 3.0, "procedure": 1.0},
    )
    assert by_family == {"dossier": 5.0, "petition": 3.0, "procedure": 1.0}

    consumer = KafkaConsumer(
        bootstrap_servers=stack["bootstrap"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    consumer.assign([TopicPartition(stack["topics"].deadletter, 0)])
    consumer.seek_to_beginning()
    assert list(consumer) == []  # nothing dead-lettered
    consumer.close()

    api = stack["api"].url
    # the receipt's figures stay where it was received
    assert figures(api, "full_online_rate", AGENCY, "2024-05")[:2] == (1, 1)

    def opened(scope: str) -> tuple[int, int]:
        body = httpx.get(
            f"{api}/v1/dossiers/open", params={"scope": scope}, headers=READ_AUTH, timeout=10
        ).json()
        return body["open"], body["overdue"]

    # the transfer moved it to so-y-te, where the clock stopped (the supplement request
    # without due_at, sent under so-tttt: any of its agencies may send its events)
    assert opened(AGENCY) == (0, 0)
    assert opened("so-y-te") == (1, 0)


def _dossier(kind: str, at: str, agency: str, dossier: str, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": f"mv-{dossier}-{kind}",
        "event_type": kind,
        "occurred_at": at,
        "agency_code": agency,
        "dossier_id": dossier,
        "procedure_code": "p-mv",
        **fields,
    }


def test_moved_dossiers_are_open_and_resolved_where_they_are_held(stack) -> None:
    """§4b through ingest, Kafka and the running calculator: a transfer moves the open
    dossier to its new agency; a dossier so-tnmt received and its successor so-nnmt-2025
    resolved (no transfer event) is open nowhere and resolved at the successor."""
    due = "2025-03-10T17:00:00+07:00"
    receipt = {
        "service_level": "full_online",
        "channel": "online",
        "submitted_by": "citizen",
        "due_at": due,
    }
    events = [
        _dossier("received", "2025-02-10T09:00:00+07:00", "so-tttt", "mv-1", **receipt),
        _dossier(
            "transferred",
            "2025-02-12T09:00:00+07:00",
            "so-tttt",
            "mv-1",
            to_agency_code="so-y-te",
        ),
        _dossier(
            "resolved",
            "2025-03-04T15:00:00+07:00",
            "so-nnmt-2025",
            "mv-2",
            due_at=due,
            outcome="approved",
        ),
        _dossier("received", "2025-02-20T09:00:00+07:00", "so-tnmt", "mv-2", **receipt),
    ]
    resp = post(stack["ingest"].url, events)
    assert resp.status_code == 202, resp.text
    store = redis.Redis.from_url(stack["redis_url"])

    codes = ("so-tttt", "so-y-te", "so-tnmt", "so-nnmt-2025")

    def holders() -> dict[str, list[str]]:
        """Per dossier, the agencies whose open set holds it."""
        return {
            ident: [c for c in codes if store.zscore(f"open:{{{c}}}", ident) is not None]
            for ident in ("mv-1", "mv-2")
        }

    def on_time() -> int:
        raw = store.hget("cnt:{so-nnmt-2025}:M202503", "resolved_on_time")
        return int(raw) if raw is not None else 0

    assert wait_for(on_time, 1, timeout=90) == 1
    expected = {"mv-1": ["so-y-te"], "mv-2": []}
    assert wait_for(holders, expected) == expected
    # intake stays where it was received
    assert int(store.hget("cnt:{so-tnmt}:M202502", "received") or 0) == 1
    assert store.hget("cnt:{so-nnmt-2025}:M202502", "received") is None
    store.close()
    assert stack["calculator"].process.alive


def test_a_successor_named_later_links_the_dossiers_already_counted(stack) -> None:
    """A catalog that did not yet say so-nnmt-2025 continues so-tnmt: a dossier so-tnmt
    received and so-nnmt-2025 resolved stays open at so-tnmt (orphaned, the unit ended
    with no successor). Loading the catalog that says so links it in the background: open
    nowhere, the orphan gone."""
    api, ingest = stack["api"].url, stack["ingest"].url
    admin = {"Authorization": "Bearer dev-admin-token", "content-type": "text/csv"}
    rows = list(csv.reader(io.StringIO(packaged_agencies_text())))
    header = next(r for r in rows if r and not r[0].startswith("#"))
    for row in rows:
        if row and row[0] == "so-tnmt":
            row[header.index("successor_code")] = ""
    unlinked = io.StringIO()
    csv.writer(unlinked, lineterminator="\n").writerows(rows)
    resp = httpx.put(
        f"{api}/v1/catalog/agencies", content=unlinked.getvalue(), headers=admin, timeout=30
    )
    assert resp.status_code == 200, resp.text
    due = "2025-03-10T17:00:00+07:00"
    receipt = {
        "service_level": "full_online",
        "channel": "online",
        "submitted_by": "citizen",
        "due_at": due,
    }
    events = [
        _dossier("received", "2025-02-20T09:00:00+07:00", "so-tnmt", "late-1", **receipt),
        _dossier(
            "resolved",
            "2025-03-04T10:00:00+07:00",
            "so-nnmt-2025",
            "late-1",
            due_at=due,
            outcome="approved",
        ),
    ]
    time.sleep(2.5)  # the calculator's catalog cache: the catalog without the link
    assert post(ingest, events).status_code == 202

    def orphans() -> list[str]:
        body = httpx.get(f"{api}/v1/dossiers/orphaned", headers=READ_AUTH, timeout=10).json()
        return [d["dossier_id"] for a in body["agencies"] for d in a["dossiers"]]

    assert "late-1" in wait_for(lambda: orphans(), ["late-1"], timeout=60)
    resp = httpx.put(
        f"{api}/v1/catalog/agencies", content=packaged_agencies_text(), headers=admin, timeout=30
    )
    assert resp.status_code == 200, resp.text
    assert "so-nnmt-2025" in resp.json()["relinking"]

    def held(scope: str) -> int:
        body = httpx.get(
            f"{api}/v1/dossiers/open", params={"scope": scope}, headers=READ_AUTH, timeout=10
        ).json()
        return int(body["open"])

    # until linked, the read side shows so-tnmt's open dossier at the unit holding it now
    # (H01.03, through so-nnmt-2025), though so-nnmt-2025 resolved it
    def settled() -> tuple[int, int, bool]:
        return held("so-tnmt"), held("H01.03"), "late-1" in orphans()

    assert wait_for(settled, (0, 0, False), timeout=60) == (0, 0, False)
