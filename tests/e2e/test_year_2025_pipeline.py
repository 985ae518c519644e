"""The year 2025 end to end on the packaged catalog, through both reorganisation dates
(issue 18's acceptance): a seeded live stream of the whole year (``simulator.live``, one
hour at a time, a dossier's steps days apart, so dossiers are in flight on 28 February
and 30 June and go on under the unit continuing theirs; communes' dossiers sent on to
departments), and two dossiers of each unit ending with a successor that are open at its
end and never heard of again, POSTed to the real ingest in a hostile order with
duplicates, through Kafka, the calculator, Redis and the API.

- events in − events counted = 0, nothing dead-lettered;
- every agency's figures in Redis (counters, procedure holders, payments, open dossiers,
  the v1.2 sets and 766 open sets) equal the reference model's (``tests/lifecycle_model``,
  the rules over the whole event set, with the catalog's successor chains as transfers at
  the successor's first day);
- every ended unit's open dossiers are at the unit continuing it, or listed as orphaned
  when none does, in the API; no overdue alert of an ended unit with a successor fires,
  and those of the units nobody continues are marked orphaned.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from typing import Any

import httpx
import pytest
import redis
from kafka import KafkaConsumer, TopicPartition
from redis.asyncio import Redis

from services.alerts.state import AlertStore
from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.alerts import Rule
from shared.domain.calendar import LOCAL_TZ, local_date, now_utc
from shared.domain.catalog import AgencyCatalog, load_agencies
from simulator.live import LiveGenerator
from tests.e2e.test_pipeline import READ_AUTH, post, wait_for
from tests.factories import received
from tests.integration.test_lifecycle_rules import assert_v12, keys_by_agency, redis_figures
from tests.lifecycle_model import Successors, expected_figures

pytestmark = pytest.mark.e2e

START = datetime(2025, 1, 1, tzinfo=LOCAL_TZ)
END = datetime(2026, 1, 1, tzinfo=LOCAL_TZ)


def year_2025(per_hour: int = 3) -> list[dict[str, Any]]:
    """~26,000 events: every hour of 2025, ``per_hour`` events (receipts, the steps of
    dossiers received earlier, documents, petitions, publications)."""
    gen = LiveGenerator(seed=2025, backlog=0, step_delay_s=2 * 86_400.0, now=START)
    out: list[dict[str, Any]] = []
    at = START
    while at < END:
        out += gen.batch(per_hour, at)
        at += timedelta(hours=1)
    return out


def silent_in_flight(catalog: AgencyCatalog) -> list[dict[str, Any]]:
    """Two dossiers of every unit that ends with a successor, received two days before
    its end, due a week after it, of which nothing more is ever sent: open at the end of
    the unit, to be held by the unit continuing it."""
    out: list[dict[str, Any]] = []
    for code, agency in sorted(catalog.agencies.items()):
        if agency.valid_to is None or not agency.successor_code or agency.valid_to.year != 2025:
            continue
        at = datetime.combine(agency.valid_to - timedelta(days=2), time(9), LOCAL_TZ)
        due = datetime.combine(agency.valid_to + timedelta(days=7), time(17), LOCAL_TZ)
        for n in (1, 2):
            out.append(
                received(
                    agency=code,
                    dossier=f"silent-{code}-{n}",
                    at=at.isoformat(),
                    event_id=f"silent-{code}-{n}",
                    due_at=due.isoformat(),
                )
            )
    return out


def successors(catalog: AgencyCatalog) -> Successors:
    """Each ended unit's successor and the instant it starts (its first day, 00:00 local;
    the day after the unit's end when the successor has no start)."""
    out: Successors = {}
    for code, agency in catalog.agencies.items():
        nxt = catalog.agencies.get(agency.successor_code or "")
        if nxt is None or nxt.agency_code == code:
            continue
        first = nxt.valid_from or (agency.valid_to + timedelta(days=1) if agency.valid_to else None)
        if first is not None:
            out[code] = (nxt.agency_code, datetime.combine(first, time(0), LOCAL_TZ))
    return out


def holder_today(catalog: AgencyCatalog, code: str) -> str | None:
    """The unit that holds an ended unit's open dossiers today (None: orphaned)."""
    today = local_date(now_utc())
    seen: set[str] = set()
    current: str | None = code
    while current is not None and current not in seen:
        agency = catalog.agencies.get(current)
        if agency is None:
            return None
        if agency.valid_on(today):
            return current
        seen.add(current)
        current = agency.successor_code
    return None


