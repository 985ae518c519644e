"""The figures on a real Redis Cluster (3 primaries + 3 replicas, ``redis+cluster://``):
the same events give the same figures as on one Redis server, spread over every primary;
re-applying them counts nothing twice; the API serves a ranking and an indicator from the
cluster."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.ports import free_port
from devstack.redis import RedisClusterServers, RedisServer
from services.ops.rebuild import rebuild
from shared.contract.events import Event
from shared.contract.validation import validate_event
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings
from shared.store import keys as redis_keys
from shared.store.client import RedisClient, is_cluster, redis_from_url, sync_redis_from_url
from shared.store.indicator_store import IndicatorStore
from simulator.appendix2024 import YearStream
from simulator.expected import Figures
from simulator.replay import produce_in_batches
from tests.conftest import ServiceFactory
from tests.integration.test_counting_redis import snapshot

pytestmark = pytest.mark.integration

READ = {"Authorization": "Bearer dev-read-token"}
# six agencies, two in each primary's slot range, from the simulated year (lifecycles on a
# fifth of the dossiers)
AGENCIES = (
    "so-gtvt",
    "ubnd-chau-doc",
    "so-cong-thuong",
    "thanh-tra-tinh",
    "ban-ql-kkt",
    "ubnd-cho-moi",
)
STREAM = YearStream(lifecycle_fraction=0.2, documents_per_agency=30)
NOW = datetime(2026, 11, 24, tzinfo=UTC)
MARKS = ("received", "received_full_online_online", "resolved", "resolved_on_time", "payment")


def raw_events() -> list[dict[str, Any]]:
    """The first 6,000 events of each agency's year (36,000: every kind of event)."""
    return [e for code in AGENCIES for e in itertools.islice(STREAM.agency_events(code), 6000)]


def parse(raws: list[dict[str, Any]]) -> list[Event]:
    codes = load_agencies().codes
    parsed = [validate_event(r, agencies=codes, now=NOW) for r in raws]
    assert all(not isinstance(p, list) for p in parsed)
    return parsed  # type: ignore[return-value]


async def figures(redis: RedisClient) -> dict[str, Any]:
    """Every counter, the distinct sets, open counts and applied event ids."""
    store = IndicatorStore(redis)
    year = (date(2024, 1, 1), date(2024, 12, 31))
    return {
        "counters": await snapshot(redis),
        "marks": await store.sum_marks(AGENCIES, *year, MARKS),
        "paid": await store.set_union(AGENCIES, *year, "proc_paid_online"),
        "online": await store.set_union(AGENCIES, *year, "proc_online"),
        "open": await store.open_counts(AGENCIES, NOW),
        "events": await store.applied_events(AGENCIES),
    }


