"""A province's last 13 months of figures, for the page and board tests: every agency of
the packaged catalog valid in a month (the catalog in time: from 2025-07-01 the units of
the merged province) gets a few dozen dossiers that month (categories, resolutions on time
or late, results, payments, ratings) and some documents, each event on a day its agency is
valid; today has receipts too, and some open dossiers are past due. Seeded, so two runs give
the same figures.

``province_events``: the merged province (the catalog of An Giang in time, loaded
explicitly) month by month across 2025-07-01, for the 117-unit pages."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from shared.domain.calendar import LOCAL_TZ, today_local
from shared.domain.catalog import AgencyCatalog, load_agencies, parse_agencies_csv

LEVELS = ("full_online", "partial_online", "in_person_only")


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="seconds")


def _month_starts(today: date, months: int) -> list[date]:
    out = [today.replace(day=1)]
    while len(out) < months:
        prev = out[0] - timedelta(days=1)
        out.insert(0, prev.replace(day=1))
    return out


def history_events(
    months: int = 13, seed: int = 7, today: date | None = None, scale: float = 1.0
) -> Iterator[dict[str, Any]]:
    rnd = random.Random(seed)
    today = today or today_local()
    now = datetime.now(LOCAL_TZ)
    catalog = load_agencies()
    index = {code: i for i, code in enumerate(catalog.agencies)}
    n = 0
    for month_start in _month_starts(today, months):
        month_end = min(
            today,
            (month_start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1),
        )
        for agency in catalog.valid_between(month_start, month_end):
            a_index = index[agency.agency_code]
            # the days of the month the agency is valid on (its events fall on them only)
            start = max(month_start, agency.valid_from or month_start)
            last_day = min(month_end, agency.valid_to or month_end)
            # each agency its own level, drifting a little from month to month
            base_full = 0.35 + 0.6 * ((a_index * 37) % 100) / 100
            drift = 0.04 * ((start.month + a_index) % 5 - 2)
            count = max(2, int(rnd.randint(8, 30) * scale))
            for _ in range(count):
                n += 1
                day = start + timedelta(days=rnd.randint(0, (last_day - start).days))
                at = datetime.combine(day, time(rnd.randint(7, 16), rnd.randint(0, 59)), LOCAL_TZ)
                if at > now - timedelta(minutes=2):
                    at = now - timedelta(minutes=rnd.randint(2, 300))
                dossier = f"w{n}"
                full = rnd.random() < min(0.98, max(0.05, base_full + drift))
                level = "full_online" if full else rnd.choice(LEVELS[1:])
                channel = (
                    "online"
                    if level != "in_person_only" and (full or rnd.random() < 0.3)
                    else "in_person"
                )
                due = at + timedelta(days=rnd.choice((1, 3, 5, 10)))
                # no deadline near now or now + 24 h: the overdue and due-soon counts
                # cannot move while a test compares the board with the API
                for edge in (now, now + timedelta(hours=24)):
                    if abs(due - edge) < timedelta(hours=1):
                        due += timedelta(hours=2)
                event: dict[str, Any] = {
                    "event_id": f"{dossier}-r",
                    "event_type": "received",
                    "occurred_at": _iso(at),
                    "agency_code": agency.agency_code,
                    "dossier_id": dossier,
                    "procedure_code": f"p-{a_index}-{rnd.randint(1, 6)}",
                    "service_level": level,
                    "channel": channel,
                    "due_at": _iso(due),
                    "via_one_stop": rnd.random() < 0.9,
                    "digitized": rnd.random() < 0.6,
                }
                if channel == "online":
                    event["submitted_by"] = "citizen" if rnd.random() < 0.8 else "assisted"
                yield event
                if rnd.random() < 0.15:
                    yield {
                        "event_id": f"{dossier}-p",
                        "event_type": "payment",
                        "occurred_at": _iso(at + timedelta(minutes=5)),
                        "agency_code": agency.agency_code,
                        "dossier_id": dossier,
                        "procedure_code": event["procedure_code"],
                        "method": "online" if rnd.random() < 0.6 else "offline",
                        "amount_vnd": 50_000,
                    }
                done = at + timedelta(days=rnd.choice((1, 2, 4, 8, 12)), hours=1)
                ended = agency.valid_to is not None and done.date() > agency.valid_to
                if done < now - timedelta(minutes=1) and not ended and rnd.random() < 0.85:
                    yield {
                        "event_id": f"{dossier}-s",
                        "event_type": "resolved",
                        "occurred_at": _iso(done),
                        "agency_code": agency.agency_code,
                        "dossier_id": dossier,
                        "procedure_code": event["procedure_code"],
                        "due_at": _iso(due),
                        "outcome": "approved",
                    }
                    yield {
                        "event_id": f"{dossier}-t",
                        "event_type": "returned",
                        "occurred_at": _iso(done + timedelta(seconds=30)),
                        "agency_code": agency.agency_code,
                        "dossier_id": dossier,
                        "procedure_code": event["procedure_code"],
                        "result_electronic": rnd.random() < 0.7,
                    }
                    if rnd.random() < 0.4:
                        yield {
                            "event_id": f"{dossier}-q",
                            "event_type": "rated",
                            "occurred_at": _iso(done + timedelta(seconds=60)),
                            "agency_code": agency.agency_code,
                            "dossier_id": dossier,
                            "procedure_code": event["procedure_code"],
                            "satisfaction": rnd.choice(
                                ("very_satisfied", "satisfied", "satisfied", "unsatisfied")
                            ),
                        }
            for d in range(max(1, count // 6)):
                day = start + timedelta(days=rnd.randint(0, (last_day - start).days))
                at = datetime.combine(day, time(9, d % 60), LOCAL_TZ)
                if at > now - timedelta(minutes=2):
                    at = now - timedelta(minutes=3)
                yield {
                    "event_id": f"doc-{agency.agency_code}-{month_start:%Y%m}-{d}",
                    "event_type": "document_issued",
                    "occurred_at": _iso(at),
                    "agency_code": agency.agency_code,
                    "document_id": f"vb-{agency.agency_code}-{month_start:%Y%m}-{d}",
                    "electronic": rnd.random() < 0.9,
                    "confidential": False,
                }


# -- the merged province: the catalog of An Giang in time -----------------------------------

PROVINCE_CATALOG_FILE = "agencies-an-giang.csv"
# xã Đông Thái: one dossier a month, fully online (1/1: "Chưa đủ số liệu", never "Đạt")
ONE_DOSSIER_UNIT = "H01.187"
# the island special zones Kiên Hải and Thổ Châu: a handful of dossiers a month
ISLAND_UNITS = frozenset({"H01.200", "H01.202"})


def province_catalog() -> AgencyCatalog:
    """The catalog of An Giang in time (``shared/domain/data/agencies-an-giang.csv``): the
    2024 units to their end dates, the departments of March–June 2025, the 117 units of the
    merged province from 2025-07-01 and the People's Committee's office."""
    text = resources.files("shared.domain.data").joinpath(PROVINCE_CATALOG_FILE).read_text("utf-8")
    return parse_agencies_csv(text)


def province_catalog_path() -> Path:
    """The same file on disk, for a service's ``EGOV_AGENCIES_CSV``."""
    return Path(str(resources.files("shared.domain.data").joinpath(PROVINCE_CATALOG_FILE)))


