"""The annual table in the layout of the province's appendix (Công văn 112/UBND-TH):
per agency the received dossiers (HSTN) by category, procedure counts by service level,
the full-online rate and its verdict, a totals row, and the data-quality figure
"category sum − distinct total" that the published table leaves implicit.

The table of a period lists the agencies valid at some time in it (§4a.6): the 2025 table
holds the departments merged away on 1 March and their successors, each with its own
figures; an agency valid for part of the period says so after its name ("đến 28/02/2025",
"từ 01/03/2025"). Procedure counts use the procedures valid in the period."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from shared.contract.events import ServiceLevel
from shared.domain.appendix import CATEGORY_COLUMNS
from shared.domain.catalog import Agency, AgencyCatalog
from shared.domain.counting import category_mark
from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import Scope, ScopeKind, agency_scope
from shared.domain.targets import TargetBook
from shared.readmodel.figures import Figure, agency_figures, value_of
from shared.readmodel.indicator_query import Verdict, verdict
from shared.store.catalogs import Catalogs
from shared.store.indicator_store import IndicatorStore


class AnnualRow(BaseModel):
    stt: int | None
    agency_code: str
    agency_name: str
    group: str | None
    level: str | None
    hstn_total: int
    tthc_total: int
    in_person_only_hstn: int
    in_person_only_tthc: int
    partial_in_person_hstn: int
    partial_online_hstn: int
    partial_tthc: int
    full_in_person_hstn: int
    full_online_hstn: int
    full_tthc: int
    rate: float | None
    rate_text: str
    target: float | None
    verdict: Verdict | None
    category_sum_minus_total: int


class AnnualTable(BaseModel):
    year: int
    period: str
    indicator: str
    target_set: str | None
    rows: list[AnnualRow]
    total: AnnualRow
    agencies_meeting: int
    agencies_evaluated: int


def _rate_text(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}%"


def _validity_note(agency: Agency, period: Period) -> str:
    """`` (từ 01/03/2025)`` / `` (đến 28/02/2025)`` for an agency valid in part of the period."""
    parts = []
    if agency.valid_from is not None and agency.valid_from > period.start:
        parts.append(f"từ {agency.valid_from:%d/%m/%Y}")
    if agency.valid_to is not None and agency.valid_to < period.end:
        parts.append(f"đến {agency.valid_to:%d/%m/%Y}")
    return f" ({' '.join(parts)})" if parts else ""


async def annual_table(
    store: IndicatorStore,
    catalogs: Catalogs,
    targets: TargetBook,
    indicator: Indicator,
    year: int,
    target_set: str | None,
    period: Period | None = None,
) -> AnnualTable:
    """The table for ``year``, or for any ``period`` (its targets are those of its year)."""
    agencies: AgencyCatalog = catalogs.agencies
    if period is None:
        period = Period(PeriodKind.year, date(year, 1, 1), date(year, 12, 31), str(year))
    year = period.year
    members = agencies.valid_between(period.start, period.end)
    codes = [a.agency_code for a in members]
    cat_marks = [category_mark(*c) for c in CATEGORY_COLUMNS.values()]
    figures, sums = await agency_figures(
        store, catalogs, codes, [indicator], period, extra_marks=[*cat_marks, "received"]
    )
    rows: list[AnnualRow] = []
    totals: dict[str, int] = {}
    for code in codes:
        agency = agencies.agencies[code]
        levels = catalogs.procedures.level_counts(code, period.start, period.end)
        fig = figures[code][indicator.indicator]
        hstn = sums[code]["received"]
        if hstn == 0 and not levels:
            continue  # no dossiers and no procedures this year: not part of the table
        cats = {col: sums[code][category_mark(*c)] for col, c in CATEGORY_COLUMNS.items()}
        tthc = {
            "in_person_only_tthc": levels[ServiceLevel.in_person_only],
            "partial_tthc": levels[ServiceLevel.partial_online],
            "full_tthc": levels[ServiceLevel.full_online],
        }
        value = value_of(fig)
        scope = agency_scope(agency)
        target = targets.resolve(indicator.indicator, scope, year, target_set)
        row = AnnualRow(
            stt=len(rows) + 1,
            agency_code=code,
            agency_name=agency.name + _validity_note(agency, period),
            group=agency.group,
            level=agency.level,
            hstn_total=hstn,
            tthc_total=sum(tthc.values()),
            **cats,
            **tthc,
            rate=value,
            rate_text=_rate_text(value),
            target=target.min_percent if target else None,
            verdict=verdict(value, target),
            category_sum_minus_total=sum(cats.values()) - hstn,
        )
        rows.append(row)
        for key, n in row.model_dump().items():
            if isinstance(n, int) and key != "stt":
                totals[key] = totals.get(key, 0) + n
    numerator = sum(figures[r.agency_code][indicator.indicator].numerator for r in rows)
    value = value_of(Figure(numerator, totals.get("hstn_total", 0)))
    province = Scope("province", ScopeKind.province, tuple(members))
    target = targets.resolve(indicator.indicator, province, year, target_set)
    total = AnnualRow(
        stt=None,
        agency_code="province",
        agency_name="Tổng cộng (toàn tỉnh)",
        group=None,
        level=None,
        **{
            k: totals.get(k, 0)
            for k in AnnualRow.model_fields
            if AnnualRow.model_fields[k].annotation is int
        },
        rate=value,
        rate_text=_rate_text(value),
        target=target.min_percent if target else None,
        verdict=verdict(value, target),
    )
    evaluated = [r for r in rows if r.verdict in (Verdict.meets, Verdict.below)]
    return AnnualTable(
        year=year,
        period=period.label,
        indicator=indicator.indicator,
        target_set=target_set,
        rows=rows,
        total=total,
        agencies_meeting=sum(r.verdict is Verdict.meets for r in rows),
        agencies_evaluated=len(evaluated),
    )
