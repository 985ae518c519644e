"""Agency catalog: codes, Vietnamese names, group, level, parent, validity, successor.

The packaged catalog is ``shared/domain/data/agencies-an-giang.csv`` (:data:`PACKAGED_AGENCIES`;
``EGOV_AGENCIES_CSV`` names another file): An Giang in time (domain README §4a.6, §9) — the
31 units of 2024 ending on 2025-02-28 or 2025-06-30, the departments merged on 2025-03-01
(valid to 2025-06-30) and, from 2025-07-01, the 117 units of the merged province under their
national portal codes (``H01.…``). It is the one source every service starts from to know
which agencies exist and how they roll up into scopes (the catalog in Redis replaces it).

Agencies in time (domain README §4a.6): one row per agency code, for the code's whole
life. ``valid_from``/``valid_to`` (inclusive, empty = open-ended) say when it exists; an
agency merged away or abolished ends with ``valid_to`` and, when another takes over, names
it in ``successor_code``. Figures are kept per code, so replacing the catalog never
rewrites the past: a reorganisation ends codes, it does not delete them.

The parent in force on a day is ``parent_code`` while that parent is valid, then the
parent's successor (along the chain) valid that day, else none (the unit hangs directly
under the province): a commune whose district ends on 2025-06-30 needs no second row.
A unit that is re-established (merged communes) gets a new code with ``successor_code``
on the old ones, like a merged department.

Catalog files may carry comment lines starting with ``#`` (the packaged catalog
documents itself that way); :func:`parse_agencies_csv` checks a file as a whole and names
the line of each error.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from shared.domain.exceptions import CatalogFileError


class AgencyGroup(StrEnum):
    so_nganh = "so_nganh"
    dia_phuong = "dia_phuong"


class AgencyLevel(StrEnum):
    tinh = "tinh"
    huyen = "huyen"
    xa = "xa"


class Agency(BaseModel):
    model_config = ConfigDict(frozen=True)

    agency_code: str
    name: str
    group: AgencyGroup
    level: AgencyLevel
    parent_code: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    successor_code: str | None = None
    # the statistics office's code of a commune-level unit (mã ĐVHC), when it has one
    gso_code: str | None = None
    source: str = ""

    @field_validator(
        "parent_code", "successor_code", "valid_from", "valid_to", "gso_code", mode="before"
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def valid_on(self, day: date) -> bool:
        """Whether the agency exists on ``day`` (validity dates inclusive, empty = open)."""
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    def valid_between(self, start: date, end: date) -> bool:
        """Whether the agency exists on some day of [start, end] (§4a.6)."""
        return (self.valid_from is None or self.valid_from <= end) and (
            self.valid_to is None or start <= self.valid_to
        )


class AgencyCatalog:
    def __init__(self, agencies: list[Agency]) -> None:
        self.agencies: dict[str, Agency] = {a.agency_code: a for a in agencies}

    def __contains__(self, code: object) -> bool:
        return code in self.agencies

    def __len__(self) -> int:
        return len(self.agencies)

    def get(self, code: str) -> Agency | None:
        return self.agencies.get(code)

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(self.agencies)

    def in_group(self, group: AgencyGroup) -> list[Agency]:
        return [a for a in self.agencies.values() if a.group is group]

    def at_level(self, level: AgencyLevel) -> list[Agency]:
        return [a for a in self.agencies.values() if a.level is level]

    def valid_on(self, day: date) -> list[Agency]:
        """The agencies that exist on ``day`` (e.g. today, for silence alerts)."""
        return [a for a in self.agencies.values() if a.valid_on(day)]

    def valid_between(self, start: date, end: date) -> list[Agency]:
        """The agencies that exist at some time in [start, end]: a period's scope members."""
        return [a for a in self.agencies.values() if a.valid_between(start, end)]

    def predecessors(self, code: str) -> list[Agency]:
        """The agencies whose ``successor_code`` chain leads to ``code`` (not ``code`` itself),
        nearest first: what a successor's series folds in on request (§4a.6)."""
        by_successor: dict[str, list[Agency]] = {}
        for a in self.agencies.values():
            if a.successor_code:
                by_successor.setdefault(a.successor_code, []).append(a)
        out: list[Agency] = []
        seen = {code}
        todo = [code]
        while todo:
            for a in sorted(by_successor.get(todo.pop(0), []), key=lambda a: a.agency_code):
                if a.agency_code not in seen:
                    seen.add(a.agency_code)
                    out.append(a)
                    todo.append(a.agency_code)
        return out

    def parent_on(self, code: str, day: date) -> Agency | None:
        """The parent in force on ``day``: ``parent_code`` while it is valid, then its
        successor chain's member valid that day; None = directly under the province."""
        agency = self.agencies.get(code)
        seen: set[str] = set()
        parent = self.agencies.get(agency.parent_code) if agency and agency.parent_code else None
        while parent is not None and parent.agency_code not in seen:
            if parent.valid_on(day):
                return parent
            seen.add(parent.agency_code)
            parent = self.agencies.get(parent.successor_code) if parent.successor_code else None
        return None

    @classmethod
    def from_csv_text(cls, text: str) -> AgencyCatalog:
        """A catalog file, checked as a whole (raises :class:`CatalogFileError`)."""
        return parse_agencies_csv(text)

    def to_csv_text(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=AGENCY_CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        for a in self.agencies.values():
            writer.writerow(a.model_dump(mode="json"))
        return out.getvalue()


# the packaged agency catalog: An Giang in time (a file of ``shared/domain/data``)
PACKAGED_AGENCIES = "agencies-an-giang.csv"

AGENCY_CSV_FIELDS = [
    "agency_code",
    "name",
    "group",
    "level",
    "parent_code",
    "valid_from",
    "valid_to",
    "successor_code",
    "gso_code",
    "source",
]
REQUIRED_AGENCY_COLUMNS = ("agency_code", "name", "group", "level")


def _content_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) of a CSV text without comment (``#``) and blank lines."""
    return [
        (n, line)
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _csv_rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs; a quoted field may span lines."""
    lines = _content_lines(text)
    numbers = iter(lines)
    current = [0]

    def feed() -> Iterator[str]:
        for n, line in numbers:
            current[0] = n
            yield line

    reader = csv.reader(feed())
    header = [h.strip() for h in next(reader, [])]
    rows: list[tuple[int, dict[str, str]]] = []
    for values in reader:
        line = current[0]
        rows.append((line, dict(zip(header, values, strict=False))))
    return header, rows


def _first_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{field}: {err['msg']}")
    return "; ".join(parts)


def parse_agencies_csv(text: str) -> AgencyCatalog:
    """Parse and check an agency catalog file: columns, each row (group and level enums,
    dates), unique codes, parents and successors that exist, ``valid_from`` ≤ ``valid_to``,
    a successor only on an agency that ends, no successor cycle. All problems at once."""
    header, rows = _csv_rows(text)
    errors: list[str] = []
    missing = [c for c in REQUIRED_AGENCY_COLUMNS if c not in header]
    if missing:
        raise CatalogFileError([f"file: missing column(s) {', '.join(missing)}"])
    unknown = [c for c in header if c not in AGENCY_CSV_FIELDS]
    if unknown:
        errors.append(
            f"file: unknown column(s) {', '.join(unknown)}; expected {','.join(AGENCY_CSV_FIELDS)}"
        )
    agencies: dict[str, tuple[int, Agency]] = {}
    for line, row in rows:
        try:  # a short row lacks cells: they are reported as missing fields
            agency = Agency.model_validate({k: v.strip() for k, v in row.items()})
        except ValidationError as exc:
            errors.append(f"line {line}: {_first_error(exc)}")
            continue
        if agency.agency_code in agencies:
            first = agencies[agency.agency_code][0]
            errors.append(
                f"line {line}: agency_code {agency.agency_code!r} repeats line {first} "
                "(one row per code; see the catalog docs for parent changes)"
            )
            continue
        agencies[agency.agency_code] = (line, agency)
    for code, (line, a) in agencies.items():
        if a.valid_from and a.valid_to and a.valid_from > a.valid_to:
            errors.append(
                f"line {line}: valid_from {a.valid_from} is after valid_to {a.valid_to} "
                f"for {code!r}"
            )
        if a.parent_code is not None:
            if a.parent_code == code:
                errors.append(f"line {line}: parent_code of {code!r} is itself")
            elif a.parent_code not in agencies:
                errors.append(f"line {line}: parent_code {a.parent_code!r} is not in the file")
        if a.successor_code is not None:
            if a.successor_code == code:
                errors.append(f"line {line}: successor_code of {code!r} is itself")
            elif a.successor_code not in agencies:
                errors.append(
                    f"line {line}: successor_code {a.successor_code!r} is not in the file"
                )
            if a.valid_to is None:
                errors.append(
                    f"line {line}: {code!r} has successor_code {a.successor_code!r} but no "
                    "valid_to (an agency is succeeded when it ends)"
                )
    for code, (line, _a) in agencies.items():
        seen = [code]
        nxt = agencies[code][1].successor_code
        while nxt is not None and nxt in agencies and nxt not in seen:
            seen.append(nxt)
            nxt = agencies[nxt][1].successor_code
        if nxt == code:
            errors.append(f"line {line}: successor_code cycle {' → '.join([*seen, code])}")
    if not agencies and not errors:
        errors.append("file: no agency rows")
    if errors:
        raise CatalogFileError(errors)
    return AgencyCatalog([a for _, a in agencies.values()])


def _data_text(name: str, override_env: str) -> str:
    override = os.environ.get(override_env)
    if override:
        return Path(override).read_text(encoding="utf-8")
    return resources.files("shared.domain.data").joinpath(name).read_text(encoding="utf-8")


def packaged_agencies_text() -> str:
    """The text of the packaged agency catalog (or of ``EGOV_AGENCIES_CSV`` when set)."""
    return _data_text(PACKAGED_AGENCIES, "EGOV_AGENCIES_CSV")


@lru_cache(maxsize=1)
def load_agencies() -> AgencyCatalog:
    """The packaged agency catalog (or ``EGOV_AGENCIES_CSV``), checked as a whole."""
    return AgencyCatalog.from_csv_text(packaged_agencies_text())
