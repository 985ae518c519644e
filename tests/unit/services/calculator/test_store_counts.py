"""The calculator exports what its IndicatorStore counted (cumulative totals of the
process, shared by the batches in flight) as Prometheus counters: each batch adds only
what was counted since the previous export."""

from __future__ import annotations

from prometheus_client import REGISTRY

from services.calculator import metrics


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    assert value is not None, name
    return value


def test_each_export_adds_what_was_counted_since_the_last() -> None:
    def now() -> tuple[float, float, float, float]:
        return (
            sample("egov_calculator_entity_states_total", source="known"),
            sample("egov_calculator_entity_states_total", source="new"),
            sample("egov_calculator_entity_states_total", source="read"),
            sample("egov_calculator_apply_conflicts_total"),
        )

    before = now()
    counts = metrics.StoreCounts()
    counts.export(known=10, new=4, read=3, conflicts=0)
    counts.export(known=25, new=4, read=5, conflicts=2)
    after = now()
    assert [a - b for a, b in zip(after, before, strict=True)] == [25, 4, 5, 2]
