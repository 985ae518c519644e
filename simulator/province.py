"""The province in time for the live stream and the demo's history: which units send events
on a given day, how many dossiers each receives (relative volumes) and under which
categories (service level × channel), and their procedures.

Everything follows the agency catalog (the packaged one, An Giang in time, domain README
§4a.6, §9). Its validity dates cut time into *periods of the catalog*: the province of 2024
until 2025-02-28, the departments merged on 2025-03-01 beside the districts until
2025-06-30, and from 2025-07-01 the 117 units of the merged province. A period's units are
those valid on its first day that receive dossiers:

- a unit of the published 2024 appendix keeps its 2024 volume and category mix (so the
  stream of 2024 is what it always was);
- a unit that continues earlier units (``successor_code``, many to one) sums theirs; from
  2025-07-01 the merged province serves the territory of two provinces (An Giang and Kiên
  Giang), so a unit starting then gets :data:`MERGED_PROVINCE_FACTOR` times its
  predecessors' volume; a provincial unit with no predecessor in the catalog (those that
  came from Kiên Giang) gets a modest department volume, seeded;
- the commune-level units (``level`` ``xa``) starting when the district level ended share
  the volume of the districts that ended without a successor (times the factor): a ward
  (phường) and the Phú Quốc special zone twice a commune's share, the island special zones
  Kiên Hải and Thổ Châu almost nothing, each with a seeded spread, and each with the
  category mix of one of the old districts;
- a unit with no dossier at all (the People's Committee's office: no administrative
  procedure, no portal code) issues documents only.

A unit of the periods after 2024 gets a simulated procedure catalog like the 2024 one
(:func:`unit_procedures`); the 2024 units keep the appendix's (``simulated_procedures``).
The appendix-2024 reproduction (``simulator.appendix2024``) does not use this module.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from shared.domain.catalog import Agency, AgencyCatalog, AgencyGroup, AgencyLevel, load_agencies
from simulator.appendix2024 import (
    CATEGORIES,
    ELIGIBLE_PARTIAL_SHARE,
    FEE_SHARE,
    FEES_VND,
    LEVEL_LABELS,
    PROCEDURE_TOPICS,
    PROCESSING_DAYS,
    PROCESSING_WEIGHTS,
    Category,
    SimProcedure,
    agency_rows,
)

# The merged province (NQ 202/2025/QH15) serves An Giang and Kiên Giang from 2025-07-01.
MERGED_PROVINCE_START = date(2025, 7, 1)
MERGED_PROVINCE_FACTOR = 1.6
# a provincial unit with no predecessor in the catalog (it came from Kiên Giang): dossiers
# a year, seeded in this range
NEW_DEPARTMENT_VOLUME = (400, 4_000)
# the communes' shares of the districts' volume, by kind
WARD_SHARE = 2.0  # phường, and the Phú Quốc special zone
COMMUNE_SHARE = 1.0  # xã
TINY_SHARE = 0.004  # the island special zones: a few dossiers a month
TINY_UNITS = frozenset({"H01.200", "H01.202"})  # đặc khu Kiên Hải, đặc khu Thổ Châu
SPREAD = (0.6, 1.4)  # each commune's seeded spread around its share
MIN_WEIGHT = 5.0  # as the 2024 stream: even a unit with 2 dossiers a year shows up
# procedures of a unit of the periods after 2024, per service level it receives under
PROCEDURES_PER_LEVEL = {"tinh": (15, 45), "xa": (8, 20)}


@dataclass(frozen=True)
class Unit:
    """A unit as the stream sees it: its relative volume (dossiers a year) and mix."""

    agency_code: str
    name: str
    level: str
    weight: float  # dossiers a year, relative; 0: documents only
    category_counts: tuple[tuple[Category, float], ...]

    @property
    def categories(self) -> dict[Category, float]:
        return dict(self.category_counts)

    @property
    def online_weight(self) -> float:
        """Its weight among the units at night and at weekends (online submissions only):
        its online dossiers."""
        return sum(n for (_, channel), n in self.category_counts if channel == "online")


@dataclass(frozen=True)
class CatalogPeriod:
    """The units of one period of the catalog: from ``start`` (None: the beginning) to the
    next period's start."""

    start: date | None
    units: tuple[Unit, ...]

    @property
    def dossier_units(self) -> tuple[Unit, ...]:
        return tuple(u for u in self.units if u.weight > 0)


