"""Dossier lifecycles (§4a, contract v1.1) applied by the Redis script: hand-computed
figures for each rule, and the property that any order, duplication and batching of a
random lifecycle set gives exactly the reference model's figures."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.domain.succession import succession_of
from shared.store import keys as redis_keys
from shared.store.indicator_store import IndicatorStore
from simulator.expected import Figures
from tests.conftest import redis_db
from tests.factories import received
from tests.lifecycle_model import expected_figures

pytestmark = pytest.mark.integration

AGENCIES = load_agencies().codes
NOW = datetime(2026, 11, 25, tzinfo=UTC)
AGENCY = "so-tttt"
_ids = itertools.count(1)


def parse(raw: dict[str, Any]) -> Event:
    event = validate_event(raw, agencies=AGENCIES, now=NOW)
    assert not isinstance(event, list), event
    return event


def dossier_event(event_type: str, at: str, dossier: str = "d1", **fields: Any) -> Event:
    return parse(
        {
            "event_id": fields.pop("event_id", f"lc-{next(_ids)}"),
            "event_type": event_type,
            "occurred_at": at,
            "agency_code": fields.pop("agency", AGENCY),
            "dossier_id": dossier,
            "procedure_code": fields.pop("procedure", "p-1"),
            **fields,
        }
    )


def receipt(at: str, dossier: str = "d1", **kw: Any) -> Event:
    due = kw.pop("due_at", "2030-01-01T00:00:00+07:00")
    return parse(received(dossier=dossier, at=at, due_at=due, **kw))


async def fresh_store(url: str) -> tuple[Redis, IndicatorStore]:
    redis = Redis.from_url(url)
    await redis.flushdb()
    return redis, IndicatorStore(redis)


async def marks_in(
    store: IndicatorStore, start: date, end: date, *marks: str, agency: str = AGENCY
) -> dict[str, int]:
    return (await store.sum_marks([agency], start, end, list(marks)))[agency]


def in_every_order(events: Sequence[Event]) -> list[list[Event]]:
    return [list(p) for p in itertools.permutations(events)]


@pytest.fixture()
def url(redis_server) -> str:
    return redis_db(redis_server, 13)


def test_cohort_across_the_year_boundary_at_local_midnight(url: str) -> None:
    """In person at 23:59:59 on 31 Dec, again online (full online) at 00:00:00 on 1 Jan:
    one dossier of 2024, both categories in 2024, 2025 untouched, in any order."""
    evs = [
        receipt("2024-12-31T23:59:59+07:00", level="full_online", channel="in_person"),
        receipt("2025-01-01T00:00:00+07:00", level="full_online", channel="online"),
    ]

    async def run() -> None:
        for order in in_every_order(evs):
            redis, store = await fresh_store(url)
            await store.apply_many(order)
            marks = ("received", "received_full_online_online", "cat_full_online_in_person")
            y24 = await marks_in(store, date(2024, 1, 1), date(2024, 12, 31), *marks)
            y25 = await marks_in(store, date(2025, 1, 1), date(2025, 12, 31), *marks)
            dec31 = await marks_in(store, date(2024, 12, 31), date(2024, 12, 31), *marks)
            assert y24 == {
                "received": 1,
                "received_full_online_online": 1,
                "cat_full_online_in_person": 1,
            }
            assert dec31 == y24
            assert y25 == dict.fromkeys(marks, 0)  # January: 0/0, not 1/1
            await redis.aclose()

    asyncio.run(run())


def test_late_first_resolution_then_on_time_correction(url: str) -> None:
    """Resolved late in March, a correction on time in April: March 1 resolved 0 on time,
    April nothing (never 1/0), whichever arrives first."""
    evs = [
        receipt("2025-02-10T09:00:00+07:00"),
        dossier_event(
            "resolved",
            "2025-03-20T09:00:00+07:00",
            due_at="2025-03-15T17:00:00+07:00",
            outcome="approved",
        ),
        dossier_event(
            "resolved",
            "2025-04-02T09:00:00+07:00",
            due_at="2025-04-30T17:00:00+07:00",
            outcome="approved",
        ),
    ]

    async def run() -> None:
        for order in in_every_order(evs):
            redis, store = await fresh_store(url)
            await store.apply_many(order)
            march = await marks_in(
                store, date(2025, 3, 1), date(2025, 3, 31), "resolved", "resolved_on_time"
            )
            april = await marks_in(
                store, date(2025, 4, 1), date(2025, 4, 30), "resolved", "resolved_on_time"
            )
            assert march == {"resolved": 1, "resolved_on_time": 0}
            assert april == {"resolved": 0, "resolved_on_time": 0}
            assert (await store.open_counts([AGENCY], NOW))[AGENCY] == (0, 0, 0)
            await redis.aclose()

    asyncio.run(run())


def test_three_payments_of_one_dossier_are_three_transactions(url: str) -> None:
    evs = [
        receipt("2025-05-02T09:00:00+07:00"),
        dossier_event("payment", "2025-05-02T09:30:00+07:00", method="online", amount_vnd=50_000),
        dossier_event("payment", "2025-05-03T10:00:00+07:00", method="offline", amount_vnd=20_000),
        dossier_event("payment", "2025-06-01T10:00:00+07:00", method="online", amount_vnd=0),
    ]

    async def run() -> None:
        redis, store = await fresh_store(url)
        await store.apply_many(evs[::-1])
        await store.apply_many(evs)  # redelivered: nothing changes
        may = await marks_in(
            store, date(2025, 5, 1), date(2025, 5, 31), "payment", "payment_online"
        )
        june = await marks_in(
            store, date(2025, 6, 1), date(2025, 6, 30), "payment", "payment_online"
        )
        year = await marks_in(
            store, date(2025, 1, 1), date(2025, 12, 31), "payment", "payment_online"
        )
        assert may == {"payment": 2, "payment_online": 1}
        assert june == {"payment": 1, "payment_online": 1}
        assert year == {"payment": 3, "payment_online": 2}  # 66.67 %, not 1/1 per dossier
        paid = await store.set_union(
            [AGENCY], date(2025, 5, 1), date(2025, 5, 31), "proc_paid_online"
        )
        assert paid[AGENCY] == {"p-1"}
        await redis.aclose()

    asyncio.run(run())


def test_intake_rejection_before_the_receipt_leaves_every_intake_figure(url: str) -> None:
    evs = [
        receipt("2025-03-03T09:00:00+07:00", level="full_online", channel="online"),
        dossier_event("intake_rejected", "2025-03-03T11:00:00+07:00", reason="Thiếu giấy tờ"),
        receipt("2025-03-05T09:00:00+07:00", dossier="d2", level="full_online", channel="online"),
    ]

    async def run() -> None:
        for order in (evs, [evs[1], evs[0], evs[2]], [evs[0], evs[2], evs[1]]):
            redis, store = await fresh_store(url)
            await store.apply_many(order[:1])
            await store.apply_many(order[1:])
            march = await marks_in(
                store,
                date(2025, 3, 1),
                date(2025, 3, 31),
                "received",
                "received_full_online_online",
                "received_online",
                "cat_full_online_online",
            )
            assert march == {
                "received": 1,
                "received_full_online_online": 1,
                "received_online": 1,
                "cat_full_online_online": 1,
            }  # d2 only
            # the rejected dossier is not open; d2 is
            assert (await store.open_counts([AGENCY], NOW))[AGENCY][0] == 1
            assert await redis.zscore(redis_keys.open_dossiers(AGENCY), "d1") is None
            # its procedure has an online dossier only through d2
            procs = await store.set_union(
                [AGENCY], date(2025, 3, 1), date(2025, 3, 31), "proc_online"
            )
            assert procs[AGENCY] == {"p-1"}
            await redis.aclose()
        # rejected alone: the procedure leaves the set too
        redis, store = await fresh_store(url)
        await store.apply_many([evs[1], evs[0]])
        procs = await store.set_union([AGENCY], date(2025, 3, 1), date(2025, 3, 31), "proc_online")
        assert procs[AGENCY] == set()
        await redis.aclose()

    asyncio.run(run())


def test_withdrawn_full_online_dossier_stays_received_and_is_not_open(url: str) -> None:
    evs = [
        receipt(
            "2025-04-01T08:00:00+07:00",
            level="full_online",
            channel="online",
            due_at="2025-04-05T17:00:00+07:00",
        ),
        dossier_event("withdrawn", "2025-04-02T08:00:00+07:00"),
    ]

    async def run() -> None:
        for order in in_every_order(evs):
            redis, store = await fresh_store(url)
            await store.apply_many(order)
            april = await marks_in(
                store,
                date(2025, 4, 1),
                date(2025, 4, 30),
                "received",
                "received_full_online_online",
            )
            assert april == {"received": 1, "received_full_online_online": 1}
            # past its due time, but withdrawn: neither open nor overdue
            assert (await store.open_counts([AGENCY], NOW))[AGENCY] == (0, 0, 0)
            await redis.aclose()

    asyncio.run(run())


def test_supplement_request_moves_an_overdue_dossier_back_to_not_overdue(url: str) -> None:
    now = datetime(2025, 6, 10, 10, 0, tzinfo=UTC)
    rec = receipt("2025-06-02T08:00:00+07:00", due_at="2025-06-09T17:00:00+07:00")
    supplement = dossier_event(
        "due_changed",
        "2025-06-10T08:00:00+07:00",
        reason="supplement_requested",
        due_at="2025-06-20T17:00:00+07:00",
    )

    async def run() -> None:
        redis, store = await fresh_store(url)
        await store.apply_many([rec])
        assert (await store.open_counts([AGENCY], now))[AGENCY] == (1, 1, 0)
        await store.apply_many([supplement])
        assert (await store.open_counts([AGENCY], now))[AGENCY] == (1, 0, 0)
        # the receipt redelivered after the change does not bring the old deadline back
        await redis.flushdb()
        await store.apply_many([supplement])
        await store.apply_many([rec])
        assert (await store.open_counts([AGENCY], now))[AGENCY] == (1, 0, 0)
        assert await redis.zscore(redis_keys.open_dossiers(AGENCY), "d1") == pytest.approx(
            datetime.fromisoformat("2025-06-20T17:00:00+07:00").timestamp()
        )
        await redis.aclose()

    asyncio.run(run())


def test_suspension_stops_the_clock_until_resumed(url: str) -> None:
    now = datetime(2025, 7, 20, 3, 0, tzinfo=UTC)
    evs = [
        receipt("2025-07-01T08:00:00+07:00", due_at="2025-07-10T17:00:00+07:00"),
        dossier_event("due_changed", "2025-07-05T08:00:00+07:00", reason="suspended"),
        dossier_event(
            "due_changed",
            "2025-07-15T08:00:00+07:00",
            reason="resumed",
            due_at="2025-07-20T17:00:00+07:00",
        ),
    ]

    async def run() -> None:
        redis, store = await fresh_store(url)
        await store.apply_many([evs[1], evs[0]])
        # suspended: open, not overdue, not due within 24 h
        assert (await store.open_counts([AGENCY], now))[AGENCY] == (1, 0, 0)
        await store.apply_many([evs[2]])
        # resumed, due 20 July 17:00 local = within 24 h of `now` (20 July 10:00 local)
        assert (await store.open_counts([AGENCY], now))[AGENCY] == (1, 0, 1)
        assert (await store.open_counts([AGENCY], now + timedelta(days=1)))[AGENCY] == (1, 1, 0)
        await redis.aclose()

    asyncio.run(run())


def test_due_ties_are_broken_by_event_id(url: str) -> None:
    at = "2025-08-01T08:00:00+07:00"
    evs = [
        receipt("2025-07-30T08:00:00+07:00", due_at="2025-08-05T17:00:00+07:00", event_id="t-0"),
        dossier_event(
            "due_changed", at, reason="extended", due_at="2025-08-10T17:00:00+07:00", event_id="t-a"
        ),
        dossier_event(
            "due_changed", at, reason="extended", due_at="2025-08-20T17:00:00+07:00", event_id="t-b"
        ),
    ]
    want = datetime.fromisoformat("2025-08-20T17:00:00+07:00").timestamp()

    async def run() -> None:
        for order in in_every_order(evs):
            redis, store = await fresh_store(url)
            for e in order:
                await store.apply_many([e])
            score = await redis.zscore(redis_keys.open_dossiers(AGENCY), "d1")
            assert score == pytest.approx(want)
            await redis.aclose()

    asyncio.run(run())


# --- the property: any order, duplication and batching = the reference model -------------

INSTANTS = [
    "2024-12-31T23:59:59+07:00",
    "2025-01-01T00:00:00+07:00",
    "2025-01-31T16:00:00+07:00",
    "2025-02-01T08:00:00+07:00",
]
DUES = ["2025-01-01T00:00:01+07:00", "2025-02-03T17:00:00+07:00", "2025-03-01T17:00:00+07:00"]


@st.composite
def lifecycle_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "received",
                "received",
                "resolved",
                "returned",
                "rated",
                "payment",
                "withdrawn",
                "due_changed",
                "intake_rejected",
                "document_issued",
                # contract v1.2 (§4b)
                "portal_synced",
                "transferred",
                "due_changed",
                "petition_received",
                "petition_received",
                "petition_resolved",
                "petition_rated",
                "procedure_published",
            ]
        )
    )
    at = draw(st.sampled_from(INSTANTS))
    agency = draw(st.sampled_from([AGENCY, "ubnd-cho-moi"]))
    base: dict[str, Any] = {
        "event_id": f"p{n}",
        "event_type": kind,
        "occurred_at": at,
        "agency_code": agency,
    }
    if kind == "document_issued":
        return {
            **base,
            "document_id": draw(st.sampled_from(["vb1", "vb2"])),
            "electronic": draw(st.booleans()),
            "confidential": draw(st.booleans()),
        }
    later = [d for d in DUES if d > at] or ["2030-01-01T00:00:00+07:00"]
    if kind.startswith("petition_"):
        base["petition_id"] = draw(st.sampled_from(["pk1", "pk2"]))
        if kind == "petition_received":
            base["classification"] = draw(st.sampled_from(["procedure", "staff", "other"]))
            base["due_at"] = draw(st.sampled_from(later))
        elif kind == "petition_rated":
            base["satisfaction"] = draw(
                st.sampled_from(["very_satisfied", "satisfied", "unsatisfied"])
            )
        return base
    if kind == "procedure_published":
        publicized = draw(st.booleans())
        return {
            **base,
            "procedure_code": draw(st.sampled_from(["p1", "p2"])),
            "decision_on_time": draw(st.booleans()),
            "publicized": publicized,
            "publicized_on_time": publicized and draw(st.booleans()),
            "content_complete": draw(st.booleans()),
        }
    base["dossier_id"] = draw(st.sampled_from(["d1", "d2", "d3"]))
    base["procedure_code"] = draw(st.sampled_from(["p1", "p2"]))
    if kind == "transferred":
        base["to_agency_code"] = "ubnd-cho-moi" if agency == AGENCY else AGENCY
        due = draw(st.sampled_from([None, *DUES]))
        if due is not None:  # a new due time, in force like a due_changed's
            base["due_at"] = due
    elif kind == "received":
        level = draw(st.sampled_from(["full_online", "partial_online", "in_person_only"]))
        channels = ["in_person", "postal"] + ([] if level == "in_person_only" else ["online"])
        channel = draw(st.sampled_from(channels))
        base |= {
            "service_level": level,
            "channel": channel,
            "due_at": draw(st.sampled_from(later)),
            "via_one_stop": draw(st.booleans()),
            "digitized": draw(st.booleans()),
            "reused_digitized_data": draw(st.booleans()),
            "digitized_shared": draw(st.booleans()),
            "citizen_data_used": draw(st.booleans()),
        }
        if channel == "online":
            base["submitted_by"] = draw(st.sampled_from(["citizen", "assisted"]))
    elif kind == "resolved":
        base |= {"due_at": draw(st.sampled_from(DUES)), "outcome": "approved"}
    elif kind == "returned":
        base["result_electronic"] = draw(st.booleans())
    elif kind == "rated":
        base["satisfaction"] = draw(st.sampled_from(["very_satisfied", "satisfied", "unsatisfied"]))
    elif kind == "payment":
        base |= {"method": draw(st.sampled_from(["online", "offline"])), "amount_vnd": 1000}
    elif kind == "due_changed":
        reason = draw(
            st.sampled_from(
                [
                    "supplement_requested",
                    "supplement_requested",
                    "extended",
                    "suspended",
                    "resumed",
                    "apology_redated",
                ]
            )
        )
        base["reason"] = reason
        # v1.2: a supplement request may stop the clock (no due_at)
        if reason != "suspended" and not (reason == "supplement_requested" and draw(st.booleans())):
            base["due_at"] = draw(st.sampled_from(DUES))
    elif kind == "intake_rejected":
        base["reason"] = "Hồ sơ không hợp lệ"
    return base


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def keys_by_agency(redis: Redis) -> dict[str, list[str]]:
    """Every key of the database by its agency's hash tag (one SCAN: what
    :func:`redis_figures` reads of many agencies)."""
    out: dict[str, list[str]] = defaultdict(list)
    async for key in redis.scan_iter(count=10_000):
        name = _text(key)
        if "{" in name and "}" in name:
            out[name.split("{", 1)[1].split("}", 1)[0]].append(name)
    return out


async def redis_figures(redis: Redis, agency: str, keys: list[str] | None = None) -> dict[str, Any]:
    """The agency's figures as the model keeps them; ``keys``: the agency's keys when
    already known (``keys_by_agency``), else found by SCAN."""

    async def scan_iter(pattern: str) -> AsyncIterator[str]:
        if keys is None:
            async for key in redis.scan_iter(pattern):
                yield _text(key)
        else:
            for key in keys:
                if fnmatchcase(key, pattern):
                    yield key

    counters: dict[str, int] = {}
    prefix = redis_keys.counters_prefix(agency)
    async for key in scan_iter(f"{prefix}*"):
        bucket = _text(key).removeprefix(prefix)
        for field, n in (await redis.hgetall(key)).items():
            if int(n):
                counters[f"{bucket}:{_text(field)}"] = int(n)
    proc: Counter[tuple[str, str]] = Counter()
    pprefix = redis_keys.counted_set_prefix(agency, "proc_online")
    async for key in scan_iter(f"{pprefix}D*"):
        day = _text(key).removeprefix(pprefix + "D")
        for member, n in (await redis.hgetall(key)).items():
            proc[(day, _text(member))] = int(n)
    paid: set[tuple[str, str]] = set()
    sprefix = redis_keys.set_prefix(agency, "proc_paid_online")
    async for key in scan_iter(f"{sprefix}D*"):
        day = _text(key).removeprefix(sprefix + "D")
        paid |= {(day, _text(m)) for m in await redis.smembers(key)}
    scored = await redis.zrange(redis_keys.open_dossiers(agency), 0, -1, withscores=True)
    opened = {_text(m): float(s) for m, s in scored}  # type: ignore[str-unpack, arg-type]
    counted: Counter[tuple[str, str, str]] = Counter()
    for name in ("proc_received", "proc_returned_e", "proc_full_online"):
        cprefix = redis_keys.counted_set_prefix(agency, name)
        async for key in scan_iter(f"{cprefix}M*"):  # monthly (766 inputs)
            month = _text(key).removeprefix(cprefix + "M")
            for member, n in (await redis.hgetall(key)).items():
                counted[(month, name, _text(member))] = int(n)
    sets: set[tuple[str, str, str]] = set()
    for name in ("dos_paid", "dos_paid_online"):
        sprefix = redis_keys.set_prefix(agency, name)
        async for key in scan_iter(f"{sprefix}M*"):  # monthly (766 inputs)
            month = _text(key).removeprefix(sprefix + "M")
            sets |= {(month, name, _text(m)) for m in await redis.smembers(key)}
    open766: dict[tuple[str, str, str], float] = {}
    oprefix = redis_keys.open766(agency, "", "").removesuffix("::")
    async for key in scan_iter(f"{oprefix}:*"):
        kind, month = _text(key).removeprefix(oprefix + ":").split(":")
        scored = await redis.zrange(key, 0, -1, withscores=True)
        for m, sc in scored:  # type: ignore[str-unpack]
            open766[(kind, month, _text(m))] = float(sc)  # type: ignore[arg-type]
    pubs = await redis.zrange(redis_keys.publications(agency), 0, -1, withscores=True)
    published = {(int(sc), _text(m)) for m, sc in pubs}  # type: ignore[str-unpack, arg-type]
    return {
        "counters": counters,
        "proc": dict(proc),
        "paid": paid,
        "open": opened,
        "counted": dict(counted),
        "sets": sets,
        "open766": open766,
        "published": published,
    }


def assert_figures(got: dict[str, Any], model: Any, agency: str) -> None:
    """Every figure of ``redis_figures`` equals the model's: counters, procedures and
    payments online, open dossiers, and the v1.2 ones."""
    assert got["counters"] == model.by_period(agency)
    assert got["proc"] == {k: v for k, v in model.proc_online[agency].items() if v}
    assert got["paid"] == model.paid_online[agency]
    assert got["open"] == model.open[agency]
    assert_v12(got, model, agency)


def assert_v12(got: dict[str, Any], model: Any, agency: str) -> None:
    """The contract v1.2 figures (§4b, §8) of ``redis_figures`` equal the model's."""
    months: Counter[tuple[str, str, str]] = Counter()
    for (day, name, member), n in model.counted[agency].items():
        months[(day[:6], name, member)] += n
    assert got["counted"] == {k: v for k, v in months.items() if v}
    assert got["sets"] == {(day[:6], name, m) for day, name, m in model.sets[agency]}
    assert got["open766"] == model.open766[agency]
    assert got["published"] == model.published[agency]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_duplication_and_batching_match_the_reference_model(
    url: str, data: st.DataObject
) -> None:
    raws = [data.draw(lifecycle_event(n)) for n in range(data.draw(st.integers(1, 14)))]
    events = [parse(r) for r in raws]
    order = list(data.draw(st.permutations(events)))
    for dup in data.draw(st.lists(st.sampled_from(events), max_size=6)):
        order.insert(data.draw(st.integers(0, len(order))), dup)
    batch = data.draw(st.integers(1, 6))
    model = expected_figures(events)

    async def run() -> None:
        redis, store = await fresh_store(url)
        for i in range(0, len(order), batch):
            await store.apply_many(order[i : i + batch])
        for agency in (AGENCY, "ubnd-cho-moi"):
            assert_figures(await redis_figures(redis, agency), model, agency)
        await redis.aclose()

    asyncio.run(run())


