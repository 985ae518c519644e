"""Procedure catalog (thủ tục hành chính): code, agency, name, service level, whether it is
eligible to be offered fully online, whether it carries a fee, whether it is connected to
the population database (``citizen_data_connected``) and whether it is a certified-copy
service (``certified_copy``, chứng thực bản sao từ bản chính) — the last two for the
Decision 766 index (§4b, §8), false when the file has no such column or leaves it empty.

The catalog is data that changes: it is loaded from a CSV file and can be replaced while
services run (``catalog`` CLI publishes it; services read the current copy from Redis).
A procedure exists from ``valid_from`` to ``valid_to`` (inclusive; empty = open-ended, and
files without these columns are open-ended throughout): the catalog counts of a period use
the procedures valid at some time in it (domain README §3, §4a.6). So the catalog has a
history: a procedure that stops is ended with ``valid_to``, not removed — a replacement
that drops a procedure counted in figures is refused (``shared.store.catalogs``).

One row per ``procedure_code`` (a code belongs to one agency); :func:`parse_procedures_csv`
checks a file as a whole and names the line of each error.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from datetime import date

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from shared.contract.events import ServiceLevel
from shared.domain.catalog import _csv_rows, _first_error
from shared.domain.exceptions import CatalogFileError

CSV_FIELDS = [
    "procedure_code",
    "agency_code",
    "name",
    "service_level",
    "eligible_full_online",
    "fee_required",
    "citizen_data_connected",
    "certified_copy",
    "valid_from",
    "valid_to",
]
REQUIRED_PROCEDURE_COLUMNS = CSV_FIELDS[:6]
BOOLEAN_FIELDS = (
    "eligible_full_online",
    "fee_required",
    "citizen_data_connected",
    "certified_copy",
)


class Procedure(BaseModel):
    model_config = ConfigDict(frozen=True)

    procedure_code: str
    agency_code: str
    name: str
    service_level: ServiceLevel
    eligible_full_online: bool
    fee_required: bool
    # Decision 766 index (§4b): connected to the population database (kết nối CSDL quốc gia
    # về dân cư); a certified-copy service (chứng thực bản sao từ bản chính)
    citizen_data_connected: bool = False
    certified_copy: bool = False
    valid_from: date | None = None
    valid_to: date | None = None

    @field_validator("valid_from", "valid_to", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("citizen_data_connected", "certified_copy", mode="before")
    @classmethod
    def _blank_is_false(cls, value: object) -> object:
        return False if value == "" or value is None else value

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

    def valid_in_year(self, year: int) -> bool:
        return self.valid_between(date(year, 1, 1), date(year, 12, 31))


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
        """The catalog of a CSV file (:func:`parse_procedures_csv`: every problem named
        with its line, raised as :class:`CatalogFileError`)."""
        return parse_procedures_csv(text)

    def to_csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for p in sorted(self.procedures.values(), key=lambda p: p.procedure_code):
            writer.writerow(
                {
                    **p.model_dump(mode="json"),
                    **{name: str(getattr(p, name)).lower() for name in BOOLEAN_FIELDS},
                }
            )
        return out.getvalue()


def parse_procedures_csv(text: str) -> ProcedureCatalog:
    """Parse and check a procedure catalog file: the columns (``CSV_FIELDS``; the first
    six required), each row (service level, booleans, dates, ``valid_from`` ≤
    ``valid_to``), one row per ``procedure_code``. All problems at once, each with its line
    (``#`` lines are comments)."""
    header, rows = _csv_rows(text)
    errors: list[str] = []
    missing = [c for c in REQUIRED_PROCEDURE_COLUMNS if c not in header]
    if missing:
        raise CatalogFileError([f"file: missing column(s) {', '.join(missing)}"])
    unknown = [c for c in header if c not in CSV_FIELDS]
    if unknown:
        errors.append(
            f"file: unknown column(s) {', '.join(unknown)}; expected {','.join(CSV_FIELDS)}"
        )
    found: dict[str, tuple[int, Procedure]] = {}
    for line, row in rows:
        try:  # a short row lacks cells: they are reported as missing fields
            proc = Procedure.model_validate({k: v.strip() for k, v in row.items()})
        except ValidationError as exc:
            errors.append(f"line {line}: {_first_error(exc)}")
            continue
        if proc.procedure_code in found:
            first = found[proc.procedure_code][0]
            errors.append(
                f"line {line}: procedure_code {proc.procedure_code!r} repeats line {first} "
                "(one row per code)"
            )
            continue
        found[proc.procedure_code] = (line, proc)
    if errors:
        raise CatalogFileError(errors)
    return ProcedureCatalog(p for _, p in found.values())
