"""Prometheus metrics of the calculator."""

from __future__ import annotations

from typing import get_args

from prometheus_client import Counter, Gauge, Histogram

from shared.contract.events import Family

EVENTS_APPLIED = Counter(
    "egov_calculator_events_applied_total", "Events applied to the counters", ["family"]
)
DUPLICATES = Counter(
    "egov_calculator_duplicates_total",
    "Events skipped because their event_id was applied",
    ["family"],
)
DEADLETTERED = Counter(
    "egov_calculator_deadlettered_total", "Events sent to the dead-letter topic", ["reason"]
)
FRESHNESS = Histogram(
    "egov_calculator_freshness_seconds",
    "From an event's ingest to its figure being readable in Redis",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
FETCH_WAIT = Gauge(
    "egov_calculator_fetch_wait_seconds",
    "Longest a fetch of the event topics waits at the broker for new records "
    "(0: not bounded yet, Faust's 1.5 s)",
)
BATCH_SECONDS = Histogram(
    "egov_calculator_batch_seconds",
    "Time to apply one batch to Redis",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
UPDATES_PUBLISHED = Counter(
    "egov_calculator_indicator_updates_total", "Coalesced indicator updates published"
)
REDIS_RETRIES = Counter(
    "egov_calculator_redis_retries_total", "Batches retried because Redis was unreachable"
)
CONSUMER_LAG = Gauge(
    "egov_calculator_consumer_lag",
    "Records not yet processed, per partition",
    ["topic", "partition"],
    registry=None,  # the group's lag: exported by the leader (business_metrics.LeaderOnly)
)
GAP_RECORDS = Counter(
    "egov_calculator_gap_records_total",
    "Records re-applied because Redis' applied offsets were behind the batch (Redis lost "
    "writes, a snapshot was restored)",
)
BAD_HEADERS = Counter(
    "egov_calculator_bad_headers_total", "Records whose ingested_at_ms header is not an integer"
)
SNAPSHOTS = Counter("egov_calculator_snapshots_total", "Redis snapshots taken for restores")
LAST_APPLIED = Gauge(
    "egov_calculator_last_applied_timestamp_seconds", "When the last batch was applied"
)

# Export every label value from the start, so dashboards and rules see zeros, not gaps.
for _family in get_args(Family):
    EVENTS_APPLIED.labels(_family)
    DUPLICATES.labels(_family)
for _reason in ("empty", "invalid_json", "invalid_event", "year_archived"):
    DEADLETTERED.labels(_reason)


def observe_repeated(histogram: Histogram, amount: float, times: int) -> None:
    """``histogram.observe(amount)`` ``times`` times, in one increment per series: a batch's
    events posted in one request share their ingest stamp, hence their freshness.
    (prometheus_client has no public call for it; the test compares with ``observe``.)"""
    if times <= 0:
        return
    histogram._raise_if_not_observable()  # type: ignore[no-untyped-call]
    histogram._sum.inc(amount * times)
    for i, bound in enumerate(histogram._upper_bounds):
        if amount <= bound:
            histogram._buckets[i].inc(times)
            break
