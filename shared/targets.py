"""Targets (domain README §6) read from ``shared/data/targets.csv``.

A target applies to ``all`` agencies, ``group:<g>``, ``level:<l>`` or one agency code,
for a year, and stays in force in later years until a later row for the same
indicator and scope replaces it. A named target set restricts the rows considered.
"""

from __future__ import annotations

import csv
import io
import os
from functools import lru_cache
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from shared.scopes import Scope


class Target(BaseModel):
    model_config = ConfigDict(frozen=True)

    target_set: str
    indicator: str
    applies_to: str
    period: int
    min_percent: float
    source: str


class TargetBook:
    def __init__(self, targets: list[Target]) -> None:
        self.targets = targets
        self.sets = frozenset(t.target_set for t in targets)

    def _applies(self, target: Target, scope: Scope) -> int | None:
        """Specificity of the match (higher wins), or None when it does not apply."""
        applies = target.applies_to
        if scope.kind == "agency":
            agency = scope.members[0]
            if applies == agency.agency_code:
                return 3
            if applies in (f"group:{agency.group}", f"level:{agency.level}"):
                return 2
            return 1 if applies == "all" else None
        if applies == scope.id:
            return 2
        return 1 if applies == "all" else None

    def resolve(
        self, indicator: str, scope: Scope, year: int, target_set: str | None = None
    ) -> Target | None:
        """The target in force for ``year``: the latest year ≤ ``year``, most specific."""
        best: tuple[int, int, Target] | None = None
        for target in self.targets:
            if target.indicator != indicator or target.period > year:
                continue
            if target_set is not None and target.target_set != target_set:
                continue
            spec = self._applies(target, scope)
            if spec is None:
                continue
            rank = (target.period, spec)
            if best is None or rank > best[:2]:
                best = (rank[0], rank[1], target)
        return best[2] if best else None


@lru_cache(maxsize=1)
def load_targets() -> TargetBook:
    override = os.environ.get("EGOV_TARGETS_CSV")
    if override:
        text = Path(override).read_text(encoding="utf-8")
    else:
        text = resources.files("shared.data").joinpath("targets.csv").read_text("utf-8")
    return TargetBook([Target.model_validate(r) for r in csv.DictReader(io.StringIO(text))])
