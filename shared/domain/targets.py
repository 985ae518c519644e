"""Targets (domain README §6) read from ``shared/domain/data/targets.csv``.

Each row is one target of a named target set (the document that set it), for an indicator,
a year (``period``) and what it ``applies_to``: ``all`` (the province and every agency),
``province`` (the province as a whole only: Nghị quyết 188/NQ-CP's 70 % full-online for the
province in 2025), ``group:<g>``, ``level:<l>`` or one agency code. ``kind`` is ``plan`` (the
default, also for CSVs without the column) or ``evaluation`` (a one-off rule for judging one
year).

Resolution (:meth:`TargetBook.resolve`):

* **Rows in force for a year.** A plan row is in force from its year until a later plan row
  for the same indicator and ``applies_to`` replaces it (with no 2026 document, the 2025 rows
  apply in 2026, *carried over*: :meth:`Target.carried_over`); a row dated after the year (a
  2030 end goal) is never in force before it.
  An evaluation row is in force in its own year only. Without ``target_set`` all sets count;
  with it only that set's rows do (the same plan/evaluation rules apply inside the set).
* **An agency** gets the most specific row in force that names it: its code, then its
  group or level, then ``all``. Ties between rows of equal specificity go to the later year,
  then to an evaluation over a plan row, then to the row that comes first in the file.
* **An aggregate scope** (group, level, province) with no members has no target: from
  2025-07-01 ``level:huyen`` has no member and no target (§9), though the 2025 row of
  Nghị quyết 17 for it is carried over. With members it gets a row in force that names it
  (``group:<g>``, ``level:<l>``; ``all`` or ``province`` for the province). With no such row
  it gets the target its members share: every member is resolved as an
  agency, and when they all have a target with the same ``min_percent`` the scope gets the
  first member's target (members in scope order, so the choice is deterministic even when
  the equal values come from different rows). A member without a target, members that
  disagree give no target.

Resolutions are cached per book (agency and aggregate keys include the member codes, groups
and levels), so rankings over 30+ agencies and scopes of ~190 agencies stay cheap.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from shared.domain.scopes import Scope, ScopeKind

TargetKind = Literal["plan", "evaluation"]


class Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    target_set: str
    indicator: str
    applies_to: str
    period: int
    min_percent: float
    source: str
    kind: TargetKind = "plan"

    @field_validator("kind", mode="before")
    @classmethod
    def _blank_is_plan(cls, value: object) -> object:
        return "plan" if value in ("", None) else value

    def carried_over(self, year: int) -> bool:
        """Whether this target judges ``year`` as a plan target of an earlier year still in
        force (no later document replaced it): shown as "chuyển tiếp từ <period>"."""
        return self.kind == "plan" and self.period < year


# (position in the file, target): the position breaks ties deterministically
_Row = tuple[int, Target]
# a member as far as resolution is concerned: (agency code, group, level)
_MemberKey = tuple[str, str, str]


class TargetBook:
    def __init__(self, targets: Iterable[Target]) -> None:
        self.targets = list(targets)
        self.sets = frozenset(t.target_set for t in self.targets)
        self._by_indicator: dict[str, list[_Row]] = {}
        for order, target in enumerate(self.targets):
            self._by_indicator.setdefault(target.indicator, []).append((order, target))
        self._in_force = lru_cache(maxsize=1024)(self._compute_in_force)
        self._for_agency = lru_cache(maxsize=16384)(self._compute_for_agency)
        self._for_aggregate = lru_cache(maxsize=4096)(self._compute_for_aggregate)

    def resolve(
        self, indicator: str, scope: Scope, year: int, target_set: str | None = None
    ) -> Target | None:
        """The target of ``scope`` for ``indicator`` in ``year`` (module docstring: §6)."""
        if scope.kind is ScopeKind.agency:
            agency = scope.agency
            if agency is None:
                return None
            key = (agency.agency_code, str(agency.group), str(agency.level))
            return self._for_agency(indicator, key, year, target_set)
        members = tuple((a.agency_code, str(a.group), str(a.level)) for a in scope.members)
        return self._for_aggregate(indicator, scope.kind, scope.id, members, year, target_set)

    def _compute_in_force(
        self, indicator: str, year: int, target_set: str | None
    ) -> tuple[_Row, ...]:
        rows = [
            row
            for row in self._by_indicator.get(indicator, [])
            if target_set is None or row[1].target_set == target_set
        ]
        latest_plan: dict[str, int] = {}
        for _, t in rows:
            if t.kind == "plan" and t.period <= year:
                latest_plan[t.applies_to] = max(t.period, latest_plan.get(t.applies_to, t.period))
        return tuple(
            (order, t)
            for order, t in rows
            if (t.kind == "evaluation" and t.period == year)
            or (t.kind == "plan" and t.period == latest_plan.get(t.applies_to))
        )

    def _compute_for_agency(
        self, indicator: str, member: _MemberKey, year: int, target_set: str | None
    ) -> Target | None:
        code, group, level = member
        best: tuple[int, int, bool, int] | None = None
        chosen: Target | None = None
        for order, t in self._in_force(indicator, year, target_set):
            if t.applies_to == code:
                spec = 3
            elif t.applies_to in (f"group:{group}", f"level:{level}"):
                spec = 2
            elif t.applies_to == "all":
                spec = 1
            else:
                continue
            rank = (spec, t.period, t.kind == "evaluation", -order)
            if best is None or rank > best:
                best, chosen = rank, t
        return chosen

    def _compute_for_aggregate(
        self,
        indicator: str,
        kind: str,
        scope_id: str,
        members: tuple[_MemberKey, ...],
        year: int,
        target_set: str | None,
    ) -> Target | None:
        if not members:
            return None  # nothing to judge: no target, no verdict
        names = {scope_id, "all"} if kind == "province" else {scope_id}
        own = [
            row for row in self._in_force(indicator, year, target_set) if row[1].applies_to in names
        ]
        if own:
            return max(own, key=lambda r: (r[1].period, r[1].kind == "evaluation", -r[0]))[1]
        first = self._for_agency(indicator, members[0], year, target_set)
        if first is None:
            return None
        for member in members[1:]:
            other = self._for_agency(indicator, member, year, target_set)
            if other is None or other.min_percent != first.min_percent:
                return None
        return first


@lru_cache(maxsize=1)
def load_targets() -> TargetBook:
    override = os.environ.get("EGOV_TARGETS_CSV")
    if override:
        text = Path(override).read_text(encoding="utf-8")
    else:
        text = resources.files("shared.domain.data").joinpath("targets.csv").read_text("utf-8")
    return TargetBook([Target.model_validate(r) for r in csv.DictReader(io.StringIO(text))])
