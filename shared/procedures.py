"""Procedure catalog (thủ tục hành chính): code, agency, name, service level, whether it is
eligible to be offered fully online, whether it carries a fee.

The catalog is data that changes: it is loaded from a CSV file and can be replaced while
services run (``catalog`` CLI publishes it; services read the current copy from Redis).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from shared.events import ServiceLevel

CSV_FIELDS = [
    "procedure_code",
    "agency_code",
    "name",
    "service_level",
    "eligible_full_online",
    "fee_required",
]


class Procedure(BaseModel):
    model_config = ConfigDict(frozen=True)

    procedure_code: str
    agency_code: str
    name: str
    service_level: ServiceLevel
    eligible_full_online: bool
    fee_required: bool


class ProcedureCatalog:
    def __init__(self, procedures: Iterable[Procedure]) -> None:
        self.procedures: dict[str, Procedure] = {p.procedure_code: p for p in procedures}
        self._by_agency: dict[str, list[Procedure]] = {}
        for p in self.procedures.values():
            self._by_agency.setdefault(p.agency_code, []).append(p)

    def __len__(self) -> int:
        return len(self.procedures)

    def of_agency(self, agency: str) -> list[Procedure]:
        return self._by_agency.get(agency, [])

    def level_counts(self, agency: str) -> Counter[ServiceLevel]:
        return Counter(p.service_level for p in self.of_agency(agency))

    @classmethod
    def from_csv_text(cls, text: str) -> ProcedureCatalog:
        return cls(Procedure.model_validate(row) for row in csv.DictReader(io.StringIO(text)))

    def to_csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for p in sorted(self.procedures.values(), key=lambda p: p.procedure_code):
            writer.writerow(
                {
                    **p.model_dump(mode="json"),
                    "eligible_full_online": str(p.eligible_full_online).lower(),
                    "fee_required": str(p.fee_required).lower(),
                }
            )
        return out.getvalue()
