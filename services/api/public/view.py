"""How a person looks at the public page's units: one group or both, a search by name or
code, one of four orders. Query parameters ``group``, ``q`` and ``sort`` of
``/public/ket-qua``, so every view is a link and works without JavaScript; the page's
script (``static/units.js``) does the same in place, from the same server-made orders.

Unknown values fall back to the default (both groups, by value): a view is never an error.
A search is folded (``shared.readmodel.display.fold``: no case, no tone marks, đ as d) and
at most :data:`MAX_QUERY` characters.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.api.public.results import SORTS, GroupSection, Shown
from shared.domain.catalog import AgencyGroup
from shared.readmodel.display import fold

MAX_QUERY = 60
GROUPS = tuple(g.value for g in AgencyGroup)
DEFAULT_SORT = next(iter(SORTS))


@dataclass(frozen=True)
class PageView:
    group: str = ""  # "" both groups, else an AgencyGroup value
    sort: str = DEFAULT_SORT
    q: str = ""  # as typed (trimmed), shown back in the search box

    @classmethod
    def parse(cls, group: str | None, sort: str | None, q: str | None) -> PageView:
        return cls(
            group if group in GROUPS else "",
            sort if sort in SORTS else DEFAULT_SORT,
            " ".join((q or "").split())[:MAX_QUERY],
        )

    @property
    def folded(self) -> str:
        return fold(self.q)

    @property
    def is_default(self) -> bool:
        return self == PageView()

    def shows_group(self, group: str) -> bool:
        return not self.group or self.group == group

    def matches(self, row: Shown) -> bool:
        return not self.folded or self.folded in row.search

    def matched(self, group: GroupSection) -> int:
        """How many of the group's units the search matches."""
        return sum(self.matches(row) for row in group.agencies)

    def shown(self, groups: list[GroupSection]) -> int:
        """How many units the view shows (its group, or both, matching the search)."""
        return sum(self.matched(g) for g in groups if self.shows_group(g.group))

    def params(self, **changes: str) -> dict[str, str]:
        """The view's query parameters that differ from the default (with ``changes``)."""
        values = {"group": self.group, "sort": self.sort, "q": self.q, **changes}
        defaults = {"group": "", "sort": DEFAULT_SORT, "q": ""}
        return {k: v for k, v in values.items() if v != defaults[k]}