def test_a_transferred_dossier_moves_between_agencies_in_redis(url: str) -> None:
    """§4b through the store: the transfer's agency keeps the intake, the agency it moved to
    holds it open and counts its resolution — sent before the transfer arrived, by another
    batch — and the records' sharing counts no event and raises the data versions."""
    a, b = AGENCY, "so-y-te"
    due = "2024-03-20T17:00:00+07:00"
    got_in = receipt("2024-03-01T09:00:00+07:00", dossier="m1", due_at=due)
    moved = dossier_event(
        "transferred", "2024-03-05T10:00:00+07:00", dossier="m1", to_agency_code=b
    )
    resolved = dossier_event(
        "resolved",
        "2024-03-12T15:00:00+07:00",
        dossier="m1",
        agency=b,
        due_at=due,
        outcome="approved",
    )
    still_open = [
        receipt("2024-03-02T09:00:00+07:00", dossier="m2", due_at=due),
        dossier_event("transferred", "2024-03-05T11:00:00+07:00", dossier="m2", to_agency_code=b),
    ]
    marks = ["received", "resolved", "resolved_on_time"]
    march = (date(2024, 3, 1), date(2024, 3, 31))
    at = datetime(2024, 3, 25, tzinfo=UTC)  # past the due: overdue where it is held

    async def go() -> None:
        redis, store = await fresh_store(url)
        assert await store.apply_many([resolved]) == [True]
        (b0,) = await store.data_versions([b])
        assert await store.apply_many([got_in, moved, *still_open]) == [True] * 4
        sums = await store.sum_marks([a, b], *march, marks)
        assert sums[a] == {"received": 2, "resolved": 0, "resolved_on_time": 0}
        assert sums[b] == {"received": 0, "resolved": 1, "resolved_on_time": 1}
        assert await store.open_counts([a, b], at) == {a: (0, 0, 0), b: (1, 1, 0)}
        assert await store.applied_events([a, b]) == {a: 4, b: 1}  # merges apply no event
        (b1,) = await store.data_versions([b])
        assert b1 > b0  # b's figures changed without an event of b: its caches must go
        # a redelivery of everything changes nothing
        versions = await store.data_versions([a, b])
        assert await store.apply_many([resolved, got_in, moved, *still_open]) == [False] * 5
        assert await store.sum_marks([a, b], *march, marks) == sums
        assert await store.data_versions([a, b]) == versions
        await redis.aclose()

    asyncio.run(go())