def _mix(counts: dict[Category, float], scale: float = 1.0) -> tuple[tuple[Category, float], ...]:
    return tuple((c, counts.get(c, 0.0) * scale) for c in CATEGORIES)


def _sum_mix(units: list[Unit], scale: float = 1.0) -> dict[Category, float]:
    out = dict.fromkeys(CATEGORIES, 0.0)
    for u in units:
        for c, n in u.category_counts:
            out[c] += n * scale
    return out


def _scaled(counts: dict[Category, float], weight: float) -> tuple[tuple[Category, float], ...]:
    total = sum(counts.values())
    return _mix(counts, weight / total if total else 0.0)


def _kind_share(agency: Agency) -> float:
    if agency.agency_code in TINY_UNITS:
        return TINY_SHARE
    if "phường" in agency.name or "Phú Quốc" in agency.name:
        return WARD_SHARE
    return COMMUNE_SHARE


class ProvinceInTime:
    """The periods of ``catalog`` (default: the packaged one) and their units."""

    def __init__(self, catalog: AgencyCatalog | None = None, seed: int = 2025) -> None:
        self.catalog = catalog if catalog is not None else load_agencies()
        self.seed = seed
        self._appendix = {
            r.agency_code: Unit(
                r.agency_code,
                r.agency_name,
                self._level(r.agency_code),
                float(max(r.hstn_total, MIN_WEIGHT)),
                _mix({c: float(n) for c, n in r.category_counts.items()}),
            )
            for r in agency_rows()
        }
        self._units: dict[str, Unit] = {}
        starts = {a.valid_from for a in self.catalog.agencies.values() if a.valid_from}
        starts |= {
            a.valid_to + timedelta(days=1) for a in self.catalog.agencies.values() if a.valid_to
        }
        self._starts = sorted(starts)
        self.periods: tuple[CatalogPeriod, ...] = tuple(
            CatalogPeriod(start, self._units_on(start)) for start in [None, *self._starts]
        )

    def _level(self, code: str) -> str:
        agency = self.catalog.get(code)
        return agency.level.value if agency is not None else "tinh"

    def period_on(self, day: date) -> CatalogPeriod:
        """The period of the catalog that ``day`` falls in."""
        found = self.periods[0]
        for period in self.periods[1:]:
            if period.start is not None and period.start <= day:
                found = period
        return found

    def units_on(self, day: date) -> tuple[Unit, ...]:
        return self.period_on(day).units

    # -- volumes ------------------------------------------------------------------------

    def _units_on(self, start: date | None) -> tuple[Unit, ...]:
        if start is not None:
            valid = self.catalog.valid_on(start)
        elif self._starts:  # the beginning: the units valid the day before the first change
            valid = self.catalog.valid_on(self._starts[0] - timedelta(days=1))
        else:
            valid = list(self.catalog.agencies.values())
        order = {code: i for i, code in enumerate(self._appendix)}  # the appendix's order
        valid.sort(key=lambda a: (order.get(a.agency_code, len(order)), a.agency_code))
        return tuple(self.unit(a.agency_code) for a in valid)

    def unit(self, code: str) -> Unit:
        """The unit ``code`` with its volume and mix (rules: module docstring)."""
        if code not in self._units:
            self._units[code] = self._make_unit(code)
        return self._units[code]

    def _make_unit(self, code: str) -> Unit:
        if code in self._appendix:
            return self._appendix[code]
        agency = self.catalog.get(code)
        if agency is None:
            raise KeyError(code)
        factor = MERGED_PROVINCE_FACTOR if agency.valid_from == MERGED_PROVINCE_START else 1.0
        direct = [a for a in self.catalog.agencies.values() if a.successor_code == code]
        rng = random.Random(f"{self.seed}:{code}:volume")
        if direct:
            before = [self.unit(a.agency_code) for a in direct]
            weight = sum(u.weight for u in before) * factor
            return Unit(
                code, agency.name, agency.level.value, weight, _mix(_sum_mix(before, factor))
            )
        if agency.level is AgencyLevel.xa and agency.valid_from is not None:
            return self._commune(agency, rng, factor)
        if agency.agency_code.startswith("H01.") and agency.group is AgencyGroup.so_nganh:
            weight = float(rng.randint(*NEW_DEPARTMENT_VOLUME))
            departments = [
                u for u in self._appendix.values() if u.level == "tinh" and u.weight > MIN_WEIGHT
            ]
            return Unit(code, agency.name, "tinh", weight, _scaled(_sum_mix(departments), weight))
        return Unit(code, agency.name, agency.level.value, 0.0, _mix({}))  # documents only

    def _commune(self, agency: Agency, rng: random.Random, factor: float) -> Unit:
        """A commune-level unit starting when the district level ended: its share of the
        districts' volume (those that ended the day before, without a successor)."""
        assert agency.valid_from is not None
        last_day = agency.valid_from - timedelta(days=1)
        districts = sorted(
            (
                a
                for a in self.catalog.agencies.values()
                if a.level is AgencyLevel.huyen and a.valid_to == last_day and not a.successor_code
            ),
            key=lambda a: a.agency_code,
        )
        communes = [
            a
            for a in self.catalog.agencies.values()
            if a.level is AgencyLevel.xa and a.valid_from == agency.valid_from
        ]
        pool = sum(self.unit(d.agency_code).weight for d in districts) * factor
        shares = sum(_kind_share(a) for a in communes)
        weight = pool * _kind_share(agency) / shares * rng.uniform(*SPREAD) if shares else 0.0
        weight = max(weight, 1.0) if agency.agency_code in TINY_UNITS else max(weight, MIN_WEIGHT)
        like = self.unit(rng.choice(districts).agency_code) if districts else None
        counts = like.categories if like else dict.fromkeys(CATEGORIES, 1.0)
        return Unit(agency.agency_code, agency.name, "xa", weight, _scaled(counts, weight))

    # -- procedures ---------------------------------------------------------------------

    def procedures(self, code: str) -> tuple[SimProcedure, ...]:
        """The simulated procedures of a unit of the periods after 2024."""
        return unit_procedures(self.seed, self.unit(code))


