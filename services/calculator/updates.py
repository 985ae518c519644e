"""Coalesced indicator updates: at most one message per agency and year per interval.

The figures, value, target and verdict of an update are the read model's
(``shared.readmodel.figures``), the same the API answers for the agency and the year.
"""

from __future__ import annotations

from datetime import date, datetime
from weakref import WeakKeyDictionary

from shared.contract.indicator_update import IndicatorFigures, IndicatorUpdate
from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import agency_scope
from shared.domain.targets import TargetBook, load_targets
from shared.readmodel.figures import agency_figures, judge, read_scopes
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
    if catalogs is None:
        cache = _CATALOGS.get(store)
        if cache is None:
            cache = _CATALOGS[store] = CatalogCache(store.redis)
        catalogs = await cache.current()
    targets = targets if targets is not None else load_targets()
    period = year_period(year)
    inds = list(indicators.values())
    known = catalogs.agencies.get(agency)
    if known is not None:
        scope = agency_scope(known)
        readings = (await read_scopes(store, catalogs, targets, [scope], inds, period))[agency]
    else:  # not in the catalog (cannot be judged against a target)
        per_agency, _ = await agency_figures(store, catalogs, [agency], inds, period)
        readings = {
            i.indicator: judge(i.indicator, agency, per_agency[agency][i.indicator], None)
            for i in inds
        }
    figures = {i.indicator: IndicatorFigures.of(readings[i.indicator]) for i in inds}
    return IndicatorUpdate(
        agency_code=agency, period=str(year), indicators=figures, published_at=now
    )