def test_a_successor_closes_the_dossiers_of_the_unit_it_continues(url: str) -> None:
    """§4b, issue 18: so-tnmt ends on 2025-02-28 and so-nnmt-2025 continues it. A dossier
    received by so-tnmt and resolved on 2025-03-04 under so-nnmt-2025's code (no
    ``transferred`` event) leaves so-tnmt's open set and counts resolved at so-nnmt-2025,
    whichever arrives first; a receipt never continued stays open where it was."""
    old, new = "so-tnmt", "so-nnmt-2025"
    due = "2025-03-10T17:00:00+07:00"

    def story(n: int) -> tuple[Event, Event]:
        got_in = receipt("2025-02-20T09:00:00+07:00", dossier=f"s{n}", agency=old, due_at=due)
        done = dossier_event(
            "resolved",
            "2025-03-04T15:00:00+07:00",
            dossier=f"s{n}",
            agency=new,
            due_at=due,
            outcome="approved",
        )
        return got_in, done

    in_order, reversed_ = story(1), story(2)
    untouched = receipt("2025-02-21T09:00:00+07:00", dossier="s3", agency=old, due_at=due)
    # refused by the successor: final for the dossier id, so so-tnmt's intake loses it
    refused = [
        receipt("2025-02-22T09:00:00+07:00", dossier="s4", agency=old, due_at=due),
        dossier_event(
            "intake_rejected", "2025-03-02T09:00:00+07:00", dossier="s4", agency=new, reason="x"
        ),
    ]
    months = [(date(2025, 2, 1), date(2025, 2, 28)), (date(2025, 3, 1), date(2025, 3, 31))]
    marks = ["received", "resolved", "resolved_on_time"]
    at = datetime(2025, 3, 20, tzinfo=UTC)

    async def go() -> None:
        redis, store = await fresh_store(url)
        store.succession = succession_of(load_agencies())
        await store.apply_many([in_order[0], untouched, reversed_[1], *refused])
        await store.apply_many([in_order[1]])
        await store.apply_many([reversed_[0]])
        feb = await store.sum_marks([old, new], *months[0], marks)
        march = await store.sum_marks([old, new], *months[1], marks)
        assert feb[old]["received"] == 3 and feb[new]["received"] == 0
        assert march[new] == {"received": 0, "resolved": 2, "resolved_on_time": 2}
        assert march[old]["resolved"] == 0
        # only the dossier nobody continued is open (read under the successor today)
        assert await store.open_counts([old, new], at) == {old: (1, 1, 0), new: (0, 0, 0)}
        assert await store.applied_events([old, new]) == {old: 4, new: 3}
        # the simulator's oracle, given the same chains, says the same
        raws = [e.model_dump(mode="json") for e in (*in_order, *reversed_, untouched, *refused)]
        oracle = Figures(succession_of(load_agencies())).add_all(raws)
        for code in (old, new):
            for period, sums in (("2025-02", feb), ("2025-03", march)):
                assert {m: oracle.marks(code, period)[m] for m in marks} == sums[code]
        # a redelivery changes nothing
        assert await store.apply_many([*in_order, *reversed_, untouched, *refused]) == [False] * 7
        assert await store.sum_marks([old, new], *months[1], marks) == march
        await redis.aclose()

    asyncio.run(go())


