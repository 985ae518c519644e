"""Reconciliation of the Decision 766 index with the national portal (domain README §8):
importing the portal's export of a period (the admin endpoint and ``egov portal-import``
share :func:`import_export`), and each unit's scores beside the portal's
(:func:`reconcile`).

A period is a month, a quarter or a year, as ``GET /v1/index766`` takes it; the units are
those of the catalog in force in it (valid at some time in the period), scored as that
endpoint scores them (judged at the period's end, or now while it runs).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, Field

from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import Agency
from shared.domain.index766 import ScoringTable
from shared.domain.periods import Period
from shared.domain.portal766 import (
    GroupInfo,
    MissingUnit,
    UnitDifference,
    UnknownCode,
    by_largest_difference,
    compare_unit,
    file_format,
    group_info,
    missing_units,
    parse_portal_export,
    split_known,
)
from shared.readmodel.index766_inputs import Evaluation, index_evaluation, units_pairs
from shared.store.catalogs import Catalogs
from shared.store.client import RedisClient
from shared.store.indicator_store import IndicatorStore
from shared.store.portal766 import ImportedExport, PortalExports, StoredExport


class ImportOutcome(ImportedExport):
    matched: int = Field(description="rows of units of the catalog in force for the period")
    unknown_codes: list[UnknownCode] = Field(
        description="MA_COQUAN not in the catalog in force for the period (never guessed)"
    )
    missing: int = Field(description="units of the catalog without a row in the file")


class PortalReconciliation(BaseModel):
    period: str
    evaluated_at: datetime = Field(description="egov-monitor's evaluation instant")
    closed: bool
    version: str = Field(description="the scoring version of egov-monitor's scores")
    threshold: float = Field(description="points apart above which a unit is flagged")
    imported: ImportedExport
    groups: list[GroupInfo]
    units: list[UnitDifference] = Field(description="by the largest difference, first")
    flagged: int
    unknown_codes: list[UnknownCode]
    missing_from_export: list[MissingUnit]


def units_in_force(catalogs: Catalogs, period: Period) -> list[Agency]:
    """The units of the catalog in force for the period (valid at some time in it)."""
    return catalogs.agencies.valid_between(period.start, period.end)


async def import_export(
    redis: RedisClient,
    catalogs: Catalogs,
    period: Period,
    data: bytes,
    *,
    imported_by: str,
    now_s: float,
    filename: str | None = None,
) -> ImportOutcome:
    """Check the export of ``period`` against the group maxima of the scoring version in
    force and store it (replacing an earlier import of the period). Raises
    :class:`PeriodError` (not a period of the index) or :class:`PortalFileError` (every
    problem of the file; nothing stored)."""
    _, table = index_evaluation(period, now_s)
    groups = group_info(table)
    rows = parse_portal_export(data, {g.group: g.max for g in groups})
    units = units_in_force(catalogs, period)
    known, unknown = split_known(rows, units)
    stored = StoredExport(
        period=period.label,
        imported_at=datetime.fromtimestamp(now_s, UTC).astimezone(LOCAL_TZ),
        imported_by=imported_by,
        digest="sha256:" + hashlib.sha256(data).hexdigest(),
        format=file_format(data),
        filename=filename,
        version=table.version,
        rows=len(rows),
        units=rows,
    )
    await PortalExports(redis).replace(stored)
    return ImportOutcome(
        **stored.model_dump(exclude={"units"}),
        matched=len(known),
        unknown_codes=unknown,
        missing=len(missing_units(known, units)),
    )


async def reconcile(
    store: IndicatorStore,
    catalogs: Catalogs,
    stored: StoredExport,
    ev: Evaluation,
    table: ScoringTable,
    threshold: Decimal,
) -> PortalReconciliation:
    """Each unit of the export beside egov-monitor's score of the same period (one read of
    the units), by the largest difference; the unknown codes and the units missing from
    the export, against the catalog as it is now."""
    groups = group_info(table)
    table_groups = {g.group for g in groups}
    units = units_in_force(catalogs, ev.period)
    by_code = {a.agency_code: a for a in units}
    known, unknown = split_known(stored.units, units)
    pairs = await units_pairs(store, catalogs, [r.agency_code for r in known], ev)
    compared = []
    for row in known:
        total, _, points = table.totals(pairs[row.agency_code])
        if set(row.groups) != table_groups:  # imported under another scoring version
            continue
        compared.append(
            compare_unit(row, by_code[row.agency_code], groups, total, points, threshold)
        )
    ordered = by_largest_difference(compared)
    return PortalReconciliation(
        period=ev.period.label,
        evaluated_at=datetime.fromtimestamp(ev.instant_s, UTC).astimezone(LOCAL_TZ),
        closed=ev.closed,
        version=table.version,
        threshold=float(threshold),
        imported=ImportedExport.model_validate(stored.model_dump(exclude={"units"})),
        groups=list(groups),
        units=ordered,
        flagged=sum(u.flagged for u in ordered),
        unknown_codes=unknown,
        missing_from_export=missing_units(known, units),
    )
