"""Prometheus metrics of the ingest service."""

from __future__ import annotations

from typing import get_args

from prometheus_client import Counter, Histogram

from shared.contract.events import Family

REQUESTS = Counter("egov_ingest_requests_total", "Ingest HTTP requests by outcome", ["outcome"])
EVENTS = Counter(
    "egov_ingest_events_total", "Events by outcome (accepted, rejected)", ["outcome", "family"]
)
REJECTIONS = Counter(
    "egov_ingest_rejections_total",
    "Rejection reasons: the field at fault and the kind of error",
    ["field", "reason"],
)
PRODUCE_SECONDS = Histogram(
    "egov_ingest_produce_seconds",
    "Time from produce to the broker's acknowledgement of a whole request",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

for _outcome in ("accepted", "rejected"):
    for _family in (*get_args(Family), "any"):
        EVENTS.labels(_outcome, _family)
for _request in (
    "accepted",
    "partial",
    "rejected",
    "forbidden",
    "invalid_body",
    "too_large",
    "unavailable",
):
    REQUESTS.labels(_request)
