"""Every service's /metrics is scraped by a real Prometheus and carries its pipeline metrics."""

from __future__ import annotations

import time

import httpx
import orjson

from tests.factories import received

INGEST_AUTH = {"Authorization": "Bearer dev-ingest-token", "content-type": "application/json"}


def query(prom_url: str, expr: str) -> list[dict]:  # type: ignore[type-arg]
    resp = httpx.get(f"{prom_url}/api/v1/query", params={"query": expr}, timeout=10)
    resp.raise_for_status()
    return resp.json()["data"]["result"]  # type: ignore[no-any-return]


def wait_query(prom_url: str, expr: str, timeout: float = 60) -> list[dict]:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    result = query(prom_url, expr)
    while not result and time.monotonic() < deadline:
        time.sleep(1)
        result = query(prom_url, expr)
    return result


def test_prometheus_scrapes_every_service(service_factory, prometheus_factory) -> None:
    env = {"EGOV_METRICS_INTERVAL_S": "1"}
    services = {n: service_factory(n, env) for n in ("ingest", "api", "calculator", "alerts")}
    prom = prometheus_factory({n: [f"127.0.0.1:{s.port}"] for n, s in services.items()})
    good = received(agency="H01.02", dossier="m1", at="2026-02-02T08:00:00+07:00")
    bad = received(agency="H01.02", dossier="m2", at="2026-02-02T08:00:00+07:00", channel="fax")
    resp = httpx.post(
        f"{services['ingest'].url}/v1/events",
        content=orjson.dumps([good, bad]),
        params={"partial": "true"},
        headers=INGEST_AUTH,
        timeout=30,
    )
    assert resp.status_code == 202 and resp.json()["accepted"] == 1
    up = wait_query(prom.url, "sum by (job) (up) == 1")
    deadline = time.monotonic() + 60
    while len(up) < 4 and time.monotonic() < deadline:
        time.sleep(1)
        up = query(prom.url, "sum by (job) (up) == 1")
    assert {r["metric"]["job"] for r in up} == {"ingest", "api", "calculator", "alerts"}
    accepted = wait_query(prom.url, 'sum(egov_ingest_events_total{outcome="accepted"}) > 0')
    assert float(accepted[0]["value"][1]) == 1
    rejected = wait_query(prom.url, 'egov_ingest_rejections_total{field="channel"}')
    assert rejected and float(rejected[0]["value"][1]) == 1
    applied = wait_query(prom.url, 'egov_calculator_events_applied_total{family="dossier"} > 0')
    assert applied, "the calculator's applied-events counter never reached Prometheus"
    assert wait_query(prom.url, "egov_calculator_deadlettered_total")
    assert wait_query(prom.url, "egov_alerts_updates_consumed_total")
    # business metrics: every scope and indicator, and the calculator's lag per partition
    series = wait_query(prom.url, 'egov_indicator_denominator{period="year"}')
    scopes = {r["metric"]["scope"] for r in series}
    assert {"province", "group:so_nganh", "level:xa", "H01.02"} <= scopes
    assert wait_query(prom.url, 'egov_indicator_target_percent{scope="H01.02"}')
    assert wait_query(prom.url, "egov_dossiers_overdue")
    lag = wait_query(prom.url, "egov_calculator_consumer_lag")
    assert {r["metric"]["partition"] for r in lag} == {str(p) for p in range(6)}
