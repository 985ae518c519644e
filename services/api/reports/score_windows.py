"""Decision 766 scores of a running period, kept for as long as their inputs hold.

A running period is judged at the current second: its response names that instant
(``evaluated_at``), so the response cache keys it per second. What the score reads of the
instant changes far less often: an open dossier or petition turns overdue at its due time,
a publication counts from its date, the catalog in force changes at local midnight. The
read (``shared.store.index766_reads``) answers the last second its inputs hold for
(``Raw766.holds_until_s``); the scores computed are kept here under the data versions of
their units (read before the figures, as the response cache does) and reused for every
instant from the one read at to that second on the same local day — exactly what a fresh
read would give. A write raises a version, so its scores are computed afresh and replace
the previous ones: one window per scope and period, never one per version seen (under
steady writes that kept ~10⁵ score objects alive for the collector to walk: 76 ms gen-2
pauses, the 766 ranking's p99).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache

from shared.readmodel.index766_inputs import Evaluation

T = TypeVar("T")


@dataclass(frozen=True)
class Window(Generic[T]):
    value: T
    versions: tuple[int, ...]  # the data versions of the units, read before the figures
    from_s: int  # the instant read at
    until_s: int | None  # the last instant the inputs hold for (None: no change follows)
    day: object  # the local day of the catalog in force (Evaluation.day)

    def holds_at(self, versions: tuple[int, ...], ev: Evaluation) -> bool:
        return (
            versions == self.versions
            and ev.day == self.day
            and self.from_s <= ev.instant_s
            and (self.until_s is None or ev.instant_s <= self.until_s)
        )


class ScoreWindows(Generic[T]):
    """Scores under what they are of (scope or group, period, table and catalog versions),
    with the data versions of their units and the instants they hold for."""

    def __init__(self, maxsize: int = 1024) -> None:
        self._entries: LRUCache[Hashable, Window[T]] = LRUCache(maxsize=maxsize)

    def get(self, key: Hashable, versions: tuple[int, ...], ev: Evaluation) -> T | None:
        found = self._entries.get(key)
        return found.value if found is not None and found.holds_at(versions, ev) else None

    def put(
        self,
        key: Hashable,
        versions: tuple[int, ...],
        ev: Evaluation,
        until_s: int | None,
        value: T,
    ) -> None:
        held = self._entries.get(key)
        if held is not None and _newer(held.versions, versions):
            return  # a computation that read later versions finished first: keep it
        self._entries[key] = Window(value, versions, ev.instant_s, until_s, ev.day)

    def __len__(self) -> int:
        return len(self._entries)


def _newer(held: tuple[int, ...], read: tuple[int, ...]) -> bool:
    """Whether ``held`` was read after ``read`` (versions only rise; same units)."""
    if len(held) != len(read) or held == read:
        return False
    return all(h >= r for h, r in zip(held, read, strict=True))