async def apply_all(url: str, events: list[Event], batch: int) -> tuple[int, dict[str, Any]]:
    redis = redis_from_url(url)
    try:
        store = IndicatorStore(redis)
        applied = 0
        for i in range(0, len(events), batch):
            chunk = events[i : i + batch]
            offsets = {("t.dossier", 0): i + len(chunk) - 1}
            applied += sum(await store.apply_many(chunk, offsets))
        return applied, await figures(redis)
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = RedisServer(tmp_path_factory.mktemp("single-redis"), free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def loaded(redis_cluster: RedisClusterServers, single: RedisServer) -> dict[str, Any]:
    """The six agencies' year applied to one server and to the cluster."""
    raws = raw_events()
    events = parse(raws)
    n_single, on_single = asyncio.run(apply_all(single.url, events, 1000))
    n_cluster, on_cluster = asyncio.run(apply_all(redis_cluster.url, events, 1000))
    return {
        "raws": raws,
        "events": events,
        "applied": (n_single, n_cluster),
        "single": on_single,
        "cluster": on_cluster,
    }


def test_cluster_figures_equal_a_single_server(
    loaded: dict[str, Any], redis_cluster: RedisClusterServers
) -> None:
    assert is_cluster(redis_cluster.url)
    distinct = len({e.event_id for e in loaded["events"]})
    assert loaded["applied"] == (distinct, distinct)
    single, cluster = loaded["single"], loaded["cluster"]
    assert len(single["counters"]) > 500  # day/month/year buckets of six agencies
    for part in ("counters", "marks", "paid", "online", "open", "events"):
        assert cluster[part] == single[part], part
    # and both are §4a applied in pure Python to the same stream
    expected = Figures().add_all(loaded["raws"])
    for code in AGENCIES:
        marks = expected.marks(code, "2024")
        assert cluster["marks"][code] == {m: marks[m] for m in MARKS}, code
    assert sum(cluster["events"].values()) == distinct
    # the agencies' keys are spread over every primary (three slot ranges)
    per_primary = {}
    for port in redis_cluster.topology():
        client = sync_redis_from_url(f"redis://127.0.0.1:{port}/0")
        per_primary[port] = int(client.dbsize())
        client.close()
    assert len(per_primary) == 3 and all(n > 0 for n in per_primary.values()), per_primary


def test_reapplying_on_the_cluster_counts_nothing_twice(
    loaded: dict[str, Any], redis_cluster: RedisClusterServers
) -> None:
    events = list(reversed(loaded["events"]))  # another order, other batch boundaries
    applied, again = asyncio.run(apply_all(redis_cluster.url, events, 700))
    assert applied == 0
    assert again == loaded["cluster"]


def test_per_agency_applied_offsets_find_what_a_primary_lost(
    loaded: dict[str, Any], redis_cluster: RedisClusterServers
) -> None:
    """An agency whose own applied offsets fell behind the central hash (its primary lost
    its last calls) is a gap from its own offset on; the others are not."""

    async def run() -> tuple[Any, Any, Any]:
        redis = redis_from_url(redis_cluster.url)
        try:
            store = IndicatorStore(redis)
            tp = ("t.dossier", 0)
            last = len(loaded["events"]) - 1
            clean = await store.gaps({tp: last + 1})
            # what a failover of so-gtvt's primary would leave: its offsets of long ago
            await redis.hset(redis_keys.applied_agency("so-gtvt"), "t.dossier:0", "41")
            lost = await store.gaps({tp: last + 1})
            # a later batch of that agency, on the promoted replica, must not cover the gap
            gtvt = [e for e in loaded["events"] if e.agency_code == "so-gtvt"][:50]
            assert not any(await store.apply_many(gtvt, {tp: last + 1}))
            still = await store.gaps({tp: last + 2})
            assert still == {tp: (42, last + 2, ["so-gtvt"])}, still
            await store.claim_applied(["so-gtvt"], {tp: last + 1})
            return clean, lost, await store.gaps({tp: last + 2})
        finally:
            await redis.aclose()

    clean, lost, claimed = asyncio.run(run())
    assert clean == {}
    assert lost == {("t.dossier", 0): (42, len(loaded["events"]), ["so-gtvt"])}
    assert claimed == {}


def test_api_serves_a_ranking_and_an_indicator_from_the_cluster(
    loaded: dict[str, Any],
    redis_cluster: RedisClusterServers,
    service_factory: ServiceFactory,
    tmp_path: Path,
) -> None:
    api = service_factory("api", {"EGOV_REDIS_URL": redis_cluster.url})
    expected = Figures().add_all(loaded["raws"])
    body = httpx.get(
        f"{api.url}/v1/indicators/on_time_rate",
        params={"scope": "so-gtvt", "period": "2024"},
        headers=READ,
        timeout=60,
    ).json()
    marks = expected.marks("so-gtvt", "2024")
    assert (body["numerator"], body["denominator"]) == (
        marks["resolved_on_time"],
        marks["resolved"],
    )
    ranking = httpx.get(
        f"{api.url}/v1/rankings/full_online_rate",
        params={"scope": "province", "period": "2024", "top": 3},
        headers=READ,
        timeout=60,
    ).json()
    ranked = {r["agency_code"]: r for r in ranking["agencies"]}
    for code in AGENCIES:
        m = expected.marks(code, "2024")
        got = ranked[code]
        assert (got["numerator"], got["denominator"]) == (
            m["received_full_online_online"],
            m["received"],
        ), code


def test_rebuild_on_the_cluster_switches_to_a_fresh_keyspace(
    loaded: dict[str, Any],
    redis_cluster: RedisClusterServers,
    kafka_broker: Any,
    isolated_module: dict[str, Any],
) -> None:
    """``egov rebuild`` on the cluster: the log re-derived into ``ks<N>:`` (keys on every
    primary), readers switched in one SET, the old keyspace deleted on every primary."""
    topics = isolated_module["topics"]
    asyncio.run(produce_in_batches(loaded["raws"], kafka_broker.bootstrap, Settings(topics=topics)))
    settings = Settings(
        kafka_bootstrap=kafka_broker.bootstrap,
        topics=topics,
        redis_url=redis_cluster.url,
        calculator_group=f"calc-{uuid.uuid4().hex[:8]}",
    )
    report = asyncio.run(rebuild(settings, show_progress=False))
    distinct = len({e.event_id for e in loaded["events"]})
    assert (report.records, report.applied) == (len(loaded["raws"]), distinct)
    assert report.deleted_keys > 500  # the keyspace the other tests wrote

    async def after() -> tuple[str, dict[str, Any], int]:
        redis = redis_from_url(redis_cluster.url)
        try:
            ks = await IndicatorStore(redis).keyspace()
            old = [k async for k in redis.scan_iter("cnt:*", count=1000)]
            return ks, await figures(redis), len(old)
        finally:
            await redis.aclose()

    ks, rebuilt, old_keys = asyncio.run(after())
    assert ks.startswith("ks") and old_keys == 0
    assert rebuilt == loaded["cluster"]


def _figure(resp: httpx.Response) -> tuple[Any, ...]:
    body = resp.json()
    return body["numerator"], body["denominator"], body["value"]


def _on_time(api_url: str) -> httpx.Response:
    return httpx.get(
        f"{api_url}/v1/indicators/on_time_rate",
        params={"scope": "so-gtvt", "period": "2024"},
        headers=READ,
        timeout=30,
    )


def test_api_answers_503_not_500_while_redis_is_down(
    loaded: dict[str, Any], single: RedisServer, service_factory: ServiceFactory
) -> None:
    """Redis unreachable: every figure request that needs it (an answer older than
    EGOV_API_STALE_MS: its versions must be read) answers 503 with Retry-After and a
    Vietnamese message naming the store; back to the same figures once it returns."""
    api = service_factory("api", {"EGOV_REDIS_URL": single.url})
    before = _on_time(api.url)
    assert before.status_code == 200, before.text
    single.stop()
    try:
        time.sleep(Settings().api_stale_ms / 1000)  # the answer above is too old to serve
        down = _on_time(api.url)
        assert down.status_code == 503, down.text
        assert down.headers["Retry-After"] == "2"
        body = down.json()
        assert body["error"] == "redis_unavailable"
        assert "Kho số liệu (Redis)" in body["message_vi"]
    finally:
        single.start()
    after = _on_time(api.url)
    assert after.status_code == 200 and _figure(after) == _figure(before)


def test_api_never_answers_500_during_a_primary_failover(
    loaded: dict[str, Any], redis_cluster: RedisClusterServers, service_factory: ServiceFactory
) -> None:
    """The primary holding so-gtvt SIGKILLed under a steady stream of requests: each one is
    answered 200 or 503 (never a 500), and after the failover with the same figures (the
    last test of the module: the cluster stays one primary short)."""
    api = service_factory("api", {"EGOV_REDIS_URL": redis_cluster.url})
    before = _on_time(api.url)
    assert before.status_code == 200, before.text
    victim = redis_cluster.primary_of("{so-gtvt}")
    victim.kill()
    statuses: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        resp = _on_time(api.url)
        statuses.append(resp.status_code)
        if resp.status_code == 503:
            assert resp.json()["error"] == "redis_unavailable"
        if resp.status_code == 200 and victim.port not in redis_cluster.topology():
            break
        time.sleep(0.2)
    assert set(statuses) <= {200, 503}, statuses
    after = _on_time(api.url)
    assert after.status_code == 200 and _figure(after) == _figure(before)
