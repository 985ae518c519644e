"""The merged province for the read benches: the 117 units of An Giang since 2025-07-01
(the units valid from 2025-07-01 in ``shared/domain/data/agencies-an-giang.csv``, the
catalog of the province in time, domain README §9),
a procedure catalog for them, and a year of synthetic dossiers sized like the units
(provincial departments large, wards medium, communes small, the island special zones
tiny), ending yesterday.

The catalog goes through the product's own path (``parse_agencies_csv`` checks the file,
``CatalogStore`` writes it to Redis, where every service reads it). Events go through
``validate_event`` (the agency must be valid on the event's local date) and
``IndicatorStore.apply_many``, the calculator's apply.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from typing import Any

from redis.asyncio import Redis

from shared.contract.events import ServiceLevel
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import Agency, AgencyCatalog, parse_agencies_csv
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.store.catalogs import CatalogStore
from shared.store.indicator_store import IndicatorStore

CATALOG_FILE = "agencies-an-giang.csv"
SEED = 2025
# dossiers per unit over the loaded year (uniform in the range, seeded per unit)
DEPARTMENT = (6_000, 18_000)
WARD = (3_000, 6_000)
COMMUNE = (1_000, 3_000)
TINY = (20, 60)
# the island special zones Kiên Hải and Thổ Châu: a few dossiers a month
TINY_UNITS = frozenset({"H01.200", "H01.202"})
RESOLVED_SHARE = 0.3


def province_catalog() -> AgencyCatalog:
    """The 117 units (portal codes ``H01.…``), parsed and checked like
    ``egov catalog load-agencies``."""
    text = resources.files("shared.domain.data").joinpath(CATALOG_FILE).read_text("utf-8")
    units = [a for a in parse_agencies_csv(text).agencies.values() if a.agency_code[:4] == "H01."]
    return AgencyCatalog(units)


def dossiers_of(agency: Agency, rng: random.Random) -> int:
    if agency.agency_code in TINY_UNITS:
        low, high = TINY
    elif agency.group.value == "so_nganh":
        low, high = DEPARTMENT
    elif "phường" in agency.name or "Phú Quốc" in agency.name:
        low, high = WARD
    else:
        low, high = COMMUNE
    return rng.randint(low, high)


_LEVELS = (ServiceLevel.full_online, ServiceLevel.partial_online, ServiceLevel.in_person_only)


def procedures_of(agency: Agency, rng: random.Random) -> list[Procedure]:
    count = rng.randint(60, 140) if agency.group.value == "so_nganh" else rng.randint(30, 50)
    out = []
    for i in range(count):
        level = rng.choices(_LEVELS, weights=(45, 40, 15))[0]
        out.append(
            Procedure(
                procedure_code=f"{agency.agency_code}.{i:03d}",
                agency_code=agency.agency_code,
                name=f"Thủ tục {i + 1} — {agency.name}",
                service_level=level,
                eligible_full_online=level is not ServiceLevel.in_person_only or rng.random() < 0.3,
                fee_required=rng.random() < 0.3,
            )
        )
    return out


def procedure_catalog(agencies: AgencyCatalog) -> ProcedureCatalog:
    rng = random.Random(SEED)
    return ProcedureCatalog(p for a in agencies.agencies.values() for p in procedures_of(a, rng))


@dataclass(frozen=True)
class Span:
    """The loaded days: [first, last], local dates."""

    first: date
    last: date


def loaded_span(agencies: AgencyCatalog, today: date) -> Span:
    """The twelve closed months before today's (a public page's trend) and today's month up
    to yesterday; not before the units exist."""
    last = today - timedelta(days=1)
    first = date(today.year - 1, today.month, 1)
    starts = [a.valid_from for a in agencies.agencies.values() if a.valid_from is not None]
    return Span(max([first, *starts]), last)


def _iso(ts: datetime) -> str:
    return ts.astimezone(LOCAL_TZ).isoformat()


def raw_events(
    agencies: AgencyCatalog, procedures: ProcedureCatalog, span: Span
) -> Iterator[dict[str, Any]]:
    """Received dossiers (and some resolutions) of every unit over the span."""
    days = (span.last - span.first).days + 1
    for agency in agencies.agencies.values():
        code = agency.agency_code
        rng = random.Random(f"{SEED}:{code}")
        procs = procedures.of_agency(code)
        for n in range(dossiers_of(agency, rng)):
            day = span.first + timedelta(days=rng.randrange(days))
            at = datetime(day.year, day.month, day.day, 7, 30, tzinfo=LOCAL_TZ) + timedelta(
                seconds=rng.randrange(9 * 3600)
            )
            proc = rng.choice(procs)
            level = proc.service_level
            online = level is not ServiceLevel.in_person_only and rng.random() < 0.7
            due = at + timedelta(days=rng.randint(3, 15))
            dossier = f"{code}-d{n}"
            yield {
                "event_id": f"{dossier}-r",
                "event_type": "received",
                "occurred_at": _iso(at),
                "agency_code": code,
                "dossier_id": dossier,
                "procedure_code": proc.procedure_code,
                "service_level": level.value,
                "channel": "online" if online else "in_person",
                "submitted_by": "citizen" if online else None,
                "due_at": _iso(due),
                "digitized": rng.random() < 0.6,
            }
            if rng.random() < RESOLVED_SHARE:
                done = at + timedelta(days=rng.randint(1, 18))
                if done.astimezone(LOCAL_TZ).date() <= span.last:
                    yield {
                        "event_id": f"{dossier}-s",
                        "event_type": "resolved",
                        "occurred_at": _iso(done),
                        "agency_code": code,
                        "dossier_id": dossier,
                        "procedure_code": proc.procedure_code,
                        "due_at": _iso(due),
                        "outcome": "approved",
                    }


async def load_province(url: str, today: date) -> tuple[AgencyCatalog, Span, int]:
    """Catalogs into Redis, then the span's events applied; returns what was loaded."""
    redis = Redis.from_url(url)
    try:
        agencies = province_catalog()
        procedures = procedure_catalog(agencies)
        catalogs = CatalogStore(redis)
        await catalogs.replace_agencies(agencies.agencies.values())
        await catalogs.replace_procedures(procedures.procedures.values())
        span = loaded_span(agencies, today)
        store = IndicatorStore(redis)
        now = datetime.now(UTC)
        batch = []
        n = 0
        for raw in raw_events(agencies, procedures, span):
            event = validate_event(raw, agencies=agencies, now=now)
            if isinstance(event, list):
                raise ValueError(f"bench event refused: {event}")
            batch.append(event)
            if len(batch) == 4000:
                await store.apply_many(batch)
                n += len(batch)
                batch = []
        await store.apply_many(batch)
        return agencies, span, n + len(batch)
    finally:
        await redis.aclose()
