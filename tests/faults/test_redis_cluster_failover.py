"""A Redis Cluster primary SIGKILLed mid-replay, after it lost its replication link (issue
12, item 1): three calculators consume a stretch of the simulated year into a 3+3 cluster;
the replica of one primary is frozen and cut off, that primary keeps taking writes for a
moment and is then SIGKILLed, so the replica that takes over really lacks its last writes
(acknowledged, their Kafka offsets committed). The calculators find the agencies whose own
applied offsets fell behind the central hash and re-apply them: events in − events counted
= 0 and every counter equals a clean pass on one server. Twice: the killed primary holds
one agency's keys, or the central applied offsets' slot (issue 20, item 3). The row goes
to ``.run/fault-report.jsonl``."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from devstack.ports import free_port
from devstack.redis import RedisClusterServers, RedisServer
from shared.platform.config import Settings
from shared.store.client import redis_from_url
from shared.store.indicator_store import IndicatorStore
from simulator.appendix2024 import YearStream
from simulator.replay import produce_in_batches
from tests.conftest import ServiceFactory
from tests.faults.test_calculator_faults import REPORT, wait_equal
from tests.integration.test_exactly_once import parse, reference_snapshot

pytestmark = pytest.mark.integration

EVENTS = 60_000  # the first weeks of the simulated year, every agency
# an agency outside the slot range of the central applied-offsets hash (slot 8091): only
# the per-agency offsets can tell that its primary lost writes
VICTIM_TAG = "{ubnd-cho-moi}"
CUT_OFF_S = 0.8  # below the node timeout (1.5 s): the frozen replica is not failed itself


def _metric(url: str, name: str) -> float:
    text = httpx.get(url, timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


# what the killed primary holds: a victim agency's keys (only its own applied offsets can
# tell that they lost writes), or the central applied offsets' slot (issue 20, item 3: the
# central hash regresses while the calculators retry onto the promoted replica; the fence
# refuses the raise and the gap check re-applies the range)
VICTIMS = {
    "agency": (VICTIM_TAG, f"*applied:{VICTIM_TAG}"),
    "central": ("applied:offsets", "*applied:offsets"),
}


def _watched(port: int, pattern: str) -> dict[bytes, bytes]:
    """The applied offsets under ``pattern``, read on the primary that holds them."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        found: dict[bytes, bytes] = {}
        for key in client.scan_iter(match=pattern, count=1000):
            found.update({key + b"|" + f: v for f, v in client.hgetall(key).items()})
        return found
    finally:
        client.close()


def _repl_offset(port: int, field: str) -> int:
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        return int(client.info("replication")[field])
    finally:
        client.close()


async def _deficits(url: str, raws: list[dict[str, Any]]) -> dict[str, Any]:
    """Per agency, event ids expected minus counted (for the failure message)."""
    want = Counter(r["agency_code"] for r in {r["event_id"]: r for r in raws}.values())
    client = redis_from_url(url)
    try:
        have = await IndicatorStore(client).applied_events(want)
    finally:
        await client.aclose()
    return {a: n - have[a] for a, n in want.items() if n != have[a]}


