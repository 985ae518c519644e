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
ENTITY_STATES = Counter(
    "egov_calculator_entity_states_total",
    "Entity states batches applied their events to, by where they came from: known (what "
    "this calculator wrote last, not read again), new (a dossier received first in its "
    "batch: taken to have none, not read) or read (from Redis)",
    ["source"],
)
APPLY_CONFLICTS = Counter(
    "egov_calculator_apply_conflicts_total",
    "Apply script calls that met an entity state other than the one they applied to (a "
    "receipt guessed new of a dossier already stored, another writer, a restore, Redis lost "
    "writes): read again and recomputed, nothing written twice",
)

# Export every label value from the start, so dashboards and rules see zeros, not gaps.
for _family in get_args(Family):
    EVENTS_APPLIED.labels(_family)
    DUPLICATES.labels(_family)
for _reason in ("empty", "invalid_json", "invalid_event", "year_archived"):
    DEADLETTERED.labels(_reason)
for _source in ("known", "new", "read"):
    ENTITY_STATES.labels(_source)


class StoreCounts:
    """Exports what an ``IndicatorStore`` counted since the last call (its counts are
    totals of the process, shared by the batches in flight)."""

    def __init__(self) -> None:
        self.known = self.new = self.read = self.conflicts = 0

    def export(self, known: int, new: int, read: int, conflicts: int) -> None:
        ENTITY_STATES.labels("known").inc(known - self.known)
        ENTITY_STATES.labels("new").inc(new - self.new)
        ENTITY_STATES.labels("read").inc(read - self.read)
        APPLY_CONFLICTS.inc(conflicts - self.conflicts)
        self.known, self.new, self.read, self.conflicts = known, new, read, conflicts


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
