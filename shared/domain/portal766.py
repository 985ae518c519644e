"""The national portal's own Decision 766 scores (domain README §8), for reconciliation: its
monthly export parsed and checked, and set beside egov-monitor's scores of the same units.

The export is an XLSX workbook (its first sheet) or a CSV file (UTF-8, ``,`` ``;`` or tab
separated) whose header row has at least ``MA_COQUAN, TEN``, the scoring table's group
columns (``TDGQ, MDHL, MDSH, TTTT, CLGQ, CKMB``) and ``TONG_SCORE``; header names are
matched case-insensitively, other columns ignored, blank rows skipped. A score is a number
(decimal point, or decimal comma) within 0..the group's maximum of the scoring version in
force (the total within 0..100). The file is checked as a whole: every problem names its
line and column. ``MA_COQUAN`` is matched to the agency code exactly: a code not in the
catalog in force for the period is listed, never guessed from ``TEN``. The portal's figures
are a reference to reconcile against, never an input to the score.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from openpyxl import load_workbook
from pydantic import BaseModel, Field, PlainSerializer

from shared.domain.catalog import Agency
from shared.domain.exceptions import PortalFileError
from shared.domain.index766 import TOTAL_POINTS, ScoringTable

CODE_COLUMN = "MA_COQUAN"
NAME_COLUMN = "TEN"
TOTAL_COLUMN = "TONG_SCORE"
# the export's column order (group maxima come from the scoring table in force)
EXPORT_GROUPS = ("TDGQ", "MDHL", "MDSH", "TTTT", "CLGQ", "CKMB")
XLSX_MAGIC = b"PK\x03\x04"  # an XLSX workbook is a zip archive
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_CENT = Decimal("0.01")

FileFormat = Literal["xlsx", "csv"]
Cell = object


class PortalRow(BaseModel):
    """One unit's line of the export: the portal's six group scores and total."""

    line: int = Field(description="line of the file (the sheet's row number for XLSX)")
    agency_code: str = Field(description="MA_COQUAN", examples=["H01.05"])
    name: str = Field(description="TEN, as the portal writes it")
    groups: dict[str, Decimal]
    total: Decimal


class GroupInfo(BaseModel):
    group: str = Field(examples=["TDGQ"])
    name: str
    max: Annotated[Decimal, PlainSerializer(float, return_type=float)]


def group_info(table: ScoringTable) -> list[GroupInfo]:
    """The table's groups (code, Vietnamese name, maximum) in the export's order."""
    found: dict[str, GroupInfo] = {}
    for rule in table.rules:
        found.setdefault(
            rule.group, GroupInfo(group=rule.group, name=rule.group_name, max=rule.group_max)
        )
    order = {g: i for i, g in enumerate(EXPORT_GROUPS)}
    return sorted(found.values(), key=lambda g: order.get(g.group, len(order)))


def required_columns(groups: Iterable[str]) -> list[str]:
    return [CODE_COLUMN, NAME_COLUMN, *groups, TOTAL_COLUMN]


def file_format(data: bytes) -> FileFormat:
    return "xlsx" if data.startswith(XLSX_MAGIC) else "csv"


def _xlsx_rows(data: bytes) -> list[tuple[int, list[Cell]]]:
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise PortalFileError([f"file: not a readable XLSX workbook ({exc})"]) from None
    try:
        sheet = book.worksheets[0]
        return [(n, list(values)) for n, values in enumerate(sheet.iter_rows(values_only=True), 1)]
    finally:
        book.close()


def _csv_rows(data: bytes) -> list[tuple[int, list[Cell]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PortalFileError(["file: a CSV export must be UTF-8 (or an XLSX workbook)"]) from None
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(",;\t", key=first.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [(reader.line_num, list(values)) for values in reader]


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _number(value: Cell) -> Decimal | None:
    """A score cell as a number (None: not a number). XLSX cells come as int or float, CSV
    cells as text with a decimal point or a decimal comma."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        text = repr(value)
    else:
        text = _text(value)
        if _DECIMAL_COMMA.match(text):
            text = text.replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def parse_portal_export(data: bytes, maxima: Mapping[str, Decimal]) -> list[PortalRow]:
    """The export's unit rows, checked against ``maxima`` (group → maximum points; the
    groups are the required score columns). Raises :class:`PortalFileError` with every
    problem (``missing_columns`` set when the header lacks some)."""
    rows = [(n, cells) for n, cells in _read(data) if any(_text(c) for c in cells)]
    if not rows:
        raise PortalFileError(["file: empty (no header row)"])
    (_, header), body = rows[0], rows[1:]
    index: dict[str, int] = {}
    for i, cell in enumerate(header):
        index.setdefault(_text(cell).upper(), i)
    required = required_columns(maxima)
    missing = [c for c in required if c not in index]
    if missing:
        raise PortalFileError(
            [f"file: missing column(s) {', '.join(missing)}; expected {', '.join(required)}"],
            missing,
        )
    limits = {**maxima, TOTAL_COLUMN: TOTAL_POINTS}
    errors: list[str] = []
    seen: dict[str, int] = {}
    out: list[PortalRow] = []
    for line, cells in body:

        def cell(column: str, cells: list[Cell] = cells) -> Cell:
            i = index[column]
            return cells[i] if i < len(cells) else None

        problems: list[str] = []
        code = _text(cell(CODE_COLUMN))
        if not code:
            problems.append(f"line {line}, column {CODE_COLUMN}: empty")
        elif code in seen:
            problems.append(
                f"line {line}, column {CODE_COLUMN}: {code!r} repeats line {seen[code]}"
            )
        else:
            seen[code] = line
        values: dict[str, Decimal] = {}
        for column, top in limits.items():
            raw = cell(column)
            number = _number(raw)
            if number is None:
                shown = _text(raw)
                problems.append(
                    f"line {line}, column {column}: "
                    + (f"{shown!r} is not a number" if shown else "empty, a number is required")
                )
            elif not Decimal(0) <= number <= top:
                problems.append(f"line {line}, column {column}: {number} is outside 0..{top}")
            else:
                values[column] = number
        if problems:
            errors += problems
            continue
        out.append(
            PortalRow(
                line=line,
                agency_code=code,
                name=_text(cell(NAME_COLUMN)),
                groups={g: values[g] for g in maxima},
                total=values[TOTAL_COLUMN],
            )
        )
    if not body:
        errors.append("file: no unit rows under the header")
    if errors:
        raise PortalFileError(errors)
    return out


