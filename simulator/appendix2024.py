"""A deterministic event stream for 2024 that reproduces the province's published appendix
(Công văn 112/UBND-TH): per agency exactly the received dossiers (HSTN), the distinct
dossiers of each category, the overlap dossiers received under two categories (which is
why the district categories add up to more than the total), the procedure catalog with
the published TTHC counts, and later lifecycle and document events so every indicator
has data.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.appendix import AppendixRow, load_appendix_2024
from shared.events import ServiceLevel
from shared.procedures import Procedure, ProcedureCatalog
from shared.timeutil import LOCAL_TZ

YEAR_START = datetime(2024, 1, 1, tzinfo=LOCAL_TZ)
YEAR_END = datetime(2024, 12, 31, 23, 59, 59, tzinfo=LOCAL_TZ)
Category = tuple[str, str]
# A department (single-category dossiers only) gets the dossiers at the year's two edges.
BOUNDARY_AGENCY = "so-cong-thuong"


def agency_rows() -> list[AppendixRow]:
    return [r for r in load_appendix_2024() if r.agency_code != "province"]


def procedure_catalog(seed: int = 2024) -> ProcedureCatalog:
    """Per agency exactly the published TTHC counts by service level."""
    rng = random.Random(seed)
    procs: list[Procedure] = []
    for row in agency_rows():
        for level, n in (
            (ServiceLevel.in_person_only, row.in_person_only_tthc),
            (ServiceLevel.partial_online, row.partial_tthc),
            (ServiceLevel.full_online, row.full_tthc),
        ):
            for i in range(1, n + 1):
                eligible = level is ServiceLevel.full_online or (
                    level is ServiceLevel.partial_online and rng.random() < 0.3
                )
                procs.append(
                    Procedure(
                        procedure_code=f"{row.agency_code}-{level.value}-{i:03d}",
                        agency_code=row.agency_code,
                        name=f"Thủ tục {i} ({row.agency_name})",
                        service_level=level,
                        eligible_full_online=eligible,
                        fee_required=rng.random() < 0.35,
                    )
                )
    return ProcedureCatalog(procs)


def dossier_categories(row: AppendixRow) -> list[tuple[Category, ...]]:
    """One entry per distinct dossier: the categories it is received under.

    The overlap (category sum − total) dossiers take two categories, one from each of the
    two largest categories, so every category keeps exactly its published count.
    """
    counts = dict(row.category_counts)
    overlap = sum(counts.values()) - row.hstn_total
    if overlap < 0:
        raise ValueError(f"{row.agency_code}: categories add up to less than the total")
    largest = sorted(counts, key=lambda c: counts[c], reverse=True)[:2]
    out: list[tuple[Category, ...]] = []
    if overlap:
        first, second = largest
        if counts[first] < overlap or counts[second] < overlap:
            raise ValueError(f"{row.agency_code}: overlap larger than its categories")
        out += [(first, second)] * overlap
        counts[first] -= overlap
        counts[second] -= overlap
    for cat, n in counts.items():
        out += [(cat,)] * n
    return out


@dataclass(frozen=True)
class YearStream:
    seed: int = 2024
    lifecycle_fraction: float = 1.0
    documents_per_agency: int = 60

    def catalog(self) -> ProcedureCatalog:
        return procedure_catalog(self.seed)

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event of the year, merged across agencies roughly by time."""
        catalog = self.catalog()
        streams = [self._agency_events(row, catalog, idx) for idx, row in enumerate(agency_rows())]
        for _, _, event in heapq.merge(*streams, key=lambda t: (t[0], t[1])):
            yield event

    def _agency_events(
        self, row: AppendixRow, catalog: ProcedureCatalog, agency_index: int
    ) -> Iterator[tuple[float, int, dict[str, Any]]]:
        rng = random.Random(f"{self.seed}-{row.agency_code}")
        by_level: dict[str, list[Procedure]] = {}
        for known in catalog.of_agency(row.agency_code):
            by_level.setdefault(known.service_level.value, []).append(known)
        dossiers = dossier_categories(row)
        rng.shuffle(dossiers)
        n = len(dossiers)
        seq = 0
        pending: list[tuple[float, int, dict[str, Any]]] = []  # later events, a min-heap
        for i, cats in enumerate(dossiers):
            at = self._receipt_time(rng, i, n, row.agency_code == BOUNDARY_AGENCY)
            dossier_id = f"{row.agency_code}-2024-{i:06d}"
            level = cats[0][0]
            procs = by_level.get(level)
            proc = rng.choice(procs) if procs else None
            code = proc.procedure_code if proc else f"{row.agency_code}-{level}-ngoai-danh-muc"
            due = at + timedelta(days=rng.choice([3, 5, 7, 10, 15, 20]))
            for k, (lvl, channel) in enumerate(cats):
                when = at + timedelta(minutes=47 * k)
                event: dict[str, Any] = {
                    "event_id": f"sim24-{row.agency_code}-r{i}-{k}",
                    "event_type": "received",
                    "occurred_at": when.isoformat(),
                    "agency_code": row.agency_code,
                    "dossier_id": dossier_id,
                    "procedure_code": code,
                    "service_level": lvl,
                    "channel": channel,
                    "due_at": due.isoformat(),
                    "via_one_stop": rng.random() < 0.97,
                    "digitized": rng.random() < 0.7,
                }
                if channel == "online":
                    event["submitted_by"] = "citizen" if rng.random() < 0.85 else "assisted"
                seq += 1
                yield (when.timestamp(), seq, event)
            while pending and pending[0][0] <= at.timestamp():
                yield heapq.heappop(pending)
            if rng.random() < self.lifecycle_fraction:
                for later in self._lifecycle(rng, row.agency_code, dossier_id, code, proc, at, due):
                    seq += 1
                    heapq.heappush(
                        pending,
                        (datetime.fromisoformat(later["occurred_at"]).timestamp(), seq, later),
                    )
        for d in range(self.documents_per_agency):
            at = YEAR_START + timedelta(
                days=(d * 366) // max(self.documents_per_agency, 1), hours=9, minutes=agency_index
            )
            seq += 1
            heapq.heappush(
                pending, (at.timestamp(), seq, self._document(rng, row.agency_code, d, at))
            )
        while pending:
            yield heapq.heappop(pending)

    @staticmethod
    def _receipt_time(rng: random.Random, i: int, n: int, boundary: bool) -> datetime:
        if boundary and i == 0:
            return YEAR_START  # the first instant of the year counts in 2024
        if boundary and i == 1:
            return YEAR_END  # so does the last second of 31 December
        day = min(365, (i * 366) // max(n, 1))
        minute = rng.randint(7 * 60, 16 * 60 + 30)
        return YEAR_START + timedelta(days=day, minutes=minute)

    @staticmethod
    def _lifecycle(
        rng: random.Random,
        agency: str,
        dossier_id: str,
        code: str,
        proc: Procedure | None,
        at: datetime,
        due: datetime,
    ) -> list[dict[str, Any]]:
        base = {"agency_code": agency, "dossier_id": dossier_id, "procedure_code": code}
        late = rng.random() < 0.08
        resolved_at = (
            due + timedelta(hours=rng.randint(1, 72))
            if late
            else (at + (due - at) * rng.uniform(0.2, 0.95))
        )
        out: list[dict[str, Any]] = [
            {
                **base,
                "event_id": f"sim24-{dossier_id}-resolved",
                "event_type": "resolved",
                "occurred_at": resolved_at.isoformat(),
                "due_at": due.isoformat(),
                "outcome": "approved" if rng.random() < 0.97 else "rejected",
            }
        ]
        returned_at = resolved_at + timedelta(hours=rng.randint(1, 48))
        out.append(
            {
                **base,
                "event_id": f"sim24-{dossier_id}-returned",
                "event_type": "returned",
                "occurred_at": returned_at.isoformat(),
                "result_electronic": rng.random() < 0.8,
            }
        )
        if proc is not None and proc.fee_required:
            out.append(
                {
                    **base,
                    "event_id": f"sim24-{dossier_id}-payment",
                    "event_type": "payment",
                    "occurred_at": (at + timedelta(minutes=30)).isoformat(),
                    "method": "online" if rng.random() < 0.45 else "offline",
                    "amount_vnd": rng.choice([20_000, 50_000, 100_000, 300_000]),
                }
            )
        if rng.random() < 0.5:
            out.append(
                {
                    **base,
                    "event_id": f"sim24-{dossier_id}-rated",
                    "event_type": "rated",
                    "occurred_at": (returned_at + timedelta(hours=2)).isoformat(),
                    "satisfaction": rng.choices(
                        ["very_satisfied", "satisfied", "unsatisfied"], [6, 3, 1]
                    )[0],
                }
            )
        return out

    @staticmethod
    def _document(rng: random.Random, agency: str, d: int, at: datetime) -> dict[str, Any]:
        base = {
            "agency_code": agency,
            "occurred_at": at.isoformat(),
            "confidential": rng.random() < 0.03,
        }
        if d % 3:
            return {
                **base,
                "event_id": f"sim24-{agency}-doc{d}",
                "event_type": "document_issued",
                "document_id": f"{agency}-vb-{d}",
                "electronic": rng.random() < 0.92,
            }
        return {
            **base,
            "event_id": f"sim24-{agency}-wf{d}",
            "event_type": "work_file_completed",
            "work_file_id": f"{agency}-hscv-{d}",
            "processed_online": rng.random() < 0.85,
        }
