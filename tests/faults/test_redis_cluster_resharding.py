"""Live resharding (issue 20, item 4): the apply script declares every key it writes, so
while ``redis-cli --cluster reshard`` moves slots between primaries a call is refused
whole (ASK / TRYAGAIN / MOVED, redone by the client or, like a calculator's failed batch,
applied again) and never half-written. The six agencies' year applied while 2,000 slots
(one agency's among them) move away and back gives every figure of a single-server pass."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from typing import Any

import pytest
import redis

from devstack.ports import free_port
from devstack.redis import RedisClusterServers, RedisServer
from shared.contract.events import Event
from shared.store import keys as redis_keys
from shared.store.client import redis_from_url
from shared.store.indicator_store import IndicatorStore
from tests.integration.test_redis_cluster import figures, parse, raw_events

pytestmark = pytest.mark.integration


def node_ids(cluster: RedisClusterServers) -> dict[int, str]:
    """Port → node id of the primaries holding slots."""
    out: dict[int, str] = {}
    for port in cluster.topology():
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
        out[port] = client.execute_command("CLUSTER", "MYID").decode()  # type: ignore[no-untyped-call]
        client.close()
    return out


def owner_of(cluster: RedisClusterServers, agency: str) -> int:
    return cluster.primary_of(redis_keys.counters_prefix(agency)).port


def slots_to_move(port: int, agency: str) -> int:
    """How many of the primary's slots, lowest first (the order ``reshard`` takes them),
    reach the agency's slot: moving that many moves the agency."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    try:
        slot = int(client.execute_command("CLUSTER", "KEYSLOT", redis_keys.counters_prefix(agency)))  # type: ignore[no-untyped-call]
        owned: list[int] = []
        for start, end, *nodes in client.execute_command("CLUSTER", "SLOTS"):  # type: ignore[no-untyped-call]
            if int(nodes[0][1]) == port:
                owned += range(int(start), int(end) + 1)
    finally:
        client.close()
    owned.sort()
    return owned.index(slot) + 1


def cluster_agrees(entry: int, timeout: float = 60.0) -> bool:
    """``redis-cli --cluster check``: every node agrees on the slots, none open (migrating)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["redis-cli", "--cluster", "check", f"127.0.0.1:{entry}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode == 0 and "[ERR]" not in done.stdout:
            return True
        time.sleep(0.5)
    return False


def reshard(entry: int, source: str, target: str, slots: int) -> subprocess.CompletedProcess[str]:
    assert cluster_agrees(entry), "the cluster did not settle"
    return subprocess.run(
        [
            "redis-cli",
            "--cluster",
            "reshard",
            f"127.0.0.1:{entry}",
            "--cluster-from",
            source,
            "--cluster-to",
            target,
            "--cluster-slots",
            str(slots),
            "--cluster-yes",
            "--cluster-pipeline",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def apply_through(url: str, events: list[Event], batch: int, stop: threading.Event) -> int:
    """Apply every batch; a batch that fails (a slot moving under it) is applied again,
    as a calculator's failed batch is redelivered. Returns the batches redone."""
    client = redis_from_url(url)
    redone = 0
    try:
        store = IndicatorStore(client)
        for i in range(0, len(events), batch):
            chunk = events[i : i + batch]
            for _ in range(100):
                try:
                    await store.apply_many(chunk, {("t.dossier", 0): i + len(chunk) - 1})
                    break
                except (redis.exceptions.RedisError, RuntimeError):
                    redone += 1
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"batch {i} never applied")
            await asyncio.sleep(0.05)  # keep the stream going while slots move
        stop.set()
        return redone
    finally:
        await client.aclose()


def test_resharding_under_load_keeps_every_figure(
    redis_cluster: RedisClusterServers, tmp_path_factory: pytest.TempPathFactory
) -> None:
    events = parse(raw_events())
    single = RedisServer(tmp_path_factory.mktemp("single"), free_port())
    single.start()
    try:

        async def reference() -> dict[str, Any]:
            client = redis_from_url(single.url)
            store = IndicatorStore(client)
            for i in range(0, len(events), 500):
                await store.apply_many(events[i : i + 500])
            out = await figures(client)
            await client.aclose()
            return out

        want = asyncio.run(reference())
    finally:
        single.stop()

    ids = node_ids(redis_cluster)
    agency = events[len(events) // 2].agency_code
    source = owner_of(redis_cluster, agency)
    target = next(p for p in ids if p != source)
    n_slots = max(2000, slots_to_move(source, agency))
    moves: list[subprocess.CompletedProcess[str]] = []
    owners: list[int] = []
    moved_at: list[float] = []
    back: list[int] = []
    stop = threading.Event()

    def move() -> None:
        time.sleep(0.5)  # the stream under way
        # the source's lowest slots up to the agency's to the target, then the target's
        # lowest up to the agency's back (reshard takes a node's lowest slots first)
        moves.append(reshard(source, ids[source], ids[target], n_slots))
        owners.append(owner_of(redis_cluster, agency))
        moved_at.append(time.monotonic())
        back.append(slots_to_move(target, agency))
        moves.append(reshard(source, ids[target], ids[source], back[0]))
        owners.append(owner_of(redis_cluster, agency))
        moved_at.append(time.monotonic())

    mover = threading.Thread(target=move)
    mover.start()
    started = time.monotonic()
    redone = asyncio.run(apply_through(redis_cluster.url, events, 250, stop))
    stream_end = time.monotonic()
    mover.join(timeout=600)
    took = stream_end - started
    assert [m.returncode for m in moves] == [0, 0], [m.stderr[-2000:] for m in moves]
    assert owners == [target, source]  # the agency's slot moved, and back
    assert moved_at[0] < stream_end, "the slots moved after the stream: no load to test"
    redis_cluster.wait_ok()

    async def read() -> dict[str, Any]:
        client = redis_from_url(redis_cluster.url)
        out = await figures(client)
        await client.aclose()
        return out

    got = asyncio.run(read())
    distinct = len({e.event_id for e in events})
    assert sum(got["events"].values()) == distinct  # events in − events counted = 0
    for part in ("counters", "marks", "paid", "online", "open", "events"):
        assert got[part] == want[part], part
    print(
        f"\nresharding: {len(events):,} events applied in {took:.1f} s while {n_slots:,} + "
        f"{back[0]:,} slots moved ({agency}'s among them, away and back), {redone} batches "
        "redone, every figure equal to a single server"
    )