@pytest.fixture(scope="module")
def year(isolated_module, service_factory) -> dict[str, Any]:
    env = isolated_module["env"]
    stack = {
        "calculator": service_factory("calculator", env),
        "ingest": service_factory("ingest", env),
        "api": service_factory("api", env),
        "alerts": service_factory(
            "alerts",
            {
                **env,
                "EGOV_ALERTS_CHECK_INTERVAL_S": "1",
                "EGOV_ALERTS_ROUTES": "[]",
                "EGOV_ALERTS_DIGEST_EMAILS": "[]",
            },
        ),
        **isolated_module,
    }
    catalog = load_agencies()
    raws = year_2025() + silent_in_flight(catalog)
    events: list[Event] = []
    for raw in raws:
        event = validate_event(raw, agencies=catalog, now=now_utc())
        assert not isinstance(event, list), (raw, event)
        events.append(event)
    # hostile: shuffled, 2 % sent twice
    rng = random.Random(18)
    order = raws + rng.sample(raws, len(raws) // 50)
    rng.shuffle(order)
    for i in range(0, len(order), 1_000):
        resp = post(stack["ingest"].url, order[i : i + 1_000])
        assert resp.status_code == 202, resp.text
    store = redis.Redis.from_url(stack["redis_url"])

    def counted() -> int:
        return sum(
            int(store.hget(key, "events") or 0) for key in store.scan_iter("stat:*", count=1000)
        )

    got = wait_for(counted, len(raws), timeout=240)
    store.close()
    return {
        **stack,
        "catalog": catalog,
        "raws": raws,
        "events": events,
        "counted": got,
        "model": expected_figures(events, successors(catalog)),
    }


def test_the_stream_crosses_both_dates_with_dossiers_in_flight(year) -> None:
    """The premise: dossiers received before each date and continued after it by the
    unit that took over, and commune dossiers sent on to departments."""
    catalog: AgencyCatalog = year["catalog"]
    by_dossier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in year["raws"]:
        if "dossier_id" in e:
            by_dossier[e["dossier_id"]].append(e)
    crossing: Counter[str] = Counter()
    for items in by_dossier.values():
        items.sort(key=lambda e: e["occurred_at"])
        first, last = items[0], items[-1]
        ended = catalog.agencies[first["agency_code"]].valid_to
        if (
            ended is not None
            and last["occurred_at"][:10] > ended.isoformat()
            and last["agency_code"] != first["agency_code"]
        ):
            crossing[ended.isoformat()] += 1
    assert crossing["2025-02-28"] >= 5 and crossing["2025-06-30"] >= 5, crossing
    kinds = Counter(e["event_type"] for e in year["raws"])
    assert kinds["transferred"] >= 10


def test_events_in_minus_events_counted_is_zero(year) -> None:
    assert year["counted"] == len(year["raws"])
    consumer = KafkaConsumer(
        bootstrap_servers=year["bootstrap"], auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    consumer.assign([TopicPartition(year["topics"].deadletter, 0)])
    consumer.seek_to_beginning()
    assert list(consumer) == []  # nothing dead-lettered
    consumer.close()
    assert year["calculator"].process.alive


def test_every_agencys_figures_equal_the_reference_model(year) -> None:
    model = year["model"]
    agencies = {e.agency_code for e in year["events"]} | set(model.open)

    async def check() -> None:
        client = Redis.from_url(year["redis_url"])
        try:
            keys = await keys_by_agency(client)
            for agency in sorted(agencies):
                got = await redis_figures(client, agency, keys.get(agency, []))
                assert got["counters"] == model.by_period(agency), agency
                proc = {k: v for k, v in model.proc_online[agency].items() if v}
                assert got["proc"] == proc, agency
                assert got["paid"] == model.paid_online[agency], agency
                assert got["open"] == model.open[agency], agency
                assert_v12(got, model, agency)
        finally:
            await client.aclose()

    asyncio.run(check())


def test_ended_units_open_dossiers_are_at_their_successor_or_orphaned(year) -> None:
    catalog: AgencyCatalog = year["catalog"]
    model = year["model"]
    api = year["api"].url
    today = local_date(now_utc())
    ended = [a for a in catalog.agencies.values() if a.valid_to and a.valid_to < today]
    with_open = [a for a in ended if model.open[a.agency_code]]
    assert any(holder_today(catalog, a.agency_code) for a in with_open)  # some moved on
    assert any(holder_today(catalog, a.agency_code) is None for a in with_open)  # orphans
    orphaned_expected = 0
    moved_into: Counter[str] = Counter()
    for agency in with_open:
        code = agency.agency_code
        body = httpx.get(
            f"{api}/v1/dossiers/open", params={"scope": code}, headers=READ_AUTH, timeout=30
        ).json()
        row = next(r for r in body["agencies"] if r["agency_code"] == code)
        holder = holder_today(catalog, code)
        if holder is None:
            assert row["orphaned"], row
            orphaned_expected += len(model.open[code])
        else:
            assert row["held_by"] == holder and not row["orphaned"], row
            moved_into[holder] += len(model.open[code])
    orphaned = httpx.get(f"{api}/v1/dossiers/orphaned", headers=READ_AUTH, timeout=30).json()
    assert orphaned["open"] == orphaned_expected
    for holder, moved in moved_into.items():
        body = httpx.get(
            f"{api}/v1/dossiers/open", params={"scope": holder}, headers=READ_AUTH, timeout=30
        ).json()
        # the holder counts its own open dossiers and those of the units it continues
        assert body["open"] == len(model.open[holder]) + moved, holder


def test_no_overdue_alert_of_an_ended_unit_fires_unless_orphaned(year) -> None:
    catalog: AgencyCatalog = year["catalog"]
    today = local_date(now_utc())
    ended = {a.agency_code for a in catalog.agencies.values() if a.valid_to and a.valid_to < today}

    async def firing() -> list[Any]:
        client = Redis.from_url(year["redis_url"])
        try:
            return await AlertStore(client).firing()
        finally:
            await client.aclose()

    def overdue_scopes() -> set[str]:
        return {a.scope for a in asyncio.run(firing()) if a.rule is Rule.overdue}

    # the timed check has run: the orphaned districts' overdue dossiers fire
    orphans = {
        code
        for code in ended
        if holder_today(catalog, code) is None
        and any(score < now_utc().timestamp() for score in year["model"].open[code].values())
    }
    assert orphans
    wait_for(lambda: orphans <= overdue_scopes(), True, timeout=60)
    alerts = asyncio.run(firing())
    assert orphans <= {a.scope for a in alerts if a.rule is Rule.overdue}
    for alert in alerts:
        if alert.scope in ended:
            assert holder_today(catalog, alert.scope) is None, alert
            assert alert.details.get("orphaned") is True, alert