@pytest.fixture()
def redis_cluster(tmp_path: Path) -> Any:
    """A fresh 3+3 cluster for each case: the one before lost a primary."""
    cluster = RedisClusterServers(
        tmp_path / "cluster", [(free_port(), free_port()) for _ in range(6)]
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def single(tmp_path: Path) -> Any:
    server = RedisServer(tmp_path / "single", free_port())
    server.start()
    yield server
    server.stop()


# The central case (issue 20, item 3) once lost 838 of 60,000 events under CI load (a
# partition given by a rebalance gap-checked only up to 0, not the committed offset: fixed
# in Checkpoint.reached), and once lost a calculator (uvloop's RuntimeError for a write to
# the killed node aborted the batch: now retried, test_redis_gone.py). Since both fixes:
# 16 runs of 16 under load, both cases.
CASES = ["agency", "central"]


@pytest.mark.parametrize("victim_holds", CASES)
def test_primary_failover_mid_replay_loses_nothing(
    victim_holds: str,
    kafka_broker: Any,
    redis_cluster: RedisClusterServers,
    service_factory: ServiceFactory,
    isolated: dict[str, Any],
    single: RedisServer,
) -> None:
    raws = list(itertools.islice(YearStream(lifecycle_fraction=0.15).events(), EVENTS))
    distinct = len({r["event_id"] for r in raws})
    expected = asyncio.run(reference_snapshot(single.url, parse(raws)))
    topics = isolated["topics"]
    asyncio.run(produce_in_batches(raws, kafka_broker.bootstrap, Settings(topics=topics)))
    env = {**isolated["env"], "EGOV_REDIS_URL": redis_cluster.url}
    calculators = [service_factory("calculator", env) for _ in range(3)]

    def handled() -> float:
        return sum(
            _metric(c.metrics_url, "egov_calculator_events_applied_total{")
            + _metric(c.metrics_url, "egov_calculator_duplicates_total{")
            for c in calculators
        )

    deadline = time.monotonic() + 300
    while handled() < 0.3 * len(raws):
        assert time.monotonic() < deadline, "the calculators did not start applying"
        time.sleep(0.2)
    victim_key, watched = VICTIMS[victim_holds]
    victim = redis_cluster.primary_of(victim_key)
    replica_port = redis_cluster.topology()[victim.port][0]
    replica = next(n for n in redis_cluster.nodes if n.port == replica_port)
    assert victim.process is not None and replica.process is not None
    assert replica.process.pid is not None
    # freeze the replica, cut its link: what the primary takes from now on, it alone has.
    # The calculators write in bursts (a whole fetch per batch): a window in which no batch
    # was acknowledged on the victim (the applied offsets it holds unchanged) is undone (the
    # replica resumes and catches up) and tried again.
    applied_moved = False
    for _attempt in range(30):
        os.kill(replica.process.pid, signal.SIGSTOP)
        try:
            control = redis.Redis(host="127.0.0.1", port=victim.port, socket_timeout=2)
            control.client_kill_filter(_type="replica")
            control.close()
            cut_at = _repl_offset(victim.port, "master_repl_offset")
            applied_at_cut = _watched(victim.port, watched)
            time.sleep(CUT_OFF_S)
            killed_offset = _repl_offset(victim.port, "master_repl_offset")
            applied_moved = _watched(victim.port, watched) != applied_at_cut
            if killed_offset > cut_at and applied_moved:
                victim.kill()  # SIGKILL
                killed_at = time.monotonic()
                break
        finally:
            os.kill(replica.process.pid, signal.SIGCONT)
        time.sleep(1.0)  # the replica reconnects and catches up before the next window
    time.sleep(0.3)
    kept = _repl_offset(replica.port, "slave_repl_offset")
    lost_bytes = killed_offset - kept
    assert applied_moved and killed_offset > cut_at and lost_bytes > 0, (
        cut_at,
        killed_offset,
        kept,
    )
    failover_s = redis_cluster.wait_failover(victim)

    ids, got = wait_equal(redis_cluster.url, expected, 150, distinct)
    recovery_s = time.monotonic() - killed_at
    assert distinct - ids == 0, asyncio.run(_deficits(redis_cluster.url, raws))
    assert got == expected
    assert all(c.process.alive for c in calculators)
    regapplied = sum(
        _metric(c.metrics_url, "egov_calculator_gap_records_total ") for c in calculators
    )
    assert regapplied > 0  # the lost writes were found and re-applied from the log

    REPORT.parent.mkdir(parents=True, exist_ok=True)
    row = {
        "fault": "Redis Cluster primary SIGKILLed mid-replay, its replica cut off 0.8 s "
        "before (3 primaries + 3 replicas, 3 calculators)"
        + ("; the primary of the central applied offsets" if victim_holds == "central" else ""),
        "events_in": distinct,
        "events_counted": ids,
        "difference": distinct - ids,
        "recovery_s": round(recovery_s, 1),
        "failover_s": round(failover_s, 1),
        "replication_bytes_lost": lost_bytes,
        "records_reapplied": int(regapplied),
    }
    with REPORT.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(row)
