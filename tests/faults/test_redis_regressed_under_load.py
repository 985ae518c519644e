"""Redis SIGKILLed under continuous load, its AOF cut back by about a second, restarted
within a second (issue 20, item 3): the client's reconnect retry sends the batch in flight
(and its raise of the central ``applied:offsets``) to a Redis that lost its last second,
with no gap check in between. The central raise is fenced (``shared.store.indicator_store``:
it never moves past a value lower than the one this calculator last wrote or read), so the
next gap check replays what the regressed Redis lost: events in − events counted = 0 for
every agency and every counter equals a clean pass. The row goes to
``.run/fault-report.jsonl``."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from devstack.redis import RedisServer
from tests.faults.test_calculator_faults import (
    _incr_aof,
    counted,
    distinct_ids,
    own_redis,  # noqa: F401  (the fixture)
    produce,
    report,
    wait_equal,
)
from tests.faults.test_redis_cluster_failover import _deficits
from tests.integration.test_exactly_once import event_stream, parse, reference_snapshot

pytestmark = pytest.mark.integration

DOSSIERS = 5_000  # ~8,500 events, a backlog the calculator applies at full speed
KILLS = 2  # two crashes, at 30 % and 60 % of the stream
LOST_S = 1.0  # how much of the AOF's tail the crash loses


class AofSizes:
    """The incremental AOF's size every 20 ms (what the file held a second ago)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.samples: list[tuple[float, Path, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                aof = _incr_aof(self.data_dir)
                self.samples.append((time.monotonic(), aof, aof.stat().st_size))
            except (AssertionError, OSError):
                pass
            time.sleep(0.02)

    def size_before(self, at: float) -> tuple[Path, int] | None:
        """The incremental AOF and its size at ``at`` (None if it was another file)."""
        last = self.samples[-1]
        for t, aof, size in reversed(self.samples):
            if t <= at:
                return (aof, size) if aof == last[1] else None
        return None


def applied(url: str, raws: list[dict[str, Any]]) -> int:
    """Event ids counted so far (light enough to poll under load)."""
    missing: dict[str, int] = asyncio.run(_deficits(url, raws))
    return distinct_ids(raws) - sum(missing.values())


def test_redis_regressed_by_a_second_under_load_loses_nothing(
    isolated: dict[str, Any],
    service_factory: Any,
    own_redis: RedisServer,  # noqa: F811
) -> None:
    # the sources send in turn (a stable sort keeps each dossier's order): the batch in
    # flight at the crash holds other agencies than the second the crash loses
    raws = sorted(event_stream(DOSSIERS, seed=61), key=lambda r: str(r["agency_code"]))
    expected = asyncio.run(reference_snapshot(isolated["redis_url"], parse(raws)))
    topic = isolated["topics"].dossier
    produce(isolated["bootstrap"], topic, raws)  # a backlog: the calculator never idles
    events_in = distinct_ids(raws)
    env = {**isolated["env"], "EGOV_REDIS_URL": own_redis.url}
    calculator = service_factory("calculator", env)
    sizes = AofSizes(own_redis.data_dir)
    sizes.thread.start()
    cut_bytes: list[int] = []
    started = time.monotonic()
    try:
        for k in range(KILLS):
            deadline = time.monotonic() + 120
            # a crash at 30 %, then at 60 % of the stream, the calculator applying
            while applied(own_redis.url, raws) < events_in * 0.3 * (k + 1):
                assert time.monotonic() < deadline, "the calculator did not get there"
                time.sleep(0.05)
            before = sizes.size_before(time.monotonic() - LOST_S)
            own_redis.kill()  # SIGKILL under load: a batch is in flight
            if before is not None:
                aof, keep = before
                cut_bytes.append(aof.stat().st_size - keep)
                with aof.open("r+b") as f:
                    f.truncate(keep)  # the last second never reached the disk
            own_redis.start()  # back within a second (aof-load-truncated)
    finally:
        sizes.stop.set()
    assert cut_bytes and all(b > 0 for b in cut_bytes), cut_bytes
    ids, got = wait_equal(own_redis.url, expected, 60, events_in)
    recovery_s = time.monotonic() - started
    assert asyncio.run(_deficits(own_redis.url, raws)) == {}
    assert events_in - ids == 0
    assert got == expected
    assert calculator.process.alive
    assert counted(own_redis.url)[0] == ids
    report(
        f"Redis SIGKILLed {len(cut_bytes)}× under load, AOF cut back ~{LOST_S:.0f} s "
        f"({sum(cut_bytes) // 1024} KB), restarted within a second",
        events_in,
        ids,
        recovery_s,
    )
