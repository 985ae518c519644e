"""Coalesced indicator updates: at most one message per agency and year per interval.

The figures, value, target and verdict of an update are the read model's
(``shared.readmodel.figures``), the same the API answers for the agency and the year.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from weakref import WeakKeyDictionary

from shared.contract.indicator_update import IndicatorFigures, IndicatorUpdate
from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import agency_scope
from shared.domain.targets import TargetBook, load_targets
from shared.readmodel.figures import Reading, agency_figures, judge, read_scopes
from shared.store.catalogs import CatalogCache, Catalogs
from shared.store.indicator_store import IndicatorStore


class Coalescer:
    def __init__(self) -> None:
        self._pending: set[tuple[str, int]] = set()

    def touch(self, agency: str, year: int) -> None:
        self._pending.add((agency, year))

    def drain(self) -> list[tuple[str, int]]:
        pending, self._pending = sorted(self._pending), set()
        return pending


# One catalog cache per store (the calculator keeps one store), when none is passed in.
_CATALOGS: WeakKeyDictionary[IndicatorStore, CatalogCache] = WeakKeyDictionary()


def year_period(year: int) -> Period:
    """The period of an update: the whole year (its events so far)."""
    return Period(PeriodKind.year, date(year, 1, 1), date(year, 12, 31), str(year))


async def build_update(
    store: IndicatorStore,
    indicators: dict[str, Indicator],
    agency: str,
    year: int,
    now: datetime,
    *,
    catalogs: Catalogs | None = None,
    targets: TargetBook | None = None,
) -> IndicatorUpdate:
    """An agency's figures for ``year`` from the read model, with target and verdict."""
    updates = await build_updates(
        store, indicators, [(agency, year)], now, catalogs=catalogs, targets=targets
    )
    return updates[0]


async def build_updates(
    store: IndicatorStore,
    indicators: dict[str, Indicator],
    touched: Sequence[tuple[str, int]],
    now: datetime,
    *,
    catalogs: Catalogs | None = None,
    targets: TargetBook | None = None,
) -> list[IndicatorUpdate]:
    """:func:`build_update` of each (agency, year) of ``touched``, in that order: each
    year's agencies read together (one read of the figures of all, as for a ranking), not
    one agency after the other — the calculator publishes every second, and under load
    every agency changes each second."""
    if catalogs is None:
        cache = _CATALOGS.get(store)
        if cache is None:
            cache = _CATALOGS[store] = CatalogCache(store.redis)
        catalogs = await cache.current()
    targets = targets if targets is not None else load_targets()
    inds = list(indicators.values())
    years: dict[int, list[str]] = {}
    for agency, year in touched:
        years.setdefault(year, []).append(agency)
    readings: dict[tuple[str, int], dict[str, Reading]] = {}
    for year, agencies in years.items():
        period = year_period(year)
        scopes = [
            agency_scope(a) for code in agencies if (a := catalogs.agencies.get(code)) is not None
        ]
        if scopes:
            known = await read_scopes(store, catalogs, targets, scopes, inds, period)
            readings |= {(code, year): known[code] for code in known}
        # not in the catalog (cannot be judged against a target)
        unknown = [code for code in agencies if catalogs.agencies.get(code) is None]
        if unknown:
            per_agency, _ = await agency_figures(store, catalogs, unknown, inds, period)
            for code in unknown:
                readings[(code, year)] = {
                    i.indicator: judge(i.indicator, code, per_agency[code][i.indicator], None)
                    for i in inds
                }
    return [
        IndicatorUpdate(
            agency_code=agency,
            period=str(year),
            indicators={
                i.indicator: IndicatorFigures.of(readings[(agency, year)][i.indicator])
                for i in inds
            },
            published_at=now,
        )
        for agency, year in touched
    ]
