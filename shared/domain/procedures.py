"""Procedure catalog (thủ tục hành chính): code, agency, name, service level, whether it is
eligible to be offered fully online, whether it carries a fee.

The catalog is data that changes: it is loaded from a CSV file and can be replaced while
services run (``catalog`` CLI publishes it; services read the current copy from Redis).
A procedure exists from ``valid_from`` to ``valid_to`` (inclusive; empty = open-ended, and
files without these columns are open-ended throughout): the catalog counts of a period use
the procedures valid at some time in it (domain README §3, §4a.6).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from datetime import date

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from shared.contract.events import ServiceLevel

CSV_FIELDS = [
    "procedure_code",
    "agency_code",
    "name",
    "service_level",
    "eligible_full_online",
    "fee_required",
    "valid_from",
    "valid_to",
]


class Procedure(BaseModel):
    model_config = ConfigDict(frozen=True)

    procedure_code: str
    agency_code: str
    name: str
    service_level: ServiceLevel
    eligible_full_online: bool
    fee_required: bool
    valid_from: date | None = None
    valid_to: date | None = None

    @field_validator("valid_from", "valid_to", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _dates_in_order(self) -> Procedure:
        if self.valid_from and self.valid_to and self.valid_from > self.valid_to:
            raise ValueError(f"valid_from {self.valid_from} is after valid_to {self.valid_to}")
        return self

    def valid_between(self, start: date, end: date) -> bool:
        """Whether the procedure exists on some day of [start, end]."""
        return (self.valid_from is None or self.valid_from <= end) and (
            self.valid_to is None or start <= self.valid_to
        )


class ProcedureCatalog:
    def __init__(self, procedures: Iterable[Procedure]) -> None:
        self.procedures: dict[str, Procedure] = {p.procedure_code: p for p in procedures}
        self._by_agency: dict[str, list[Procedure]] = {}
        self._dated: set[str] = set()  # agencies with a procedure that has validity dates
        for p in self.procedures.values():
            self._by_agency.setdefault(p.agency_code, []).append(p)
            if p.valid_from is not None or p.valid_to is not None:
                self._dated.add(p.agency_code)

    def __len__(self) -> int:
        return len(self.procedures)

    def has_dated(self, agency: str) -> bool:
        """Whether the agency's procedure list depends on the period."""
        return agency in self._dated

    def of_agency(
        self, agency: str, start: date | None = None, end: date | None = None
    ) -> list[Procedure]:
        """The agency's procedures; with a period, those valid at some time in it."""
        procs = self._by_agency.get(agency, [])
        if start is None or end is None:
            return procs
        return [p for p in procs if p.valid_between(start, end)]

    def level_counts(
        self, agency: str, start: date | None = None, end: date | None = None
    ) -> Counter[ServiceLevel]:
        return Counter(p.service_level for p in self.of_agency(agency, start, end))

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