def test_a_dossier_crosses_both_reorganisations(url: str) -> None:
    """Received by so-tnmt in February 2025, resolved by H01.03 in July (through
    so-nnmt-2025, March–June): open nowhere, resolved at H01.03, in either order."""
    due = "2025-08-01T17:00:00+07:00"
    got_in = receipt("2025-02-25T09:00:00+07:00", dossier="x1", agency="so-tnmt", due_at=due)
    done = dossier_event(
        "resolved",
        "2025-07-05T10:00:00+07:00",
        dossier="x1",
        agency="H01.03",
        due_at=due,
        outcome="approved",
    )
    codes = ["so-tnmt", "so-nnmt-2025", "H01.03"]
    at = datetime(2025, 8, 20, tzinfo=UTC)

    async def go() -> None:
        for first, then in ((got_in, done), (done, got_in)):
            redis, store = await fresh_store(url)
            store.succession = succession_of(load_agencies())
            await store.apply_many([first])
            await store.apply_many([then])
            resolved = await store.sum_marks(
                codes, date(2025, 1, 1), date(2025, 12, 31), ["resolved"]
            )
            assert resolved == {
                "so-tnmt": {"resolved": 0},
                "so-nnmt-2025": {"resolved": 0},
                "H01.03": {"resolved": 1},
            }
            counts = await store.open_counts(codes, at)
            assert all(c == (0, 0, 0) for c in counts.values()), counts
            await redis.aclose()

    asyncio.run(go())


