"""Scopes (domain README §7): an agency code, ``group:<g>``, ``level:<l>`` or ``province``.

Aggregate scopes sum their members' numerators and denominators. For a period, an
aggregate holds the agencies valid at some time in it (§4a.6): the 2025 province holds the
departments merged away on 2025-03-01 and the districts ended on 2025-06-30 as well as
their successors; the 2026 province only the successors. Without a period it holds every
agency of the catalog. An agency scope names one code and is answered for any period (its
figures stay under its code; after its ``valid_to`` it simply has no new events).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared.domain.catalog import Agency, AgencyCatalog, AgencyGroup, AgencyLevel
from shared.domain.exceptions import ScopeError

SCOPE_FORMATS = "an agency code, group:so_nganh, group:dia_phuong, level:tinh|huyen|xa or province"


# The district level ended on 2025-06-30 (domain README §9): from then on the local group is
# the commune level, and labels say so.
LAST_DAY_OF_DISTRICTS = date(2025, 6, 30)


class ScopeKind(StrEnum):
    agency = "agency"
    group = "group"
    level = "level"
    province = "province"


@dataclass(frozen=True)
class Scope:
    id: str
    kind: ScopeKind
    members: tuple[Agency, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ScopeKind(self.kind))

    @property
    def codes(self) -> list[str]:
        return [a.agency_code for a in self.members]

    @property
    def agency(self) -> Agency | None:
        return self.members[0] if self.kind is ScopeKind.agency else None


def parse_scope(
    text: str, catalog: AgencyCatalog, start: date | None = None, end: date | None = None
) -> Scope:
    """The scope ``text``; with a period [start, end] (one date: that day), an aggregate's
    members are the agencies valid at some time in it."""
    text = text.strip()
    if not (text == "province" or text.startswith(("group:", "level:"))):
        agency = catalog.get(text)
        if agency is None:
            raise ScopeError(f"unknown scope {text!r}; expected {SCOPE_FORMATS}")
        return Scope(text, ScopeKind.agency, (agency,))
    lo, hi = start or end, end or start
    if lo is None or hi is None:
        pool = list(catalog.agencies.values())
    else:
        pool = catalog.valid_between(lo, hi)
    if text == "province":
        return Scope(text, ScopeKind.province, tuple(pool))
    if text.startswith("group:"):
        try:
            group = AgencyGroup(text.removeprefix("group:"))
        except ValueError:
            raise ScopeError(f"unknown group in {text!r}; expected {SCOPE_FORMATS}") from None
        return Scope(text, ScopeKind.group, tuple(a for a in pool if a.group is group))
    try:  # level:<l>
        level = AgencyLevel(text.removeprefix("level:"))
    except ValueError:
        raise ScopeError(f"unknown level in {text!r}; expected {SCOPE_FORMATS}") from None
    return Scope(text, ScopeKind.level, tuple(a for a in pool if a.level is level))


def scope_on(text: str, catalog: AgencyCatalog, day: date) -> Scope:
    """The scope as it stands on ``day`` ("now" views: open dossiers, silence alerts)."""
    return parse_scope(text, catalog, day, day)


def scope_in(scope: Scope, catalog: AgencyCatalog, start: date, end: date) -> Scope:
    """``scope`` re-derived for the period [start, end]: the same scope id, the members
    valid in it (an agency scope is returned as it is)."""
    if scope.kind is ScopeKind.agency:
        return scope
    try:
        return parse_scope(scope.id, catalog, start, end)
    except ScopeError:
        return scope


def agency_scope(agency: Agency) -> Scope:
    """The scope of one agency."""
    return Scope(agency.agency_code, ScopeKind.agency, (agency,))


_NAMES_UNTIL_2025_06 = {
    "province": "Toàn tỉnh",
    "group:so_nganh": "Sở, ban, ngành",
    "group:dia_phuong": "Địa phương (cấp huyện)",
    "level:tinh": "Cấp tỉnh",
    "level:huyen": "Cấp huyện",
    "level:xa": "Cấp xã",
}
_NAMES_FROM_2025_07 = {**_NAMES_UNTIL_2025_06, "group:dia_phuong": "Cấp xã"}


def scope_name(scope_id: str, on: date | None = None, catalog: AgencyCatalog | None = None) -> str:
    """The Vietnamese display name of a scope, the one every page, report and alert uses:
    an agency's name (from ``catalog``), or the aggregate's label as it stood on ``on``
    (the local group is "Cấp xã" once the district level ended; default: today's)."""
    if catalog is not None:
        agency = catalog.get(scope_id)
        if agency is not None:
            return agency.name
    names = (
        _NAMES_UNTIL_2025_06
        if on is not None and on <= LAST_DAY_OF_DISTRICTS
        else _NAMES_FROM_2025_07
    )
    return names.get(scope_id, scope_id)
