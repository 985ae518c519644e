"""A realistic live stream for the demo: agencies weighted by their 2024 dossier volumes,
each agency's category mix from its appendix row, heavier in working hours (Mon–Fri
07:00–17:00 Asia/Ho_Chi_Minh), lifecycle events for earlier dossiers, and documents."""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections import deque
from datetime import datetime, timedelta
from typing import Any

import httpx

from shared.appendix import AppendixRow, load_appendix_2024
from shared.timeutil import LOCAL_TZ


def working_hours(now: datetime) -> bool:
    local = now.astimezone(LOCAL_TZ)
    return local.weekday() < 5 and 7 <= local.hour < 17


class LiveGenerator:
    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.rows = [r for r in load_appendix_2024() if r.agency_code != "province"]
        self.weights = [max(r.hstn_total, 5) for r in self.rows]
        self.open: deque[dict[str, Any]] = deque(maxlen=5000)

    def _category(self, row: AppendixRow) -> tuple[str, str]:
        counts = row.category_counts
        cats = list(counts)
        weights = [max(v, 0) for v in counts.values()]
        if sum(weights) == 0:
            return ("partial_online", "in_person")
        return self.rng.choices(cats, weights)[0]

    def received(self, now: datetime) -> dict[str, Any]:
        row = self.rng.choices(self.rows, self.weights)[0]
        level, channel = self._category(row)
        dossier = {
            "agency_code": row.agency_code,
            "dossier_id": f"demo-{uuid.uuid4().hex[:16]}",
            "procedure_code": f"{row.agency_code}-tthc-{self.rng.randint(1, row.tthc_total or 1)}",
            "due_at": (now + timedelta(days=self.rng.choice([1, 3, 5, 10, 15]))).isoformat(),
        }
        event: dict[str, Any] = {
            "event_id": uuid.uuid4().hex,
            "event_type": "received",
            "occurred_at": now.isoformat(),
            "service_level": level,
            "channel": channel,
            "via_one_stop": self.rng.random() < 0.97,
            "digitized": self.rng.random() < 0.6,
            **dossier,
        }
        if channel == "online":
            event["submitted_by"] = "citizen" if self.rng.random() < 0.8 else "assisted"
        self.open.append(dossier)
        return event

    def follow_up(self, now: datetime) -> dict[str, Any] | None:
        if not self.open:
            return None
        dossier = self.open.popleft()
        base = {
            "event_id": uuid.uuid4().hex,
            "occurred_at": now.isoformat(),
            "agency_code": dossier["agency_code"],
            "dossier_id": dossier["dossier_id"],
            "procedure_code": dossier["procedure_code"],
        }
        kind = self.rng.choices(["resolved", "returned", "payment", "rated"], [5, 3, 2, 2])[0]
        if kind == "resolved":
            due = (
                dossier["due_at"]
                if self.rng.random() < 0.9
                else (now - timedelta(hours=2)).isoformat()
            )
            return {
                **base,
                "event_type": "resolved",
                "due_at": due,
                "outcome": "approved" if self.rng.random() < 0.95 else "rejected",
            }
        if kind == "returned":
            return {**base, "event_type": "returned", "result_electronic": self.rng.random() < 0.7}
        if kind == "payment":
            return {
                **base,
                "event_type": "payment",
                "method": "online" if self.rng.random() < 0.5 else "offline",
                "amount_vnd": self.rng.choice([0, 50_000, 100_000, 200_000]),
            }
        return {
            **base,
            "event_type": "rated",
            "satisfaction": self.rng.choices(
                ["very_satisfied", "satisfied", "unsatisfied"], [5, 4, 1]
            )[0],
        }

    def document(self, now: datetime) -> dict[str, Any]:
        row = self.rng.choice(self.rows)
        base = {
            "event_id": uuid.uuid4().hex,
            "occurred_at": now.isoformat(),
            "agency_code": row.agency_code,
            "confidential": self.rng.random() < 0.03,
        }
        if self.rng.random() < 0.6:
            return {
                **base,
                "event_type": "document_issued",
                "document_id": f"vb-{uuid.uuid4().hex[:12]}",
                "electronic": self.rng.random() < 0.93,
            }
        return {
            **base,
            "event_type": "work_file_completed",
            "work_file_id": f"hscv-{uuid.uuid4().hex[:12]}",
            "processed_online": self.rng.random() < 0.82,
        }

    def batch(self, size: int, now: datetime) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(size):
            pick = self.rng.random()
            event = None
            if pick < 0.3:
                event = self.follow_up(now)
            elif pick < 0.4:
                event = self.document(now)
            out.append(event or self.received(now))
        return out


def run_live(ingest_url: str, token: str, rate: float, duration: float | None = None) -> int:
    """Post events every second until stopped; outside working hours a tenth of ``rate``."""
    url = ingest_url.rstrip("/") + "/v1/events"
    gen = LiveGenerator()
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sent = 0
    ends = time.monotonic() + duration if duration else None
    with httpx.Client(timeout=15, headers={"Authorization": f"Bearer {token}"}) as client:
        while not stop and (ends is None or time.monotonic() < ends):
            started = time.monotonic()
            now = datetime.now(LOCAL_TZ)
            size = max(1, int(rate if working_hours(now) else rate / 10))
            events = gen.batch(size, now)
            try:
                resp = client.post(url, json=events)
            except httpx.HTTPError as exc:
                print(f"live: ingest unreachable ({type(exc).__name__}); retrying", flush=True)
                time.sleep(2)
                continue
            if resp.status_code == 202:
                sent += len(events)
            else:
                wait = float(resp.headers.get("Retry-After", "2"))
                print(f"live: ingest answered {resp.status_code}; retrying in {wait}s", flush=True)
                time.sleep(wait)
                continue
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    return sent
