"""Per-procedure dossier figures (issue 18, item 5; CV 112 asks to prioritise the
procedures with the most dossiers): what the calculator keeps per procedure, summed over a
scope's agencies and a period of whole months.

The counted sets (``shared/store/keys.py``, member = procedure code, value = dossiers), all
dated at the dossier's first receipt (its cohort), a rejected intake withdrawn:

- ``proc_received``: dossiers received (per month and year);
- ``proc_online``: dossiers with an online receipt under a ``partial_online`` or
  ``full_online`` service level (also per day);
- ``proc_full_online``: dossiers received ``online`` under ``full_online`` (per month and
  year);
- ``proc_returned_e``: of those received, the ones returned with an electronic result.

Resolution on time is counted per agency, not per procedure: this view has no on-time rate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from shared.domain.indicators import ratio_percent
from shared.domain.periods import Period, decompose
from shared.domain.procedures import Procedure, ProcedureCatalog
from shared.store.indicator_store import IndicatorStore

COUNTED = ("proc_received", "proc_online", "proc_full_online", "proc_returned_e")

LABELS_VI = {
    "received": "Hồ sơ tiếp nhận",
    "online": "Hồ sơ trực tuyến",
    "full_online": "Hồ sơ trực tuyến toàn trình",
    "returned_electronic": "Hồ sơ trả kết quả bản điện tử",
    "online_rate": "Tỷ lệ hồ sơ trực tuyến (%)",
    "full_online_rate": "Tỷ lệ hồ sơ trực tuyến toàn trình (%)",
    "returned_electronic_rate": "Tỷ lệ hồ sơ trả kết quả bản điện tử (%)",
    "share_of_scope": "Tỷ trọng trong tổng hồ sơ của phạm vi (%)",
}


class ProcedureFigures(BaseModel):
    procedure_code: str
    name: str | None = Field(description="From the procedure catalog; null if not in it")
    agency_code: str | None
    service_level: str | None
    received: int
    online: int
    full_online: int
    returned_electronic: int
    online_rate: float | None = Field(description="online ÷ received, percent")
    full_online_rate: float | None = Field(description="full_online ÷ received, percent")
    returned_electronic_rate: float | None = Field(
        description="returned_electronic ÷ received, percent"
    )


class ProcedureView(ProcedureFigures):
    scope: str
    period: str
    period_start: str
    period_end: str
    labels_vi: dict[str, str] = Field(default_factory=lambda: dict(LABELS_VI))


class RankedProcedure(ProcedureFigures):
    rank: int
    share_of_scope: float | None = Field(description="received ÷ the scope's received, percent")


class ProcedureRanking(BaseModel):
    scope: str
    period: str
    period_start: str
    period_end: str
    received: int = Field(description="Dossiers received by the scope's procedures")
    procedures: int = Field(description="Procedures ranked (before the limit)")
    labels_vi: dict[str, str] = Field(default_factory=lambda: dict(LABELS_VI))
    items: list[RankedProcedure]


def whole_months(period: Period) -> bool:
    """Whether the period is made of whole months (the per-month sets cover it exactly)."""
    return not decompose(period.start, period.end).days


def figures_of(
    code: str, counts: Mapping[str, Mapping[str, int]], procedure: Procedure | None
) -> ProcedureFigures:
    """A procedure's figures from the counted sets summed over a scope (set → member → n)."""
    received, online, full, returned_e = (counts[name].get(code, 0) for name in COUNTED)
    return ProcedureFigures(
        procedure_code=code,
        name=procedure.name if procedure else None,
        agency_code=procedure.agency_code if procedure else None,
        service_level=procedure.service_level.value if procedure else None,
        received=received,
        online=online,
        full_online=full,
        returned_electronic=returned_e,
        online_rate=ratio_percent(online, received),
        full_online_rate=ratio_percent(full, received),
        returned_electronic_rate=ratio_percent(returned_e, received),
    )


def ranked(
    counts: Mapping[str, Mapping[str, int]],
    catalog: ProcedureCatalog,
    listed: Sequence[str],
    limit: int | None,
) -> tuple[int, int, list[RankedProcedure]]:
    """(scope's received, procedures ranked, the first ``limit``): every procedure with a
    dossier in the scope and every one of ``listed`` (the scope's catalog), by dossiers
    received (most first), then by code."""
    codes = set(listed)
    for name in COUNTED:
        codes.update(counts[name])
    received = counts["proc_received"]
    total = sum(received.values())
    order = sorted(codes, key=lambda c: (-received.get(c, 0), c))
    items = [
        RankedProcedure(
            **figures_of(code, counts, catalog.procedures.get(code)).model_dump(),
            rank=n,
            share_of_scope=ratio_percent(received.get(code, 0), total),
        )
        for n, code in enumerate(order[:limit] if limit is not None else order, start=1)
    ]
    return total, len(order), items


async def scope_counts(
    store: IndicatorStore, agencies: Sequence[str], period: Period
) -> dict[str, dict[str, int]]:
    """Counted set → procedure → dossiers, summed over the agencies and the period."""
    reads = await asyncio.gather(
        *(store.counted_sums(agencies, period.start, period.end, name) for name in COUNTED)
    )
    out: dict[str, dict[str, int]] = {}
    for name, per_agency in zip(COUNTED, reads, strict=True):
        acc: dict[str, int] = {}
        for members in per_agency.values():
            for member, n in members.items():
                acc[member] = acc.get(member, 0) + n
        out[name] = acc
    return out