def _read(data: bytes) -> list[tuple[int, list[Cell]]]:
    return _xlsx_rows(data) if file_format(data) == "xlsx" else _csv_rows(data)


# --- the reconciliation --------------------------------------------------------------


class UnknownCode(BaseModel):
    """A row whose ``MA_COQUAN`` is no agency code of the catalog in force for the period."""

    line: int
    code: str
    name: str = Field(description="TEN, as the portal writes it (never used to match)")


class MissingUnit(BaseModel):
    """A unit of the catalog in force for the period without a row in the export."""

    agency_code: str
    name: str
    group: str


class GroupDifference(BaseModel):
    group: str = Field(examples=["TDGQ"])
    name: str
    max: float
    ours: float = Field(description="egov-monitor's points")
    portal: float = Field(description="the portal's points")
    difference: float = Field(description="ours − portal")
    flagged: bool = Field(description="|difference| above the threshold")


class UnitDifference(BaseModel):
    agency_code: str
    name: str = Field(description="the catalog's name")
    portal_name: str = Field(description="TEN of the export")
    group: str = Field(description="so_nganh or dia_phuong")
    line: int
    groups: list[GroupDifference]
    total_ours: float
    total_portal: float
    total_difference: float = Field(description="ours − portal")
    largest_difference: float = Field(description="the largest |difference|, total or group")
    flagged: bool = Field(description="the total or a group more than the threshold apart")


def split_known(
    rows: Sequence[PortalRow], units: Sequence[Agency]
) -> tuple[list[PortalRow], list[UnknownCode]]:
    """The rows of units of the catalog in force, and the others (exact codes only)."""
    codes = {a.agency_code for a in units}
    known = [r for r in rows if r.agency_code in codes]
    unknown = [
        UnknownCode(line=r.line, code=r.agency_code, name=r.name)
        for r in rows
        if r.agency_code not in codes
    ]
    return known, unknown


def missing_units(rows: Sequence[PortalRow], units: Sequence[Agency]) -> list[MissingUnit]:
    present = {r.agency_code for r in rows}
    return [
        MissingUnit(agency_code=a.agency_code, name=a.name, group=a.group.value)
        for a in sorted(units, key=lambda a: (a.group.value, a.agency_code))
        if a.agency_code not in present
    ]


def compare_unit(
    row: PortalRow,
    unit: Agency,
    groups: Sequence[GroupInfo],
    ours_total: Decimal,
    ours_groups: Mapping[str, Decimal],
    threshold: Decimal,
) -> UnitDifference:
    """One unit's scores beside the portal's: each group's and the total's difference
    (ours − portal, exact to the cent), flagged when more than ``threshold`` apart."""
    cells = []
    for g in groups:
        diff = (ours_groups[g.group] - row.groups[g.group]).quantize(_CENT)
        cells.append(
            GroupDifference(
                group=g.group,
                name=g.name,
                max=float(g.max),
                ours=float(ours_groups[g.group]),
                portal=float(row.groups[g.group]),
                difference=float(diff),
                flagged=abs(diff) > threshold,
            )
        )
    total_diff = (ours_total - row.total).quantize(_CENT)
    largest = max([abs(total_diff), *(abs(Decimal(str(c.difference))) for c in cells)])
    return UnitDifference(
        agency_code=unit.agency_code,
        name=unit.name,
        portal_name=row.name,
        group=unit.group.value,
        line=row.line,
        groups=cells,
        total_ours=float(ours_total),
        total_portal=float(row.total),
        total_difference=float(total_diff),
        largest_difference=float(largest),
        flagged=largest > threshold,
    )


def by_largest_difference(units: Iterable[UnitDifference]) -> list[UnitDifference]:
    """The largest difference first; equal ones by code."""
    return sorted(units, key=lambda u: (-u.largest_difference, u.agency_code))
