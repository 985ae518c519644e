"""The Decision 766 index of every unit and aggregate scope (domain README §8).

Each metric's numerator and denominator (``Counts``) come from what the calculator counted
(``shared.store.index766_reads``) and the procedure catalog in force at the evaluation
instant; :func:`unit_counts` is the formulas, pure. An aggregate (the province,
``group:so_nganh``, ``group:dia_phuong``) is scored on the summed counts of its member units
valid in the period (``sum_counts``), never on an average of their scores.

Periods are a month, a quarter or a year (to date while it runs); the evaluation instant
is the period's end (the local midnight after its last day), or now for the open period —
the instant open dossiers and petitions are judged at: one whose due time in force is
before it counts as overdue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from weakref import WeakKeyDictionary

from shared.domain.calendar import local_day_number
from shared.domain.exceptions import PeriodError
from shared.domain.index766 import (
    Counts,
    IndexScore,
    ScoringTable,
    load_index766,
    sum_counts,
)
from shared.domain.lifecycle import (
    OPEN_DOSSIER,
    OPEN_DOSSIER_UNSAT,
    OPEN_PETITION,
    OPEN_PETITION_UNSAT,
)
from shared.domain.periods import Period, PeriodKind
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.store.catalogs import Catalogs
from shared.store.index766_reads import Raw766, local_midnight_s, read_766
from shared.store.indicator_store import IndicatorStore

INDEX_PERIOD_KINDS = (PeriodKind.month, PeriodKind.quarter, PeriodKind.year)


Pair = tuple[int, int]  # (numerator, denominator)


def _c(numerator: int, denominator: int) -> Pair:
    """A pair kept within 0 ≤ numerator ≤ denominator (a unit's open set can briefly hold
    a dossier whose cohort is elsewhere, e.g. transferred)."""
    denominator = max(denominator, 0)
    return min(max(numerator, 0), denominator), denominator


@dataclass(frozen=True)
class CatalogFacts:
    """What the formulas need of a unit's catalog in force (computed once per catalog,
    unit and day: :func:`catalog_facts`)."""

    procedures: int
    citizen_connected: int
    eligible: frozenset[str]
    fee: frozenset[str]
    certified: frozenset[str]


def facts_of(procedures: Sequence[Procedure]) -> CatalogFacts:
    return CatalogFacts(
        procedures=len(procedures),
        citizen_connected=sum(p.citizen_data_connected for p in procedures),
        eligible=frozenset(p.procedure_code for p in procedures if p.eligible_full_online),
        fee=frozenset(p.procedure_code for p in procedures if p.fee_required),
        certified=frozenset(p.procedure_code for p in procedures if p.certified_copy),
    )


_FACTS: WeakKeyDictionary[ProcedureCatalog, dict[tuple[str, date], CatalogFacts]]
_FACTS = WeakKeyDictionary()


def catalog_facts(catalog: ProcedureCatalog, agency: str, day: date) -> CatalogFacts:
    """:func:`facts_of` the unit's procedures in force on ``day``, once per catalog."""
    per_catalog = _FACTS.setdefault(catalog, {})
    found = per_catalog.get((agency, day))
    if found is None:
        found = per_catalog[(agency, day)] = facts_of(catalog_in_force(catalog, agency, day))
    return found


def unit_counts(raw: Raw766, procedures: Sequence[Procedure] | CatalogFacts) -> dict[str, Counts]:
    """Every metric's counts of one unit: ``raw`` its inputs for the period,
    ``procedures`` its catalog in force at the evaluation instant."""
    # the bounds hold by construction (:func:`_c`): no validation per metric
    return {
        metric: Counts.model_construct(numerator=n, denominator=d)
        for metric, (n, d) in unit_pairs(raw, procedures).items()
    }


def unit_pairs(raw: Raw766, procedures: Sequence[Procedure] | CatalogFacts) -> dict[str, Pair]:
    """:func:`unit_counts` as (numerator, denominator) pairs (``ScoringTable.totals``)."""
    facts = procedures if isinstance(procedures, CatalogFacts) else facts_of(procedures)
    m = raw.mark
    cohort = m("received")
    od, odu = raw.overdue(OPEN_DOSSIER), raw.overdue(OPEN_DOSSIER_UNSAT)
    op, opu = raw.overdue(OPEN_PETITION), raw.overdue(OPEN_PETITION_UNSAT)
    petitions = m("pk_received")

    pubs = raw.publications.values()
    published = len(raw.publications)
    publicized = [p for p in pubs if p.publicized]

    eligible, fee, certified = facts.eligible, facts.fee, facts.certified
    full_online = m("received_full_online_online")
    # a dossier received online under a full_online procedure is of an eligible one: the
    # denominator never falls below it, whatever the catalog says of its procedure
    eligible_dossiers = max(sum(raw.proc_received.get(code, 0) for code in eligible), full_online)

    return {
        "PUBLISH_ON_TIME": _c(sum(p.decision_on_time for p in pubs), published),
        "PUBLIC_UPDATE_ON_TIME": _c(sum(p.publicized_on_time for p in pubs), published),
        "PUBLIC_CONTENT_FULL": _c(sum(p.content_complete for p in publicized), len(publicized)),
        "DOSSIER_SYNC": _c(m("c_synced"), cohort),
        "ON_TIME": _c(cohort - m("c_late") - od, cohort),
        "ONLINE_FULL_PROCESS": _c(full_online, eligible_dossiers),
        "PAYMENT_DOSSIER_ONLINE": _c(raw.dos_paid_online, raw.dos_paid),
        "PAYMENT_PROCEDURE_TRANSACTED": _c(len(fee & raw.proc_paid_online), len(fee)),
        "PAYMENT_PROCEDURE_WITH_DOSSIERS": _c(
            sum(1 for code in fee if raw.proc_received.get(code, 0) > 0), len(fee)
        ),
        "ORIGINAL_RESULT_AVAILABLE": _c(m("c_returned_electronic"), cohort),
        "SO_HOA_GIAY_TO_GIAI_QUYET": _c(m("received_digitized"), cohort),
        "REUSED_DIGITIZED_DATA": _c(m("received_reused_data"), cohort),
        "SYNCED_WITH_DVCQG_PERSONAL_STORAGE": _c(m("received_digitized_shared"), cohort),
        "CITIZEN_DATA_CONNECTED_DOSSIER": _c(m("received_citizen_data"), cohort),
        "CITIZEN_DATA_CONNECTED_FORMALITY": _c(facts.citizen_connected, facts.procedures),
        "ELECTRONIC_CERTIFIED_COPY": _c(
            sum(raw.proc_returned_e.get(code, 0) for code in certified),
            sum(raw.proc_received.get(code, 0) for code in certified),
        ),
        # an open overdue dossier already rated unsatisfied (du ⊂ d) is in c_unsat_or_late
        "DOSSIER_RECEIVING_SATISFACTION": _c(cohort - m("c_unsat_or_late") - od + odu, cohort),
        "PETITION_PROCESSING_ON_TIME": _c(m("pk_on_time"), petitions),
        "PETITION_HANDLING_SATISFACTION": _c(
            petitions - m("pk_unsat_or_late") - op + opu, petitions
        ),
        "PETITION_CLASSIFICATION_TTHC": _c(m("pk_class_procedure"), petitions),
        "PETITION_CLASSIFICATION_STAFF": _c(m("pk_class_staff"), petitions),
    }


