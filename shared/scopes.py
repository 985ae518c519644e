"""Scopes (domain README §7): an agency code, ``group:<g>``, ``level:<l>`` or ``province``.

Aggregate scopes sum their members' numerators and denominators.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.catalog import Agency, AgencyCatalog, AgencyGroup, AgencyLevel

SCOPE_FORMATS = "an agency code, group:so_nganh, group:dia_phuong, level:tinh|huyen|xa or province"


class ScopeError(ValueError):
    pass


@dataclass(frozen=True)
class Scope:
    id: str
    kind: str  # agency | group | level | province
    members: tuple[Agency, ...]

    @property
    def codes(self) -> list[str]:
        return [a.agency_code for a in self.members]

    @property
    def agency(self) -> Agency | None:
        return self.members[0] if self.kind == "agency" else None


def parse_scope(text: str, catalog: AgencyCatalog) -> Scope:
    text = text.strip()
    if text == "province":
        return Scope(text, "province", tuple(catalog.agencies.values()))
    if text.startswith("group:"):
        try:
            group = AgencyGroup(text.removeprefix("group:"))
        except ValueError:
            raise ScopeError(f"unknown group in {text!r}; expected {SCOPE_FORMATS}") from None
        return Scope(text, "group", tuple(catalog.in_group(group)))
    if text.startswith("level:"):
        try:
            level = AgencyLevel(text.removeprefix("level:"))
        except ValueError:
            raise ScopeError(f"unknown level in {text!r}; expected {SCOPE_FORMATS}") from None
        return Scope(text, "level", tuple(catalog.at_level(level)))
    agency = catalog.get(text)
    if agency is None:
        raise ScopeError(f"unknown scope {text!r}; expected {SCOPE_FORMATS}")
    return Scope(text, "agency", (agency,))
