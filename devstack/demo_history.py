"""History for the demo of ``make run``: the 12 closed months before this one, so that the
public results page (closed months only), its 12-month trends, the board's year figures and
the alerts have something to show on a fresh stack. Without it the latest closed month
would hold only the live stream's first minutes.

Each month is made by the live stream's own generator (``simulator.live``: the units of the
agency catalog valid on each event's date — the 2024 units, the departments merged on
2025-03-01, from 2025-07-01 the 117 units of the merged province with its communes —
weighted by their volumes and category mix, lifecycles) at a demo volume, stamped hour by
hour across the month (working hours busy, nights and weekends a trickle), and posted to
ingest like any source. A dossier still open when its unit ends goes on under the unit that
continues it. A month's events are the same on every run (seeded,
ids ``live-h<YYYYMM>-…``): posting them again changes no figure (the calculator drops an id
it has applied); a marker file per month in the run directory skips months already sent.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from shared.domain.calendar import LOCAL_TZ, today_local
from simulator.live import LiveGenerator, activity_factor

EVENTS_PER_MONTH = 4_000
MONTHS = 12
POST_BATCH = 2_000
TAIL_DAYS = 10


def closed_months(today: date, count: int = MONTHS) -> list[date]:
    """First days of the ``count`` months before ``today``'s, oldest first."""
    out: list[date] = []
    first = today.replace(day=1)
    while len(out) < count:
        first = (first - timedelta(days=1)).replace(day=1)
        out.insert(0, first)
    return out


def _hours(first: date) -> Iterator[datetime]:
    at = datetime(first.year, first.month, first.day, tzinfo=LOCAL_TZ)
    while at.month == first.month:
        yield at
        at += timedelta(hours=1)


def month_events(first: date, events: int = EVENTS_PER_MONTH) -> list[dict[str, Any]]:
    """The demo events of the month starting on ``first``: the same on every call."""
    seed = first.year * 100 + first.month
    gen = LiveGenerator(seed, backlog=0, step_delay_s=3 * 3600.0)
    gen.run_id = f"h{seed}"
    rng = random.Random(seed)
    hours = list(_hours(first))
    weights = [activity_factor(h) for h in hours]
    scale = events / sum(weights)
    out: list[dict[str, Any]] = []
    for hour, weight in zip(hours, weights, strict=True):
        expected = weight * scale
        size = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        if size:
            out += gen.batch(size, hour + timedelta(minutes=rng.randrange(60)))
    # the month's dossiers finish in the days after it (resolutions, results, ratings):
    # otherwise every month would leave its last receipts open and overdue for ever
    tail = hours[-1]
    latest = datetime.now(LOCAL_TZ) - timedelta(minutes=10)
    for _ in range(TAIL_DAYS * 24):
        tail += timedelta(hours=1)
        if tail > latest:
            break
        while (event := gen.follow_up(tail)) is not None:
            out.append(event)
    return out


def backfill(
    ingest_url: str,
    token: str,
    marker_dir: Path,
    *,
    today: date | None = None,
    events_per_month: int = EVENTS_PER_MONTH,
    client: httpx.Client | None = None,
    report: Callable[[str], None] = lambda line: print(line, flush=True),
) -> int:
    """Post the months not yet marked as sent; returns the number of events accepted."""
    marker_dir.mkdir(parents=True, exist_ok=True)
    http = client or httpx.Client(timeout=60)
    url = ingest_url.rstrip("/") + "/v1/events"
    headers = {"Authorization": f"Bearer {token}"}
    accepted = 0
    try:
        for first in closed_months(today or today_local()):
            marker = marker_dir / f"{first:%Y-%m}.sent"
            if marker.exists():
                continue
            events = month_events(first, events_per_month)
            month_accepted = 0
            for start in range(0, len(events), POST_BATCH):
                resp = http.post(
                    url,
                    json=events[start : start + POST_BATCH],
                    params={"partial": "true"},
                    headers=headers,
                )
                if resp.status_code != 202:
                    report(f"demo history: ingest answered {resp.status_code}; stopping")
                    return accepted
                month_accepted += int(resp.json().get("accepted", 0))
            accepted += month_accepted
            marker.write_text(f"{month_accepted}\n")
            report(f"demo history: {first:%Y-%m}: {month_accepted:,} events")
    finally:
        if client is None:
            http.close()
    return accepted
