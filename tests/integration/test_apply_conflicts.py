"""The check-then-write apply path with more than one writer: a zombie calculator writing
the same agency's dossiers between another's read and write makes that write a conflict,
re-read and recomputed — no event lost, none counted twice; and two batches in flight on
one store, the second applying its events to the states the first is writing (the
overlay), give the same figures without a conflict."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from shared.contract.events import Event
from shared.domain.catalog import load_agencies
from shared.domain.succession import succession_of
from shared.store import keys as redis_keys
from shared.store.indicator_store import IndicatorStore
from simulator.expected import Figures
from tests.conftest import redis_db
from tests.integration.test_lifecycle_parity import dump
from tests.integration.test_lifecycle_rules import (
    AGENCY,
    assert_figures,
    dossier_event,
    receipt,
    redis_figures,
)
from tests.lifecycle_model import expected_figures

pytestmark = pytest.mark.integration


class Turn:
    """A batch's turn (``shared.store.indicator_store.ScriptTurn``) built from two hooks."""

    def __init__(
        self,
        before: Callable[[], Awaitable[None]] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        self.before, self.after = before, after

    async def wait_turn(self) -> None:
        if self.before is not None:
            await self.before()

    def scripts_returned(self) -> None:
        if self.after is not None:
            self.after()


def one_after_the_other() -> tuple[Turn, Turn]:
    """Two batches' turns: the second's scripts are sent once the first's returned (the
    calculator's checkpoint). Call within the running loop."""
    written: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def after_first() -> None:
        await written

    return Turn(after=lambda: written.set_result(None)), Turn(before=after_first)


def shuffled_halves(events: list[Event], seed: int) -> tuple[list[Event], list[Event]]:
    random.Random(seed).shuffle(events)
    half = len(events) // 2
    return events[:half], events[half:]


@pytest.fixture()
def url(redis_server: Any) -> str:
    return redis_db(redis_server, 7)


def lifecycles(n: int, prefix: str, agency: str = AGENCY, year: int = 2025) -> list[Event]:
    """Dossiers received, due changed, resolved, paid: every kind of counter and the open
    set move."""
    out: list[Event] = []
    for k in range(n):
        d = f"hs-{k}"
        out += [
            receipt(
                f"{year}-01-31T16:00:00+07:00",
                dossier=d,
                event_id=f"{prefix}-{d}-r",
                agency=agency,
            ),
            dossier_event(
                "due_changed",
                f"{year}-02-01T08:00:00+07:00",
                dossier=d,
                event_id=f"{prefix}-{d}-c",
                reason="extended",
                due_at=f"{year}-03-01T17:00:00+07:00",
                agency=agency,
            ),
        ]
        if k % 2:
            out.append(
                dossier_event(
                    "resolved",
                    f"{year}-02-03T08:00:00+07:00",
                    dossier=d,
                    event_id=f"{prefix}-{d}-s",
                    due_at=f"{year}-03-01T17:00:00+07:00",
                    outcome="approved",
                    agency=agency,
                )
            )
        out.append(
            dossier_event(
                "payment",
                f"{year}-02-03T09:00:00+07:00",
                dossier=d,
                event_id=f"{prefix}-{d}-p",
                method="online",
                amount_vnd=1000,
                agency=agency,
            )
        )
    return out


async def assert_model(redis: Redis, events: list[Event], agency: str = AGENCY) -> None:
    assert_figures(await redis_figures(redis, agency), expected_figures(events), agency)
    distinct = len({e.event_id for e in events})
    assert int(await redis.hget(redis_keys.stats(agency), "events") or 0) == distinct


def test_a_zombie_writing_between_read_and_write_loses_and_doubles_nothing(url: str) -> None:
    first = lifecycles(30, "a")
    rng = random.Random(3)
    # the zombie holds some of the same events (a batch it had fetched too) and others
    zombie = rng.sample(first, 40) + lifecycles(10, "z")
    rng.shuffle(zombie)

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        live, dead = IndicatorStore(redis, keyspace=""), IndicatorStore(redis, keyspace="")
        zombie_flags: list[bool] = []

        async def zombie_writes() -> None:  # after the live store read and computed
            zombie_flags.extend(await dead.apply_many(zombie))

        flags = await live.apply_many(first, turn=Turn(before=zombie_writes))
        assert all(zombie_flags) and dead.conflicts == 0
        assert live.conflicts >= 1  # its states were not what it read: written again
        # the events the zombie applied first are duplicates for the live store
        shared = {e.event_id for e in zombie}
        assert [f for e, f in zip(first, flags, strict=True)] == [
            e.event_id not in shared for e in first
        ]
        await assert_model(redis, first + zombie)
        # redelivered by both: nothing changes
        assert not any(await live.apply_many(first + zombie))
        await assert_model(redis, first + zombie)
        await redis.aclose()

    asyncio.run(run())


def test_two_batches_in_flight_apply_on_the_overlay(url: str) -> None:
    events = lifecycles(40, "b")
    one, two = shuffled_halves(events, 5)

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store = IndicatorStore(redis, keyspace="")
        # the second batch reads while the first has not written yet
        turn_one, turn_two = one_after_the_other()
        first = asyncio.ensure_future(store.apply_many(one, turn=turn_one))
        second = asyncio.ensure_future(store.apply_many(two, turn=turn_two))
        assert all(await first) and all(await second)
        assert store.conflicts == 0  # the overlay held what the first was writing
        await assert_model(redis, events)
        await redis.aclose()

    asyncio.run(run())


@pytest.mark.parametrize("kept", [0, 5, 100_000])
def test_batches_in_flight_keep_their_states_whatever_the_bound(url: str, kept: int) -> None:
    """Three batches of the same dossiers, each computed before the one before it wrote:
    batch 2 computes while batch 1 writes; batch 3 once batch 1 wrote (the states kept were
    just trimmed to the bound) and while batch 2 writes. However few states are kept (0:
    only those of the batches writing), batch 2's stay until it wrote them: batch 3
    computes on them instead of reading what batch 2 has not written yet; with 0 every
    other state is read, and nothing conflicts."""
    events = lifecycles(30, f"t{kept}")
    rng = random.Random(kept)
    rng.shuffle(events)
    third = len(events) // 3
    batches = [events[:third], events[third : 2 * third], events[2 * third :]]

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store = IndicatorStore(redis, keyspace="", known_states=kept)
        loop = asyncio.get_running_loop()
        written = [loop.create_future() for _ in batches]
        second_computed, third_computed = asyncio.Event(), asyncio.Event()
        tasks: list[asyncio.Future[list[bool]]] = []

        async def first_waits() -> None:
            await second_computed.wait()

        def first_wrote() -> None:
            written[0].set_result(None)
            # the bound applied: batch 2, still writing, keeps all its states
            (writing,) = store._writing
            assert {e.place for call in writing for e in call.entities} <= set(store._overlay)
            tasks.append(asyncio.ensure_future(store.apply_many(batches[2], turn=third_turn)))

        async def second_waits() -> None:
            second_computed.set()
            await written[0]
            await third_computed.wait()

        def second_wrote() -> None:
            written[1].set_result(None)
            if kept == 0:  # batch 3 still writing: its states are all that is kept
                assert set(store._overlay) <= {
                    e.place for c in store._writing for call in c for e in call.entities
                }

        async def third_waits() -> None:
            third_computed.set()
            await written[1]

        third_turn = Turn(third_waits)
        tasks += [
            asyncio.ensure_future(
                store.apply_many(batches[0], turn=Turn(first_waits, first_wrote))
            ),
            asyncio.ensure_future(
                store.apply_many(batches[1], turn=Turn(second_waits, second_wrote))
            ),
        ]
        while len(tasks) < 3 and not any(t.done() for t in tasks):
            await asyncio.sleep(0.001)
        for task in tasks:
            assert all(await task)
        # (5: batch 3 takes a receipt of a dossier batch 1 wrote, forgotten since, for a
        # new one — that guess's conflict, read and recomputed)
        assert store.conflicts == 0 or kept == 5
        if kept == 0:
            assert store.new == 0  # no receipt guessed new: read
            assert store._overlay == {} and store._writing == []
        await assert_model(redis, events)
        await redis.aclose()

    asyncio.run(run())


@pytest.mark.parametrize("places", [True, False])
def test_a_batch_computes_in_the_place_it_took_not_when_it_arrives(url: str, places: bool) -> None:
    """The calculator takes a batch's place as the batch starts; its dead letters and gap
    check may then take longer than the next batch's. Arriving second, it still computes
    first (the next one waits for its states): no conflict. Without places, arrival order
    decides: the next batch computes first, and both writes conflict."""
    events = lifecycles(30, f"o{places}")
    one, two = shuffled_halves(events, 9)

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store = IndicatorStore(redis, keyspace="")
        first, second = (store.take_place(), store.take_place()) if places else (None, None)
        turn_one, turn_two = one_after_the_other()
        later = asyncio.ensure_future(store.apply_many(two, turn=turn_two, place=second))
        await asyncio.sleep(0.05)  # it arrived first
        assert len(store._writing) == (0 if places else 1)  # computed yet or not
        earlier = asyncio.ensure_future(store.apply_many(one, turn=turn_one, place=first))
        assert all(await earlier) and all(await later)
        assert (store.conflicts == 0) is places
        await assert_model(redis, events)
        await redis.aclose()

    asyncio.run(run())


def test_a_stale_overlay_becomes_a_retry_not_a_wrong_figure(url: str) -> None:
    """The first batch's write conflicts (a zombie wrote meanwhile) and is recomputed: the
    second, computed on what the first meant to write, conflicts too and is recomputed."""
    events = lifecycles(20, "c")
    zombie = lifecycles(20, "y")
    one, two = events[::2], events[1::2]

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store, dead = IndicatorStore(redis, keyspace=""), IndicatorStore(redis, keyspace="")
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        computed = asyncio.Event()

        async def zombie_then_write() -> None:
            await computed.wait()  # the second batch computed on the overlay
            await dead.apply_many(zombie)

        async def after_one() -> None:
            computed.set()
            await turn

        def one_done() -> None:
            turn.set_result(None)

        first = asyncio.ensure_future(
            store.apply_many(one, turn=Turn(before=zombie_then_write, after=one_done))
        )
        second = asyncio.ensure_future(store.apply_many(two, turn=Turn(before=after_one)))
        assert all(await first) and all(await second)
        assert store.conflicts >= 2
        await assert_model(redis, events + zombie)
        await redis.aclose()

    asyncio.run(run())


def test_states_written_last_are_applied_to_without_a_read(url: str) -> None:
    """A store applies an entity's next events to the state it wrote (no read: fewer HGET
    calls in Redis), with the same figures as a store that reads every state."""
    events = lifecycles(30, "k")
    first = [e for e in events if e.event_id.endswith("-r")]  # the receipts
    second = [e for e in events if not e.event_id.endswith("-r")]

    async def hgets(redis: Redis) -> int:
        stats = await redis.info("commandstats")
        return int(stats.get("cmdstat_hget", {}).get("calls", 0))

    async def run() -> None:
        redis = Redis.from_url(url)
        calls: dict[int, int] = {}
        for kept in (0, 1000):
            await redis.flushdb()
            store = IndicatorStore(redis, keyspace="", known_states=kept)
            assert all(await store.apply_many(first))
            await redis.config_resetstat()
            assert all(await store.apply_many(second))
            calls[kept] = await hgets(redis)
            assert store.conflicts == 0
            await assert_model(redis, events)
            # every entity of the second batch was in the first (its dossiers' receipts)
            assert store.known == (len({e.entity_id for e in second}) if kept else 0)
            # dossiers received first are not read either (0: every state is read)
            assert store.new == (len(first) if kept else 0)
            assert store.unknown == (0 if kept else len(first) + len({e.entity_id for e in second}))
        # per entity: one HGET to read and one to check; known, only the check
        assert calls[1000] < calls[0]
        await redis.aclose()

    asyncio.run(run())


def test_a_commune_of_2026_takes_the_known_state_path(url: str) -> None:
    """A commune of the merged province (H01.101, since 2025-07-01) in 2026: its dossiers'
    later events are applied to the states the store wrote at their receipt, unread,
    with the figures of the independent model."""
    commune = "H01.101"
    events = lifecycles(25, "x26", agency=commune, year=2026)
    first = [e for e in events if e.event_id.endswith("-r")]
    then = [e for e in events if not e.event_id.endswith("-r")]

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store = IndicatorStore(redis, keyspace="")
        assert all(await store.apply_many(first))
        assert (store.new, store.known, store.unknown) == (len(first), 0, 0)
        assert all(await store.apply_many(then))
        assert store.known == len({e.entity_id for e in then})
        assert store.unknown == 0 and store.conflicts == 0
        await assert_model(redis, events, commune)
        await redis.aclose()

    asyncio.run(run())


def test_a_state_changed_by_another_writer_since_this_store_wrote_it_is_a_retry(
    url: str,
) -> None:
    """The state a store wrote last is a guess: a zombie writing the same dossiers after
    it makes its next write a conflict, read again — no event lost or doubled."""
    events = lifecycles(20, "s")
    zombie = lifecycles(20, "x")  # the same dossiers, other event ids
    first = [e for e in events if e.event_id.endswith("-r")]
    then = [e for e in events if not e.event_id.endswith("-r")]

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store, dead = IndicatorStore(redis, keyspace=""), IndicatorStore(redis, keyspace="")
        assert all(await store.apply_many(first))
        assert all(await dead.apply_many(zombie))
        assert all(await store.apply_many(then))
        assert store.known > 0 and store.conflicts >= 1
        await assert_model(redis, events + zombie)
        assert not any(await store.apply_many(events + zombie))  # redelivered: nothing
        await assert_model(redis, events + zombie)
        await redis.aclose()

    asyncio.run(run())


def test_a_redis_that_lost_its_data_is_written_again_not_trusted(url: str) -> None:
    """Redis lost everything after a batch (no AOF, a restore of an empty copy): the
    states the store wrote are no longer there; the replay of that batch conflicts, is read
    again and applied whole — the figures are those of the events, not of the guesses."""
    events = lifecycles(20, "l")
    half = len(events) // 2

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store = IndicatorStore(redis, keyspace="")
        assert all(await store.apply_many(events[:half]))
        await redis.flushdb()
        assert all(await store.apply_many(events))  # replayed from the start
        assert store.conflicts >= 1
        await assert_model(redis, events)
        await redis.aclose()

    asyncio.run(run())


def test_the_states_kept_are_bounded(url: str) -> None:
    events = lifecycles(40, "m")

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        store = IndicatorStore(redis, keyspace="", known_states=10)
        for k in range(0, len(events), 7):
            assert all(await store.apply_many(events[k : k + 7]))
            assert len(store._overlay) <= 10
        await assert_model(redis, events)
        await redis.aclose()

    asyncio.run(run())


def test_a_receipt_guessed_new_of_a_stored_dossier_is_a_retry_not_a_second_receipt(
    url: str,
) -> None:
    """A store takes a dossier its batch receives first for a new one (no read). A
    restarted calculator redelivered receipts it applied, or a receipt that comes after
    the dossier's other events, meets a stored state: a conflict, read again — the receipt
    is a duplicate, or applied to what is stored, never counted on a blank state."""
    events = lifecycles(20, "g")
    receipts = [e for e in events if e.event_id.endswith("-r")]
    rest = [e for e in events if not e.event_id.endswith("-r")]

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        assert all(await IndicatorStore(redis, keyspace="").apply_many(events))
        restarted = IndicatorStore(redis, keyspace="")
        assert not any(await restarted.apply_many(receipts))  # redelivered
        assert restarted.new == len(receipts) and restarted.conflicts >= 1
        await assert_model(redis, events)
        # out of order: the other events first, the receipts after
        await redis.flushdb()
        late = IndicatorStore(redis, keyspace="")
        assert all(await late.apply_many(rest))
        fresh = IndicatorStore(redis, keyspace="")
        assert all(await fresh.apply_many(receipts))
        assert fresh.conflicts >= 1
        await assert_model(redis, events)
        await redis.aclose()

    asyncio.run(run())


def test_new_states_written_before_a_conflict_in_the_same_call_are_taken_back(
    url: str,
) -> None:
    """The script writes a state read as none at once (HSETNX) and takes it back if a
    later state of its call is not what was read: the call, read again, applies each
    new receipt once — not as a duplicate of the half-written first attempt."""
    stored = lifecycles(5, "o")
    fresh = [
        receipt("2025-01-31T16:00:00+07:00", dossier=f"nw-{k}", event_id=f"nw-{k}-r")
        for k in range(5)
    ]
    redelivered = [e for e in stored if e.event_id.endswith("-r")]

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        assert all(await IndicatorStore(redis, keyspace="").apply_many(stored))
        other = IndicatorStore(redis, keyspace="")
        # one call: the new dossiers first, then receipts of stored ones (guessed new too)
        flags = await other.apply_many(fresh + redelivered)
        assert flags == [True] * len(fresh) + [False] * len(redelivered)
        assert other.conflicts == 1
        await assert_model(redis, stored + fresh)
        await redis.aclose()

    asyncio.run(run())


@pytest.fixture()
def urls(redis_server: Any) -> tuple[str, str]:
    return redis_db(redis_server, 10), redis_db(redis_server, 11)


async def in_flight_and_in_turn(
    urls: tuple[str, str], one: list[Event], two: list[Event], succession: bool = False
) -> tuple[dict[bytes, Any], dict[bytes, Any], IndicatorStore]:
    """Every key Redis holds after two batches applied one after the other (each written,
    shared and claimed before the next starts), and after the same two batches in flight
    on one store: the second arriving first, computing in the place it took after the
    first's, on the states the first is writing (§4b sharing, if any, runs after each
    write). And the in-flight store."""
    seq, live = Redis.from_url(urls[0]), Redis.from_url(urls[1])
    chains = succession_of(load_agencies()) if succession else None
    for redis in (seq, live):
        await redis.flushdb()
    in_turn = IndicatorStore(seq, keyspace="")
    in_flight = IndicatorStore(live, keyspace="")
    if chains is not None:
        in_turn.succession = in_flight.succession = chains
    await in_turn.apply_many(one)
    await in_turn.apply_many(two)
    first, second = in_flight.take_place(), in_flight.take_place()
    turn_one, turn_two = one_after_the_other()
    later = asyncio.ensure_future(in_flight.apply_many(two, turn=turn_two, place=second))
    await asyncio.sleep(0.05)  # it arrived first, and waits for the first's states
    earlier = asyncio.ensure_future(in_flight.apply_many(one, turn=turn_one, place=first))
    await earlier
    await later
    out = await dump(seq), await dump(live)
    await seq.aclose()
    await live.aclose()
    return *out, in_flight


def crossing_the_reorganisations(n: int) -> list[Event]:
    """Dossiers received by so-tnmt in February 2025 (it ends on 2025-02-28): continued by
    so-nnmt-2025 (resolved in March, paid online, or asked for a supplement), then by
    H01.03 (after 2025-07-01: resumed and resolved), or transferred to so-y-te."""
    due, later = "2025-08-01T17:00:00+07:00", "2025-07-20T17:00:00+07:00"
    out: list[Event] = []
    for k in range(n):
        d = f"rg-{k}"

        def ev(kind: str, at: str, agency: str, d: str = d, **fields: Any) -> Event:
            return dossier_event(kind, f"2025-{at}:00+07:00", dossier=d, agency=agency, **fields)

        out.append(
            receipt(f"2025-02-2{k % 5}T09:00:00+07:00", dossier=d, agency="so-tnmt", due_at=due)
        )
        nnmt = "so-nnmt-2025"
        if k % 4 == 0:
            out += [
                ev("resolved", "03-04T15:00", nnmt, due_at=due, outcome="approved"),
                ev("rated", "03-05T15:00", nnmt, satisfaction="satisfied"),
            ]
        elif k % 4 == 1:
            out += [
                ev("due_changed", "04-02T09:00", nnmt, reason="supplement_requested"),
                ev("due_changed", "07-03T09:00", "H01.03", reason="resumed", due_at=later),
                ev("resolved", "07-25T10:00", "H01.03", due_at=later, outcome="approved"),
            ]
        elif k % 4 == 2:
            out.append(ev("payment", "03-10T09:00", nnmt, method="online", amount_vnd=1000))
        else:
            out += [
                ev("transferred", "02-26T10:00", "so-tnmt", to_agency_code="so-y-te"),
                ev("resolved", "03-01T10:00", "so-y-te", due_at=due, outcome="approved"),
            ]
    return out


@pytest.mark.parametrize("seed", [3, 11])
def test_batches_in_flight_across_a_reorganisation_end_as_batches_in_turn(
    urls: tuple[str, str], seed: int
) -> None:
    """A dossier whose records the reorganisations link (so-tnmt → so-nnmt-2025 → H01.03,
    and a transfer), its events split between two batches in flight: the second computes
    on states the first is still writing and sharing. Redis ends key for key as after the
    same batches one after the other — and as the simulator's oracle counts them."""
    events = crossing_the_reorganisations(24)
    one, two = shuffled_halves(list(events), seed)

    async def run() -> None:
        in_turn, in_flight, store = await in_flight_and_in_turn(urls, one, two, succession=True)
        assert store.known > 0  # the second batch applied events to the first's states
        assert in_flight == in_turn
        oracle = Figures(succession_of(load_agencies())).add_all(
            [e.model_dump(mode="json") for e in events]
        )
        for code in ("so-tnmt", "so-nnmt-2025", "H01.03", "so-y-te"):
            for period in ("2025-02", "2025-03", "2025-07"):
                for mark in ("received", "resolved", "resolved_on_time", "payment_online"):
                    key = redis_keys.counters_prefix(code) + "M" + period.replace("-", "")
                    stored = in_flight.get(key.encode(), {}).get(mark.encode(), b"0")
                    assert int(stored) == oracle.marks(code, period)[mark], (code, period, mark)

    asyncio.run(run())


def with_supplements(n: int) -> list[Event]:
    """Dossiers asked for a supplement (the clock stops, no due), resumed with a new due,
    some resolved after it, some redated with an apology first."""
    out: list[Event] = []
    for k in range(n):
        d = f"sp-{k}"

        def ev(kind: str, at: str, tag: str, d: str = d, **fields: Any) -> Event:
            return dossier_event(
                kind, f"2025-06-{at}:00+07:00", dossier=d, event_id=f"sp-{d}-{tag}", **fields
            )

        out += [
            receipt(
                "2025-06-02T08:00:00+07:00",
                dossier=d,
                event_id=f"sp-{d}-r",
                due_at="2025-06-09T17:00:00+07:00",
            ),
            ev("due_changed", "05T08:00", "s", reason="supplement_requested"),
            ev(
                "due_changed", "12T08:00", "u", reason="resumed", due_at="2025-06-16T17:00:00+07:00"
            ),
        ]
        if k % 3 == 0:
            out.append(
                ev(
                    "due_changed",
                    "15T08:00",
                    "a",
                    reason="apology_redated",
                    due_at="2025-06-25T17:00:00+07:00",
                )
            )
        if k % 2 == 0:
            out.append(
                ev(
                    "resolved",
                    f"{14 + k % 6}T10:00",
                    "x",
                    due_at="2025-06-16T17:00:00+07:00",
                    outcome="approved",
                )
            )
    return out


@pytest.mark.parametrize("seed", [5, 8])
def test_supplement_requests_split_between_batches_in_flight(
    urls: tuple[str, str], seed: int
) -> None:
    """A supplement request stops a dossier's clock until it is resumed; with the request,
    the resumption and the resolution split between two batches in flight (any order),
    Redis ends key for key as after the batches in turn, and as the reference model."""
    events = with_supplements(30)
    one, two = shuffled_halves(list(events), seed)

    async def run() -> None:
        in_turn, in_flight, store = await in_flight_and_in_turn(urls, one, two)
        assert store.known > 0
        assert in_flight == in_turn
        redis = Redis.from_url(urls[1])
        await assert_model(redis, events)
        await redis.aclose()

    asyncio.run(run())


def test_the_largest_calls_apply_as_the_model(url: str) -> None:
    """One agency's 600 dossiers in one batch: calls of ``MAX_SCRIPT_BATCH`` (1,000) events,
    each writing its open set with one ZADD and one ZREM of hundreds of members and its
    counter hashes with one HMGET and HSET each (Lua's unpack has a limit: 8,000 values).
    Then every dossier again, resolved: the open set emptied in as few commands. The
    figures are the model's, and Redis ran one ZADD per call, not one per dossier."""
    events = lifecycles(600, "big")
    opening = ("received", "due_changed")
    opened: list[Event] = [e for e in events if e.event_type in opening]
    closed: list[Event] = [e for e in events if e.event_type not in opening]

    async def run() -> None:
        redis = Redis.from_url(url)
        await redis.flushdb()
        await redis.config_resetstat()
        store = IndicatorStore(redis, keyspace="")
        assert all(await store.apply_many(opened))
        await assert_model(redis, opened)
        assert await redis.zcard(redis_keys.open_dossiers(AGENCY)) == 600
        assert all(await store.apply_many(closed))
        await assert_model(redis, events)
        assert await redis.zcard(redis_keys.open_dossiers(AGENCY)) == 300
        stats = await redis.info("commandstats")
        calls = -(-len(opened) // 1000) + -(-len(closed) // 1000)
        # per call: the open set, and at most the 766 open sets of two months
        assert stats["cmdstat_zadd"]["calls"] <= 3 * calls
        await redis.aclose()

    asyncio.run(run())