def unit_procedures(seed: int, unit: Unit) -> tuple[SimProcedure, ...]:
    """A procedure catalog for ``unit``: some procedures for every service level it
    receives dossiers under (deterministic, like the 2024 one)."""
    rng = random.Random(f"{seed}:{unit.agency_code}:catalog")
    low, high = PROCEDURES_PER_LEVEL.get(unit.level, PROCEDURES_PER_LEVEL["tinh"])
    levels = {level for (level, _), n in unit.category_counts if n > 0}
    out: list[SimProcedure] = []
    for level in ("in_person_only", "partial_online", "full_online"):
        if level not in levels:
            continue
        for i in range(1, rng.randint(low, high) + 1):
            eligible = level == "full_online" or (
                level == "partial_online" and rng.random() < ELIGIBLE_PARTIAL_SHARE
            )
            fee = rng.random() < FEE_SHARE
            topic = PROCEDURE_TOPICS[rng.randrange(len(PROCEDURE_TOPICS))]
            out.append(
                SimProcedure(
                    code=f"{unit.agency_code}-{level}-{i:03d}",
                    agency_code=unit.agency_code,
                    level=level,
                    name=f"Thủ tục {topic} số {i} ({LEVEL_LABELS[level]}) — {unit.name}",
                    eligible_full_online=eligible,
                    fee_required=fee,
                    fee_vnd=rng.choice(FEES_VND) if fee else 0,
                    processing_days=rng.choices(PROCESSING_DAYS, PROCESSING_WEIGHTS)[0],
                )
            )
    return tuple(out)


@lru_cache(maxsize=4)
def province_in_time(seed: int = 2025) -> ProvinceInTime:
    """The packaged catalog's periods (cached: the catalog is read once per process)."""
    return ProvinceInTime(seed=seed)