@dataclass(frozen=True)
class Evaluation:
    """A period of the index and the instant it is judged at."""

    period: Period
    instant_s: int  # epoch seconds: the period's end, or now while it runs
    day: date  # the local day of the instant's catalog (the period's last day, or today)

    @property
    def closed(self) -> bool:
        return self.instant_s >= local_midnight_s(self.period.end + timedelta(days=1))


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def evaluation(period: Period, now_s: float) -> Evaluation:
    """The evaluation of ``period`` at the epoch second ``now_s`` (whole seconds: an open
    period's figures are those of one second)."""
    end_s = local_midnight_s(period.end + timedelta(days=1))
    instant = min(int(now_s), end_s)
    # the local day of the instant's last second (a closed period: its last day)
    day = date.fromordinal(_EPOCH_ORDINAL + local_day_number(instant - 1))
    return Evaluation(period, instant, max(min(day, period.end), period.start))


def catalog_in_force(catalog: ProcedureCatalog, agency: str, day: date) -> list[Procedure]:
    """The unit's procedures in force on ``day`` (§8: catalog figures at the instant)."""
    return catalog.of_agency(agency, day, day)


async def units_raws(
    store: IndicatorStore, agencies: Sequence[str], ev: Evaluation
) -> dict[str, Raw766]:
    """Per unit, the inputs of the evaluation as read (see :func:`unit_counts`)."""
    return await read_766(store, agencies, ev.period.start, ev.period.end, ev.instant_s)


def without_open_overdue(raw: Raw766) -> Raw766:
    """The inputs as if no open dossier were past its due time: the difference of the
    scores is what the unit's open overdue dossiers cost (ON_TIME, satisfaction)."""
    kept = {
        k: n for k, n in raw.open_overdue.items() if k not in (OPEN_DOSSIER, OPEN_DOSSIER_UNSAT)
    }
    return replace(raw, open_overdue=kept)


async def units_pairs(
    store: IndicatorStore, catalogs: Catalogs, agencies: Sequence[str], ev: Evaluation
) -> dict[str, dict[str, Pair]]:
    """Per unit, every metric's counts as pairs (one pipeline of script calls): what
    ``ScoringTable.totals`` reads (the portal reconciliation, the calculator's export)."""
    raws = await read_766(store, agencies, ev.period.start, ev.period.end, ev.instant_s)
    return {
        code: unit_pairs(raw, catalog_facts(catalogs.procedures, code, ev.day))
        for code, raw in raws.items()
    }


def table_for(ev: Evaluation) -> ScoringTable | None:
    """The scoring table in force on the evaluation's day (None: before the index)."""
    return load_index766().in_force(ev.day)


def index_evaluation(period: Period, now_s: float) -> tuple[Evaluation, ScoringTable]:
    """The evaluation of a month, quarter or year at ``now_s`` and the scoring table in
    force then; :class:`PeriodError` for another kind of period, one not started yet, or
    one before the index."""
    if period.kind not in INDEX_PERIOD_KINDS:
        raise PeriodError("the 766 index is evaluated by month, quarter or year")
    ev = evaluation(period, now_s)
    if ev.instant_s < local_midnight_s(period.start):
        raise PeriodError(f"{period.label} has not started")
    table = table_for(ev)
    if table is None:
        first = load_index766().tables[0].valid_from
        raise PeriodError(f"the 766 index is scored from {first.isoformat()} on")
    return ev, table


def aggregate(
    per_unit: Mapping[str, Mapping[str, Counts]], codes: Sequence[str]
) -> dict[str, Counts]:
    """An aggregate scope's counts: its units' counts summed (never an average of scores)."""
    return sum_counts(per_unit[c] for c in codes if c in per_unit)


def score(table: ScoringTable, counts: Mapping[str, Counts]) -> IndexScore:
    return table.score(counts)
