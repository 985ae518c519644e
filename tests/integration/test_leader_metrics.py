"""Two calculators in one group: the group's figures (business gauges, consumer lag) are
exported by the leader alone, so a Prometheus sum over the group equals one calculator's
figure, also after the leader stops and after it comes back."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import orjson
import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from devstack.services import RunningService
from shared.contract.partitioning import raw_key
from tests.factories import received
from tests.integration.test_metrics_scrape import query

pytestmark = pytest.mark.integration

AGENCIES = ("so-tai-chinh", "so-y-te", "ubnd-chau-doc", "so-tttt")
GROUP_GAUGES = (
    "egov_dossiers_open",
    "egov_dossiers_overdue",
    "egov_indicator_denominator",
    "egov_agencies_judged",
    "egov_index766_units",
    "egov_calculator_consumer_lag",
)


def scrape(service: RunningService) -> dict[str, float]:
    """Sum of each metric's samples on ``service``'s /metrics (absent: no samples)."""
    text = httpx.get(service.metrics_url, timeout=10).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in GROUP_GAUGES:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.5)


def exporters(calculators: list[RunningService]) -> list[int]:
    """Which calculators export the group's gauges (indices)."""
    return [i for i, c in enumerate(calculators) if c.process.alive and scrape(c)]


def test_group_gauges_come_from_the_leader_only(
    isolated, service_factory, prometheus_factory
) -> None:
    events = []
    for n, agency in enumerate(AGENCIES):
        for i in range(5 + n):
            past_due = i % 2 == 0  # overdue: due before now, never resolved
            events.append(
                received(
                    agency=agency,
                    dossier=f"lead-{agency}-{i}",
                    at="2024-05-06T09:00:00+07:00",
                    due_at="2024-06-01T17:00:00+07:00" if past_due else "2030-01-01T00:00:00+07:00",
                )
            )
    producer = KafkaProducer(bootstrap_servers=isolated["bootstrap"], acks="all")
    for raw in events:
        producer.send(isolated["topics"].dossier, key=raw_key(raw), value=orjson.dumps(raw))
    producer.flush(30)
    producer.close()
    env = {**isolated["env"], "EGOV_METRICS_INTERVAL_S": "1"}

    first = service_factory("calculator", env)
    wait_for(
        lambda: scrape(first).get("egov_dossiers_open") == len(events),
        90,
        "one calculator exports every open dossier",
    )
    wait_for(lambda: scrape(first).get("egov_calculator_consumer_lag") == 0, 60, "lag 0")
    alone = scrape(first)
    assert alone["egov_dossiers_overdue"] == sum(5 + n - (5 + n) // 2 for n in range(4))

    second = service_factory("calculator", env)
    calculators = [first, second]
    prom = prometheus_factory({"calculator": [f"127.0.0.1:{c.port}" for c in calculators]})
    # after the rebalance exactly one of them (the leader) exports the group's figures
    wait_for(lambda: len(exporters(calculators)) == 1, 90, "one exporter of two")
    # a few more export intervals: never two (a later rebalance of the group may leave
    # none for a moment while the leadership moves)
    watch_until = time.monotonic() + 3
    while time.monotonic() < watch_until:
        assert len(exporters(calculators)) <= 1, "two calculators export the group's gauges"
        time.sleep(0.3)
    wait_for(lambda: len(exporters(calculators)) == 1, 60, "one exporter of two, settled")
    (leader,) = exporters(calculators)
    assert scrape(calculators[leader]) == alone
    assert scrape(calculators[1 - leader]) == {}

    def prometheus_sums_equal_one_calculator() -> bool:
        for name, value in alone.items():
            got = query(prom.url, f"sum({name})")
            if not got or float(got[0]["value"][1]) != value:
                return False
        up = query(prom.url, 'sum(up{job="calculator"})')
        return bool(up) and float(up[0]["value"][1]) == 2

    wait_for(prometheus_sums_equal_one_calculator, 60, "Prometheus sums = one calculator")

    # the leader stops: the other one takes over the export
    calculators[leader].process.stop()
    other = calculators[1 - leader]
    wait_for(lambda: scrape(other) == alone, 90, "the remaining calculator exports")
    # it comes back: one exporter again, whichever the group elects
    calculators[leader].process.start()
    calculators[leader].wait_healthy()
    wait_for(
        lambda: (
            len(exporters(calculators)) == 1
            and scrape(calculators[exporters(calculators)[0]]) == alone
        ),
        90,
        "one exporter after the restart",
    )