def test_a_crash_between_the_writes_and_the_sharing_is_repaired_by_the_redelivery(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """§4b: a batch's records are written, then shared (``moved_dossiers.follow``) before
    its offsets are claimed. The calculator dying in between leaves the batch unclaimed:
    Kafka redelivers it, every event of it is a duplicate by then, and the sharing runs
    again — the figures end as the reference model's."""
    b = "so-y-te"
    due = "2024-03-20T17:00:00+07:00"
    first = [receipt("2024-03-01T09:00:00+07:00", dossier="c1", due_at=due)]
    second = [
        dossier_event("transferred", "2024-03-05T10:00:00+07:00", dossier="c1", to_agency_code=b),
        dossier_event(
            "resolved",
            "2024-03-25T15:00:00+07:00",
            dossier="c1",
            agency=b,
            due_at=due,
            outcome="approved",
        ),
        dossier_event("rated", "2024-03-26T15:00:00+07:00", dossier="c1", satisfaction="satisfied"),
    ]
    model = expected_figures(first + second)

    async def crash(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the calculator died between its writes and the sharing")

    async def figures_of(redis: Redis) -> list[dict[str, Any]]:
        return [await redis_figures(redis, agency) for agency in (AGENCY, b)]

    def expected() -> list[dict[str, Any]]:
        return [
            {"counters": model.by_period(agency), "open": model.open[agency]}
            for agency in (AGENCY, b)
        ]

    async def go() -> None:
        redis, store = await fresh_store(url)
        await store.apply_many(first)
        monkeypatch.setattr("shared.store.indicator_store.follow", crash)
        with pytest.raises(ConnectionError):
            await store.apply_many(second)
        got = [{k: f[k] for k in ("counters", "open")} for f in await figures_of(redis)]
        assert got != expected()  # the records are not shared yet
        monkeypatch.undo()  # the calculator restarted: the sharing runs
        flags = await store.apply_many(second)  # the redelivery
        assert flags == [False, False, False]  # every event seen already
        got = [{k: f[k] for k in ("counters", "open")} for f in await figures_of(redis)]
        assert got == expected()
        assert (
            sum([int(await redis.hget(redis_keys.stats(a), "events") or 0) for a in (AGENCY, b)])
            == 4
        )
        await redis.aclose()

    asyncio.run(go())
