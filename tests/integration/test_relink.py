"""A successor named after the dossiers were counted (``shared/store/relink.py``): the
records a reorganisation joins are linked when the catalog changes, as the batch path
would have linked them had the catalog said so when their events came."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from shared.contract.events import Event
from shared.domain.catalog import AgencyCatalog, load_agencies
from shared.domain.succession import succession_of
from shared.store.relink import changed_units, relink, reshare_moved
from tests.conftest import redis_db
from tests.integration.test_lifecycle_rules import (
    AGENCY,
    dossier_event,
    fresh_store,
    receipt,
    redis_figures,
)
from tests.lifecycle_model import expected_figures

OLD, NEW = "so-tnmt", "so-nnmt-2025"  # so-tnmt ends 2025-02-28, continued from 03-01
DUE = "2025-03-10T17:00:00+07:00"


@pytest.fixture
def url(redis_server) -> str:
    return redis_db(redis_server, 7)


def without_successor(catalog: AgencyCatalog, code: str) -> AgencyCatalog:
    """``catalog`` as it was before ``code``'s successor was known."""
    agencies = list(catalog.agencies.values())
    return AgencyCatalog(
        [
            a.model_copy(update={"successor_code": None}) if a.agency_code == code else a
            for a in agencies
        ]
    )


def events() -> list[Event]:
    return [
        receipt("2025-02-20T09:00:00+07:00", dossier="r1", agency=OLD, due_at=DUE),
        dossier_event(
            "resolved",
            "2025-03-04T10:00:00+07:00",
            dossier="r1",
            agency=NEW,
            due_at=DUE,
            outcome="approved",
        ),
        receipt("2025-02-21T09:00:00+07:00", dossier="r2", agency=OLD, due_at=DUE),
        dossier_event(
            "payment",
            "2025-03-05T10:00:00+07:00",
            dossier="r2",
            agency=NEW,
            method="online",
            amount_vnd=10_000,
        ),
    ]


def test_the_units_whose_predecessors_changed() -> None:
    now = load_agencies()
    before = without_successor(now, OLD)
    assert changed_units(before, now) == ["H01.03", NEW]  # so-nnmt-2025 and its successor
    assert changed_units(now, now) == []


def test_a_successor_named_later_links_the_dossiers_already_counted(url: str) -> None:
    now = load_agencies()
    before = without_successor(now, OLD)
    at = datetime(2025, 3, 20, tzinfo=UTC)

    async def go() -> None:
        # what the calculator did with the catalog of then: nothing linked
        redis, store = await fresh_store(url)
        store.succession = succession_of(before)
        await store.apply_many(events())
        assert (await store.open_counts([OLD], at))[OLD][0] == 2  # both still open at so-tnmt
        unlinked = await redis_figures(redis, NEW)
        # the catalog names the successor: the pass links them
        report = await relink(store, now, changed_units(before, now))
        assert report.records >= 2 and report.written > 0
        assert (await store.open_counts([OLD], at))[OLD][0] == 0
        linked = [await redis_figures(redis, code) for code in (OLD, NEW)]
        assert linked[1] != unlinked
        again = await relink(store, now, changed_units(before, now))
        assert again.written == 0  # idempotent
        # the same as if the catalog had said so all along
        fresh, control = await fresh_store(url.rsplit("/", 1)[0] + "/8")
        control.succession = succession_of(now)
        await control.apply_many(events())
        assert [await redis_figures(fresh, code) for code in (OLD, NEW)] == linked
        await redis.aclose()
        await fresh.aclose()

    asyncio.run(go())


def test_a_sharing_write_lost_with_redis_is_repaired(url: str, monkeypatch) -> None:
    """A Redis that went back (a failover to a replica behind, an AOF cut) can lose the
    sharing writes of a moved dossier while keeping the batch's own writes and claims: no
    gap check replays it. ``reshare_moved`` (``egov relink``) brings every moved dossier's
    records to their join again; a second pass writes nothing."""
    b = "so-y-te"
    first = [receipt("2024-03-01T09:00:00+07:00", dossier="s1", due_at="2024-03-20T17:00:00+07:00")]
    second = [
        dossier_event("transferred", "2024-03-05T10:00:00+07:00", dossier="s1", to_agency_code=b),
        dossier_event(  # sent under the agency that received it: it may name either
            "resolved",
            "2024-03-12T15:00:00+07:00",
            dossier="s1",
            agency=AGENCY,
            due_at="2024-03-20T17:00:00+07:00",
            outcome="approved",
        ),
    ]
    model = expected_figures(first + second)

    async def nothing(*args: object, **kwargs: object) -> None:
        return None

    async def go() -> None:
        redis, store = await fresh_store(url)
        await store.apply_many(first)
        monkeypatch.setattr("shared.store.indicator_store.follow", nothing)  # lost
        await store.apply_many(second)
        monkeypatch.undo()

        async def figures() -> list[tuple[dict[str, int], dict[str, float]]]:
            out = []
            for code in (AGENCY, b):
                got = await redis_figures(redis, code)
                out.append((got["counters"], got["open"]))
            return out

        expected = [(model.by_period(code), model.open[code]) for code in (AGENCY, b)]
        assert await figures() != expected
        report = await reshare_moved(store)
        assert report.written > 0 and report.records >= 1
        assert await figures() == expected
        assert (await reshare_moved(store)).written == 0
        await redis.aclose()

    asyncio.run(go())