def province_events(
    months: list[date], seed: int = 18, catalog: AgencyCatalog | None = None
) -> Iterator[dict[str, Any]]:
    """Received dossiers of every unit valid in each month of ``months`` (first days), on
    days it is valid: departments and districts 40–70 a month, communes 30–40 (enough to be
    judged), the island zones 2–6, xã Đông Thái exactly one; each unit its own share of
    fully online dossiers, drifting by month. Seeded."""
    rnd = random.Random(seed)
    catalog = catalog or province_catalog()
    now = datetime.now(LOCAL_TZ)
    for start in months:
        end = (start.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        units = sorted(catalog.agencies.values(), key=lambda a: a.agency_code)
        for index, agency in enumerate(units):
            days = [
                start + timedelta(days=d)
                for d in range((end - start).days + 1)
                if agency.valid_on(start + timedelta(days=d))
            ]
            days = [d for d in days if datetime.combine(d, time(17), LOCAL_TZ) < now]
            if not days or agency.agency_code == "vp-ubnd-tinh":  # no procedures: no dossier
                continue
            if agency.agency_code == ONE_DOSSIER_UNIT:
                count = 1
            elif agency.agency_code in ISLAND_UNITS:
                count = rnd.randint(2, 6)
            elif agency.group.value == "so_nganh" or agency.level.value == "huyen":
                count = rnd.randint(40, 70)
            else:
                count = rnd.randint(30, 40)
            share = 0.45 + 0.5 * ((index * 37) % 100) / 100 + 0.03 * (start.month % 4 - 1.5)
            for n in range(count):
                day = rnd.choice(days)
                at = datetime.combine(day, time(rnd.randint(7, 16), rnd.randint(0, 59)), LOCAL_TZ)
                full = agency.agency_code == ONE_DOSSIER_UNIT or rnd.random() < share
                dossier = f"{agency.agency_code}-{start:%Y%m}-{n}"
                channel = "online" if full or rnd.random() < 0.3 else "in_person"
                event: dict[str, Any] = {
                    "event_id": f"{dossier}-r",
                    "event_type": "received",
                    "occurred_at": _iso(at),
                    "agency_code": agency.agency_code,
                    "dossier_id": dossier,
                    "procedure_code": f"p-{index}-{n % 4}",
                    "service_level": "full_online" if full else "partial_online",
                    "channel": channel,
                    "due_at": _iso(at + timedelta(days=10)),
                    "via_one_stop": True,
                    "digitized": rnd.random() < 0.8,
                }
                if channel == "online":
                    event["submitted_by"] = "citizen"
                yield event
