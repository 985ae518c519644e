"""The calculator observes a stamp shared by many events once: the same series as one
``observe`` per event (a prometheus_client upgrade that changes its internals fails here)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Histogram

from services.calculator.metrics import observe_repeated

BUCKETS = (0.01, 0.1, 1.0, 10.0)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
        if not s.name.endswith("_created")
    }


@pytest.mark.parametrize("amount", [0.0, 0.01, 0.05, 3.0, 10.0, 99.0])
def test_repeated_observation_equals_observing_each_time(amount: float) -> None:
    one, many = CollectorRegistry(), CollectorRegistry()
    each = Histogram("f", "freshness", buckets=BUCKETS, registry=one)
    bulk = Histogram("f", "freshness", buckets=BUCKETS, registry=many)
    for _ in range(37):
        each.observe(amount)
        each.observe(0.5)
    observe_repeated(bulk, amount, 37)
    observe_repeated(bulk, 0.5, 37)
    observe_repeated(bulk, 0.5, 0)
    assert samples(many) == pytest.approx(samples(one))
    assert samples(many)[("f_count", ())] == 74
