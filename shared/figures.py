"""Numerators and denominators of every indicator, per agency, for one period.

Event ratios sum the calculator's mark counters; catalog ratios count the procedure
catalog; activity ratios intersect the per-period procedure sets with the catalog.
Everything for all requested agencies is read in a few pipelined round trips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from shared.catalog_store import Catalogs
from shared.events import ServiceLevel
from shared.indicators import Indicator
from shared.periods import Period
from shared.procedures import Procedure, ProcedureCatalog
from shared.store import IndicatorStore

EVENT_SOURCES = ("dossier", "document")


@dataclass(frozen=True)
class Figure:
    numerator: int
    denominator: int
    evaluated: bool = True  # False: the indicator does not apply to this agency


# Per catalog (immutable once built) and agency: the catalog counts, computed once.
_COUNTS: WeakKeyDictionary[ProcedureCatalog, dict[str, dict[str, int]]] = WeakKeyDictionary()


def catalog_counts(catalog: ProcedureCatalog, agency: str) -> dict[str, int]:
    per_agency = _COUNTS.setdefault(catalog, {})
    counts = per_agency.get(agency)
    if counts is None:
        counts = per_agency[agency] = _catalog_counts(catalog.of_agency(agency))
    return counts


def _catalog_counts(procs: Sequence[Procedure]) -> dict[str, int]:
    return {
        "procedures_full_online": sum(p.service_level is ServiceLevel.full_online for p in procs),
        "procedures_eligible_full_online": sum(p.eligible_full_online for p in procs),
        "procedures_online": sum(p.service_level is not ServiceLevel.in_person_only for p in procs),
        "procedures_fee_required": sum(p.fee_required for p in procs),
    }


def _activity_universe(name: str, procs: Sequence[Procedure]) -> set[str]:
    if name == "proc_online":
        return {
            p.procedure_code for p in procs if p.service_level is not ServiceLevel.in_person_only
        }
    return {p.procedure_code for p in procs if p.fee_required}


async def agency_figures(
    store: IndicatorStore,
    catalogs: Catalogs,
    agencies: Sequence[str],
    indicators: Sequence[Indicator],
    period: Period,
    extra_marks: Sequence[str] = (),
) -> tuple[dict[str, dict[str, Figure]], dict[str, dict[str, int]]]:
    """Per agency and indicator the figure; also the raw mark sums (incl. ``extra_marks``)."""
    marks = sorted(
        {m for i in indicators if i.source in EVENT_SOURCES for m in (i.numerator, i.denominator)}
        | set(extra_marks)
    )
    sums = (
        await store.sum_marks(agencies, period.start, period.end, marks)
        if marks
        else {a: {} for a in agencies}
    )
    activity = {i.numerator for i in indicators if i.source == "catalog_activity"}
    sets = {
        name: await store.set_union(agencies, period.start, period.end, name)
        for name in sorted(activity)
    }
    has_catalog = len(catalogs.procedures) > 0
    out: dict[str, dict[str, Figure]] = {}
    for agency in agencies:
        procs = catalogs.procedures.of_agency(agency)
        counts = catalog_counts(catalogs.procedures, agency)
        figures: dict[str, Figure] = {}
        for ind in indicators:
            if ind.source in EVENT_SOURCES:
                fig = Figure(sums[agency][ind.numerator], sums[agency][ind.denominator])
                if ind.indicator == "full_online_rate" and has_catalog:
                    # not evaluated for an agency with no full_online procedure (§5)
                    fig = Figure(
                        fig.numerator, fig.denominator, counts["procedures_full_online"] > 0
                    )
            elif ind.source == "catalog":
                fig = Figure(counts[ind.numerator], counts[ind.denominator])
            else:
                members = sets[ind.numerator][agency] & _activity_universe(ind.numerator, procs)
                fig = Figure(len(members), counts[ind.denominator])
            figures[ind.indicator] = fig
        out[agency] = figures
    return out, sums


def total(figures: Sequence[Figure]) -> Figure:
    """Aggregates sum numerators and denominators (they never average ratios)."""
    return Figure(sum(f.numerator for f in figures), sum(f.denominator for f in figures))
