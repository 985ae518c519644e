"""The compact entity state of ``shared/store/lua/apply_batch.lua``: every way it writes an
event id (tie-breaker) or a procedure code reads back exactly — equal-time ties decided
by event id give the reference model's figures in any order — and a dossier costs a
fraction of what a key per dossier did."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime
from typing import Any

import pytest

from shared.contract.events import Event
from shared.domain.counting import entity_key
from shared.store import keys as redis_keys
from tests.conftest import redis_db
from tests.integration.test_lifecycle_rules import fresh_store, parse, redis_figures
from tests.lifecycle_model import expected_figures

pytestmark = pytest.mark.integration

AGENCY = "ubnd-cho-moi"
T1 = "2025-01-31T16:00:00+07:00"
T2 = "2025-02-01T08:00:00+07:00"
LATE_DUE = "2025-03-01T17:00:00+07:00"
EARLY_DUE = "2025-01-01T00:00:01+07:00"


@pytest.fixture()
def url(redis_server) -> str:
    return redis_db(redis_server, 10)


def event(kind: str, event_id: str, dossier: str, at: str, **fields: Any) -> Event:
    return parse(
        {
            "event_id": event_id,
            "event_type": kind,
            "occurred_at": at,
            "agency_code": AGENCY,
            "dossier_id": dossier,
            "procedure_code": fields.pop("procedure", "p-1"),
            **fields,
        }
    )


def receipt(event_id: str, dossier: str, at: str, procedure: str, due: str) -> Event:
    return event(
        "received",
        event_id,
        dossier,
        at,
        procedure=procedure,
        service_level="full_online",
        channel="online",
        submitted_by="citizen",
        due_at=due,
        via_one_stop=False,
        digitized=True,
    )


def lifecycle(dossier: str, ids: list[str], procedures: list[str]) -> list[Event]:
    """Every decided mark tied at one instant between two events whose outcomes differ,
    so only the event-id order (read back from the state) decides: resolved on time or
    late, returned electronic or not, rated satisfied or not, and the due time in force
    from a receipt or a due change; plus an earlier receipt arriving in any order (the
    procedures move to its day) and, for one dossier, an intake rejection."""
    a, b, c, d, e, f, g, h, i, j = ids
    return [
        receipt(a, dossier, T2, procedures[0], LATE_DUE),
        event("due_changed", b, dossier, T2, reason="extended", due_at=EARLY_DUE),
        receipt(c, dossier, T1, procedures[1], LATE_DUE),
        event("resolved", d, dossier, T2, due_at=LATE_DUE, outcome="approved"),
        event("resolved", e, dossier, T2, due_at=EARLY_DUE, outcome="approved"),
        event("returned", f, dossier, T2, result_electronic=True),
        event("returned", g, dossier, T2, result_electronic=False),
        event("rated", h, dossier, T2, satisfaction="satisfied"),
        event("rated", i, dossier, T2, satisfaction="unsatisfied"),
        event("payment", j, dossier, T2, method="online", amount_vnd=1000),
    ]


def dossiers() -> list[Event]:
    """Three dossiers whose event ids and procedure codes take every form the state
    writes: around the dossier id / agency code (text before it repeated or not, none,
    over 121 bytes), without it, over 127 and over 249 bytes, multi-byte UTF-8. The due
    change is the latest by id for dossiers 1 and 3, the receipt for dossier 2."""
    events: list[Event] = []
    d = "hs-2025-000001"
    events += lifecycle(
        d,
        [f"sim-{d}-{s}" for s in ("r2", "x1", "r1", "s2", "s1", "t1", "t2", "q2", "q1", "p1")],
        [f"{AGENCY}-full_online-007", f"{AGENCY}-partial_online-019"],
    )
    d = "hs-2025-000002"
    events += lifecycle(
        d,
        [
            "đ-r2",
            "ĉ" * 70 + "c",
            "đ-r1",
            "ý" * 127 + "s",
            "ý" * 127 + "r",
            "b",
            "a",
            "z",
            "zz",
            "p",
        ],
        ["1.004227." + "ư" * 100, "mã-" + AGENCY],
    )
    d = "hs-2025-000003"
    deep = "ê" * 62 + d  # 124 bytes before the dossier id
    events += lifecycle(
        d,
        [
            deep + "-2",
            "ỹ-" + d,
            deep + "-1",
            d,
            d + "-0",
            f"pre-{d}",
            f"pre-{d}-",
            d + d,
            d + "-q",
            "p-" + d,
        ],
        ["ê" * 62 + AGENCY, AGENCY + AGENCY],
    )
    events.append(event("intake_rejected", "rej-" + d, d, T2, reason="Hồ sơ không hợp lệ"))
    return events


def test_ties_and_codes_read_back_exactly_in_any_order(url: str) -> None:
    events = dossiers()
    assert len({e.event_id for e in events}) == len(events)
    model = expected_figures(events)
    assert model.open[AGENCY] == {}  # all three resolved or rejected
    open_events = [e for e in events if e.event_type not in ("resolved", "intake_rejected")]
    open_model = expected_figures(open_events)
    early, late = (datetime.fromisoformat(t).timestamp() for t in (EARLY_DUE, LATE_DUE))
    assert open_model.open[AGENCY] == {
        "hs-2025-000001": early,
        "hs-2025-000002": late,
        "hs-2025-000003": early,
    }
    rng = random.Random(12)
    orders = [events, events[::-1]]
    for _ in range(4):
        order = events + rng.sample(events, 8)  # with redeliveries
        rng.shuffle(order)
        orders.append(order)

    async def run() -> None:
        for n, order in enumerate(orders):
            for evs, want in ((order, model), (open_subset(order), open_model)):
                redis, store = await fresh_store(url)
                batch = 1 + n % 4
                for i in range(0, len(evs), batch):
                    await store.apply_many(evs[i : i + batch])
                got = await redis_figures(redis, AGENCY)
                assert got["counters"] == want.by_period(AGENCY)
                assert got["proc"] == {k: v for k, v in want.proc_online[AGENCY].items() if v}
                assert got["paid"] == want.paid_online[AGENCY]
                assert got["open"] == want.open[AGENCY]
                await redis.aclose()

    asyncio.run(run())


def open_subset(order: list[Event]) -> list[Event]:
    return [e for e in order if e.event_type not in ("resolved", "intake_rejected")]


def test_a_dossier_costs_half_of_a_key_of_its_own(url: str) -> None:
    """2,000 dossiers shaped like the simulated year's (received, resolved, returned, rated,
    paid; event ids around the dossier id): a state of 118 bytes (116 in layout 3; v1.2
    adds a 2-byte extension, the procedure being its first online one), every bucket a listpack,
    ~195 bytes of Redis memory per dossier with the bucket keys at only ~2 dossiers a
    bucket (a key per dossier took ~395, the same events under MessagePack states)."""
    events: list[Event] = []
    for n in range(2_000):
        d = f"{AGENCY}-2024-{n:06d}"
        ids = [f"sim24-{d}-{s}" for s in ("r1", "resolved", "returned", "rated", "p1")]
        events += [
            receipt(ids[0], d, T1, f"{AGENCY}-full_online-{n % 40:03d}", LATE_DUE),
            event("resolved", ids[1], d, T2, due_at=LATE_DUE, outcome="approved"),
            event("returned", ids[2], d, T2, result_electronic=True),
            event("rated", ids[3], d, T2, satisfaction="satisfied"),
            event("payment", ids[4], d, T2, method="online", amount_vnd=1000),
        ]

    async def run() -> None:
        redis, store = await fresh_store(url)
        for i in range(0, len(events), 500):
            assert all(await store.apply_many(events[i : i + 500]))
        keys = {redis_keys.entity(AGENCY, entity_key(e)) for e in events}
        assert len(keys) > redis_keys.ENTITY_BUCKETS["d"] * 0.8
        encodings = {await redis.object("encoding", k) for k in keys}
        assert encodings == {b"listpack"}
        used = sum([await redis.memory_usage(k, samples=0) or 0 for k in keys])
        assert used / 2_000 < 210, used / 2_000
        one = await redis.hget(
            redis_keys.entity(AGENCY, f"d:{AGENCY}-2024-000007"), f"{AGENCY}-2024-000007"
        )
        assert one is not None and len(one) == 118, one
        await redis.aclose()

    asyncio.run(run())
