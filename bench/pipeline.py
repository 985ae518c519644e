"""Benchmark of the pipeline on this machine (see bench/README.md). Prints its figures.

1. Calculator alone: every event of the simulated year 2024 is produced to Kafka once;
   then for each N of ``BENCH_CALCULATORS`` (e.g. ``1,2,3``) N calculator processes in a
   fresh consumer group apply them all to an emptied Redis. Sustained events/s is measured
   once every calculator joined (from its first applied event otherwise) to the last; CPU
   of the calculators, the broker and Redis over the same window. One table.
2. End to end: ``BENCH_E2E_EVENTS`` events of the year POSTed to ingest in batches of
   ``BENCH_E2E_BATCH`` by ``BENCH_E2E_CLIENTS`` concurrent clients, through Kafka and the
   calculator(s), until the API shows the figure of a probe posted after every event was
   applied: events/s from the first POST to that figure.
3. Freshness: ingest receives a steady ``BENCH_RATE`` events/s; every 200 ms a probe event
   for a day of its own is posted and the API polled until the figure shows it (asking
   ``Cache-Control: no-cache``: a reader without it may see it up to ``EGOV_API_STALE_MS``
   later).

``BENCH_EVENTS`` caps the events taken from the year (a short run while other work shares
the machine); ``BENCH_LIFECYCLE`` is the year's lifecycle fraction.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import orjson
import redis
from confluent_kafka import Producer
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from bench.procstat import cpu_reference_s, cpu_seconds, rss_mb, tree_cpu_seconds
from devstack.kafka import KafkaBroker
from devstack.ports import free_port
from devstack.redis import RedisClusterServers, RedisServer
from devstack.services import start_service
from devstack.topics import create_topics
from shared.platform.config import Settings
from shared.store import keys as redis_keys
from shared.store.client import sync_redis_from_url
from simulator.appendix2024 import YearStream
from simulator.replay import key_for, topic_for
from tests.factories import received

LIFECYCLE = float(os.environ.get("BENCH_LIFECYCLE", "1.0"))
EVENTS = int(os.environ.get("BENCH_EVENTS", "0")) or None  # None: the whole year
RATE = int(os.environ.get("BENCH_RATE", "1000"))
FRESHNESS_SECONDS = int(os.environ.get("BENCH_FRESHNESS_SECONDS", "60"))
# Calculator processes in one consumer group, one run each (the topics have 6 partitions).
CALCULATORS = [int(n) for n in os.environ.get("BENCH_CALCULATORS", "1,2,3").split(",")]
E2E_EVENTS = int(os.environ.get("BENCH_E2E_EVENTS", "200000"))
E2E_BATCH = int(os.environ.get("BENCH_E2E_BATCH", "2000"))
E2E_CLIENTS = int(os.environ.get("BENCH_E2E_CLIENTS", "4"))
E2E_CALCULATORS = int(os.environ.get("BENCH_E2E_CALCULATORS", "1"))
# py-spy (pip install py-spy) samples the single calculator run: its top frames are printed
PROFILE = os.environ.get("BENCH_PROFILE", "") == "1"
# 1: the calculator-alone runs apply into a Redis Cluster (3 primaries + 3 replicas, the
# devstack profile) instead of one server; Redis CPU is then the six nodes' sum
REDIS_CLUSTER = os.environ.get("BENCH_REDIS_CLUSTER", "") == "1"
POLL_S = 2.0
ID_FIELDS = {"event_id", "dossier_id", "document_id", "work_file_id"}
READ = {"Authorization": "Bearer dev-read-token"}
# a probe reads after its own write: it asks for the figures of now, not an answer up to
# EGOV_API_STALE_MS old (services/api/response_cache.py) — the pipeline's latency is measured
FRESH = {**READ, "Cache-Control": "no-cache"}
INGEST = {"Authorization": "Bearer dev-ingest-token", "content-type": "application/json"}


def year_events() -> Iterator[dict[str, Any]]:
    events = YearStream(lifecycle_fraction=LIFECYCLE).events()
    return itertools.islice(events, EVENTS) if EVENTS else events


def metric_sum(metrics_url: str, prefixes: tuple[str, ...]) -> float:
    return sum_in(httpx.get(metrics_url, timeout=5).text, prefixes)


def sum_in(text: str, prefixes: tuple[str, ...]) -> float:
    """The sum of the samples of an exposition ``text`` whose lines start with a prefix."""
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefixes)
    )


def counted_in_redis(
    redis_srv: RedisServer | RedisClusterServers, agencies: Collection[str] | None = None
) -> int:
    """Events applied, as Redis counts them (each agency's ``stat`` hash: distinct event ids
    applied). Polling it costs the calculators nothing; rendering a calculator's /metrics
    costs it ~40 ms of CPU (Prometheus scrapes every 15 s; a bench polling every 50 ms
    took most of a core from the calculator it measured). ``agencies``: their hashes are
    read directly; ``None``: found by a SCAN of every key, which costs Redis about a
    millisecond per 10,000 keys (the year's ~300,000 keys every poll: Redis CPU the run
    would count as the calculators')."""
    client = sync_redis_from_url(redis_srv.url)
    try:
        if agencies is None:
            keys = list(client.scan_iter(match="*stat:{*", count=1_000))
        else:
            raw = client.get(redis_keys.KEYSPACE_CURRENT)
            ks = raw.decode() if isinstance(raw, bytes) else ""
            keys = [redis_keys.stats(agency, ks) for agency in agencies]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(key, "events")
        return sum(int(v or 0) for v in pipe.execute())
    finally:
        client.close()


def command_stats(redis_srv: RedisServer | RedisClusterServers) -> dict[str, tuple[int, float]]:
    """Redis' commands so far (``INFO commandstats``, summed over a cluster's nodes): per
    command, its calls and µs (a script's commands count in the script's too)."""
    nodes = redis_srv.nodes if isinstance(redis_srv, RedisClusterServers) else [redis_srv]
    out: dict[str, tuple[int, float]] = {}
    for node in nodes:
        client = redis.Redis.from_url(node.url)
        try:
            stats = client.info("commandstats")
        finally:
            client.close()
        for name, row in stats.items():
            calls, usec = out.get(name, (0, 0.0))
            out[name] = (calls + int(row["calls"]), usec + float(row["usec"]))
    return out


def produce_year(bootstrap: str, settings: Settings) -> tuple[int, float, int]:
    """(events, seconds, dossiers) of the year produced to Kafka (bench.restore uses it)."""
    year = produce_year_ids(bootstrap, settings)
    return year.events, year.seconds, year.dossiers


class Produced(NamedTuple):
    events: int
    seconds: float
    dossiers: int
    distinct: int  # distinct event ids
    agencies: frozenset[str]


def produce_year_ids(bootstrap: str, settings: Settings) -> Produced:
    """The year produced to Kafka, by librdkafka with the Java client's partitioner (as
    ingest: kafka-python took 4 minutes)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 50,
            "batch.size": 1024 * 1024,
            "partitioner": "murmur2_random",
        }
    )
    failed: list[Any] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(err)

    started = time.perf_counter()
    n = 0
    dossiers: set[str] = set()
    ids: set[str] = set()
    agencies: set[str] = set()
    for event in year_events():
        value = orjson.dumps(event)
        topic, key = topic_for(event, settings), key_for(event)
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.05)
        if event["event_type"] == "received":
            dossiers.add(event["dossier_id"])
        ids.add(event["event_id"])
        agencies.add(event["agency_code"])
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    if producer.flush(600) or failed:
        raise RuntimeError(f"the year was not all produced: {failed[:3]}")
    seconds = time.perf_counter() - started
    return Produced(n, seconds, len(dossiers), len(ids), frozenset(agencies))


@dataclass
class Run:
    calculators: int
    events: float
    seconds: float
    calc_cpu: float
    broker_cpu: float
    redis_cpu: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


class Cpu:
    """CPU seconds of the calculators, the broker (JVM) and Redis since ``mark``."""

    def __init__(self, calc_pids: list[int], broker_pid: int, redis_pids: list[int]) -> None:
        self.calc_pids, self.broker_pid, self.redis_pids = calc_pids, broker_pid, redis_pids
        self.mark()

    def read(self) -> tuple[float, float, float]:
        return (
            sum(cpu_seconds(p) for p in self.calc_pids),
            tree_cpu_seconds(self.broker_pid),
            sum(cpu_seconds(p) for p in self.redis_pids),
        )

    def mark(self) -> None:
        self.at = self.read()

    def since(self) -> tuple[float, float, float]:
        now = self.read()
        return (now[0] - self.at[0], now[1] - self.at[1], now[2] - self.at[2])


def pid_of(process: Any) -> int:
    pid = process.process.pid if process.process is not None else None
    assert pid is not None, f"{process} is not running"
    return int(pid)


def run_calculators(
    n_calcs: int,
    expected: int,
    agencies: Collection[str],
    env: dict[str, str],
    work: Path,
    kafka: Any,
    redis_srv: Any,
) -> Run:
    """N calculators in a fresh group apply the produced year to an emptied Redis."""
    flush(redis_srv)
    env = {**env, "EGOV_CALCULATOR_GROUP": f"bench-calc-{n_calcs}-{uuid.uuid4().hex[:8]}"}
    calcs = [
        start_service("calculator", free_port(), env, work / "logs", wait=False)
        for _ in range(n_calcs)
    ]
    try:
        for calc in calcs:
            calc.wait_healthy()
        pids = [pid_of(c) for c in calcs]
        cpu = Cpu(pids, pid_of(kafka), redis_pids(redis_srv))
        spy = profile_start(pids[0], work) if PROFILE and n_calcs == 1 else None
        start: tuple[float, float] | None = None
        peak_rss = 0.0
        deadline = time.monotonic() + 3600
        # Progress read from Redis (counted_in_redis), every POLL_S. The run ends at the last
        # batch's own timestamp (egov_calculator_last_applied_timestamp_seconds), not at
        # the poll.
        while time.monotonic() < deadline:
            done = counted_in_redis(redis_srv, agencies)
            now = time.time()
            if start is None and done > 0:
                start = (now, done)
                cpu.mark()
                commands = command_stats(redis_srv)
            peak_rss = max(peak_rss, sum(rss_mb(p) for p in pids))
            if done >= expected:
                break
            time.sleep(POLL_S if start is not None else 0.1)
        assert start is not None, "nothing was applied"
        # each calculator's metrics rendered once (it costs the calculator CPU)
        texts = [httpx.get(f"{c.url}/metrics", timeout=5).text for c in calcs]

        def total(*prefixes: str) -> float:
            return sum(sum_in(text, prefixes) for text in texts)

        now = max(
            sum_in(text, ("egov_calculator_last_applied_timestamp_seconds ",)) for text in texts
        )
        calc_cpu, broker_cpu, redis_cpu = cpu.since()
        since = command_stats(redis_srv)
        if spy is not None:
            profile_report(spy, work)
        batches = total("egov_calculator_batch_seconds_count")
        batch_s = total("egov_calculator_batch_seconds_sum")
        print(
            f"    {batches:,.0f} batches of {done / max(batches, 1):,.0f} events on average, "
            f"{1000 * batch_s / max(batches, 1):.0f} ms each from decoding to Redis' answer"
        )
        sources = {
            source: total(f'egov_calculator_entity_states_total{{source="{source}"}}')
            for source in ("known", "new", "read")
        }
        conflicts = total("egov_calculator_apply_conflicts_total")
        print(
            "    entity states: "
            + ", ".join(f"{n:,.0f} {source}" for source, n in sources.items())
            + f"; apply conflicts {conflicts:,.0f}"
        )
        spent = {
            name.removeprefix("cmdstat_"): (
                calls - commands.get(name, (0, 0.0))[0],
                usec - commands.get(name, (0, 0.0))[1],
            )
            for name, (calls, usec) in since.items()
        }
        top = sorted(spent.items(), key=lambda kv: -kv[1][1])[:6]
        print(
            "    Redis commands, µs per event (a script's commands count in it too): "
            + ", ".join(
                f"{name} {usec / (done - start[1]):.2f} ({calls:,})" for name, (calls, usec) in top
            )
        )
        return Run(
            n_calcs, done - start[1], now - start[0], calc_cpu, broker_cpu, redis_cpu, peak_rss
        )
    finally:
        for calc in calcs:
            calc.process.stop()


def redis_pids(redis_srv: RedisServer | RedisClusterServers) -> list[int]:
    if isinstance(redis_srv, RedisClusterServers):
        return [pid_of(node) for node in redis_srv.nodes]
    return [pid_of(redis_srv)]


def flush(redis_srv: RedisServer | RedisClusterServers) -> None:
    if isinstance(redis_srv, RedisClusterServers):
        cluster = sync_redis_from_url(redis_srv.url)
        cluster.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        cluster.close()
        return
    client = redis.Redis.from_url(redis_srv.url)
    client.flushall()
    client.close()


def used_memory(redis_srv: RedisServer | RedisClusterServers) -> int:
    """Bytes used by the data (on a cluster: the primaries')."""
    if isinstance(redis_srv, RedisClusterServers):
        cluster = sync_redis_from_url(redis_srv.url)
        info = cluster.info("memory", target_nodes=redis.RedisCluster.PRIMARIES)
        cluster.close()
        return sum(int(node["used_memory"]) for node in info.values())
    client = redis.Redis.from_url(redis_srv.url)
    used = int(client.info("memory")["used_memory"])
    client.close()
    return used


def profile_start(pid: int, work: Path) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")  # the venv's (dev dependency)
    argv = [
        str(spy) if spy.exists() else "py-spy",
        "record",
        "--pid",
        str(pid),
        "--format",
        "raw",
        "--rate",
        "200",
    ]
    return subprocess.Popen(
        [*argv, "--nonblocking", "-o", str(work / "profile.txt")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile_report(spy: subprocess.Popen[bytes], work: Path, top: int = 40) -> None:
    """Share of samples per frame, inclusive (a frame anywhere in the stack) and self."""
    spy.send_signal(signal.SIGINT)
    spy.wait(60)
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in (work / "profile.txt").read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [
            f.split(" (")[0] + " " + f.rsplit("/", 1)[-1].split(":")[0] for f in stack.split(";")
        ]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"    py-spy: {total} samples of the calculator's threads")
    for name, n in inclusive.most_common(top):
        print(f"      {100 * n / total:5.1f}% incl {100 * own[name] / total:5.1f}% self  {name}")


def print_table(runs: list[Run]) -> None:
    print(
        "\ncalculator alone (Kafka → Redis), simulated year; CPU in % of one core over the "
        "measured window; µs/event: CPU time per event applied (Redis with AOF)"
    )
    print(
        f"{'calculators':>11} {'events':>10} {'seconds':>8} {'events/s':>9} {'speed-up':>8} "
        f"{'calc CPU':>9} {'µs/event':>8} {'broker CPU':>10} {'Redis CPU':>9} "
        f"{'Redis µs/event':>14} {'RSS MB':>7}"
    )
    base = runs[0].rate / runs[0].calculators if runs else 1.0
    for r in runs:
        print(
            f"{r.calculators:>11} {r.events:>10,.0f} {r.seconds:>8.1f} {r.rate:>9,.0f} "
            f"{r.rate / base:>7.2f}× {100 * r.calc_cpu / r.seconds:>8.0f}% "
            f"{1e6 * r.calc_cpu / r.events:>8.1f} {100 * r.broker_cpu / r.seconds:>9.0f}% "
            f"{100 * r.redis_cpu / r.seconds:>8.0f}% {1e6 * r.redis_cpu / r.events:>14.1f} "
            f"{r.peak_rss_mb:>7.0f}"
        )


async def post_all(ingest_url: str, events: list[dict[str, Any]]) -> tuple[float, int]:
    """POST the events in batches with concurrent clients; (first POST time, rejected)."""
    bodies = [orjson.dumps(events[i : i + E2E_BATCH]) for i in range(0, len(events), E2E_BATCH)]
    queue = iter(bodies)
    rejected = 0
    first = time.perf_counter()
    async with httpx.AsyncClient(timeout=120) as client:

        async def worker() -> None:
            nonlocal rejected
            for body in queue:
                while True:
                    resp = await client.post(
                        f"{ingest_url}/v1/events", content=body, headers=INGEST
                    )
                    if resp.status_code in (429, 503):
                        await asyncio.sleep(0.2)
                        continue
                    if resp.status_code not in (200, 202):
                        rejected += 1
                        print(f"  rejected: {resp.status_code} {resp.text[:300]}")
                    break

        await asyncio.gather(*(worker() for _ in range(E2E_CLIENTS)))
    return first, rejected


async def probe_figure(ingest_url: str, api_url: str, day: int) -> float:
    """Post one event for a day of its own; the time the API shows it."""
    date = time.strftime("%Y-%m-%d", time.gmtime(1420070400 + 86400 * (day % 3000)))
    event = received(
        agency="so-tttt", dossier=f"probe-{uuid.uuid4().hex}", at=f"{date}T10:00:00+07:00"
    )
    async with httpx.AsyncClient(timeout=30) as client:
        await client.post(f"{ingest_url}/v1/events", content=orjson.dumps([event]), headers=INGEST)
        polls = 0
        while True:
            resp = await client.get(
                f"{api_url}/v1/indicators/full_online_rate",
                params={"scope": "so-tttt", "period": date},
                headers=FRESH,
            )
            if resp.status_code == 200 and resp.json()["denominator"] >= 1:
                return time.perf_counter()
            if resp.status_code not in (200, 429):
                raise RuntimeError(f"API answered {resp.status_code}: {resp.text[:300]}")
            # every 5 ms for the first 100 ms, then every 25 ms (the read token's rate limit)
            polls += 1
            await asyncio.sleep(0.005 if polls < 20 else 0.025)


def group_at_end(bootstrap: str, group: str, settings: Settings) -> None:
    """Commit ``group``'s offsets at the end of the event topics: its calculators start
    after the year produced for part 1 (they apply only what is POSTed next)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    topics = [settings.topics.dossier, settings.topics.document]
    parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
    ends = consumer.end_offsets(parts)
    consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in ends.items()})
    consumer.close()


def end_to_end(
    env: dict[str, str], work: Path, kafka: Any, redis_srv: Any, settings: Settings
) -> None:
    # the year's first events under new ids (part 1 applied the originals to this Redis)
    events = [
        {k: f"{v}-e2e" if k in ID_FIELDS else v for k, v in e.items()}
        for e in itertools.islice(YearStream(lifecycle_fraction=LIFECYCLE).events(), E2E_EVENTS)
    ]
    distinct = len({e["event_id"] for e in events})
    agencies = {e["agency_code"] for e in events}
    # Redis keeps the year of part 1 (and its applied offsets): emptied, the calculator's
    # gap check would rightly re-apply the whole topic before the POSTed events
    env = {**env, "EGOV_CALCULATOR_GROUP": f"bench-e2e-{uuid.uuid4().hex[:8]}"}
    group_at_end(kafka.bootstrap, env["EGOV_CALCULATOR_GROUP"], settings)
    services = [
        start_service("calculator", free_port(), env, work / "logs") for _ in range(E2E_CALCULATORS)
    ]
    try:
        ingest = start_service("ingest", free_port(), env, work / "logs")
        api = start_service("api", free_port(), env, work / "logs")
        services += [ingest, api]
        cpu = Cpu([pid_of(c) for c in services], pid_of(kafka), [pid_of(redis_srv)])
        own = {s.name: cpu_seconds(pid_of(s)) for s in services[-2:]}
        print(
            f"\nend to end: {len(events):,} events POSTed in batches of {E2E_BATCH:,} by "
            f"{E2E_CLIENTS} clients → ingest → Kafka → {E2E_CALCULATORS} calculator(s) → API…",
            flush=True,
        )
        before = counted_in_redis(redis_srv, agencies)  # part 1's events
        spy = profile_start(pid_of(services[0]), work) if PROFILE else None
        first, rejected = asyncio.run(post_all(ingest.url, events))
        posted = time.perf_counter()
        while counted_in_redis(redis_srv, agencies) - before < distinct:
            time.sleep(0.05)
        applied = time.perf_counter()
        if spy is not None:
            profile_report(spy, work)  # the first calculator's, POSTs to the last event
        shown = asyncio.run(probe_figure(ingest.url, api.url, 2999))
        wall = shown - first
        services_cpu, broker_cpu, redis_cpu = cpu.since()
        batches = sum(
            metric_sum(f"{c.url}/metrics", ("egov_calculator_batch_seconds_count",))
            for c in services[:E2E_CALCULATORS]
        )
        print(
            f"  {len(events):,} events in {wall:.1f}s = {len(events) / wall:,.0f} events/s "
            f"(all POSTed after {posted - first:.1f}s = {len(events) / (posted - first):,.0f}/s, "
            f"applied after {applied - first:.1f}s, probe figure shown {shown - applied:.2f}s "
            f"later; {rejected} requests rejected; {batches:,.0f} calculator batches of "
            f"{len(events) / max(batches, 1):,.0f} events on average)"
        )
        own = {name: cpu_seconds(pid_of(s)) - own[name] for s in services[-2:] for name in [s.name]}
        calc_cpu = services_cpu - sum(own.values())
        print(
            f"  CPU over the run, % of one core: ingest {100 * own['ingest'] / wall:.0f}% "
            f"({1e6 * own['ingest'] / len(events):.0f} µs/event), calculator "
            f"{100 * calc_cpu / wall:.0f}%, API {100 * own['api'] / wall:.0f}%, "
            f"broker {100 * broker_cpu / wall:.0f}%, Redis {100 * redis_cpu / wall:.0f}%"
        )
    finally:
        for service in services:
            service.process.stop()


async def freshness(ingest_url: str, api_url: str) -> list[float]:
    latencies: list[float] = []
    stop = time.monotonic() + FRESHNESS_SECONDS
    async with httpx.AsyncClient(timeout=30) as client:

        async def load() -> None:
            while time.monotonic() < stop:
                tick = time.monotonic()
                batch = [
                    received(
                        agency="so-y-te",
                        dossier=f"load-{uuid.uuid4().hex}",
                        at="2025-06-02T09:00:00+07:00",
                    )
                    for _ in range(RATE // 10)
                ]
                await client.post(
                    f"{ingest_url}/v1/events", content=orjson.dumps(batch), headers=INGEST
                )
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))

        async def probe() -> None:
            day = 0
            while time.monotonic() < stop:
                started = time.perf_counter()
                latencies.append(await probe_figure(ingest_url, api_url, day) - started)
                day += 1
                await asyncio.sleep(0.2)

        await asyncio.gather(load(), probe())
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    # SIGTERM (timeout, kill) stops the servers started here like Ctrl-C does
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="egov-bench-"))
    print(f"work directory (logs): {work}")
    print(f"CPU reference (bench.procstat.cpu_reference_s): {cpu_reference_s():.2f} s")
    settings = Settings()
    kafka = KafkaBroker(work / "kafka", free_port(), free_port(), heap="1g")
    kafka.start()
    redis_srv = RedisServer(work / "redis", free_port())
    redis_srv.start()
    create_topics(kafka.bootstrap, settings)
    env = {
        "EGOV_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "EGOV_REDIS_URL": redis_srv.url,
        "EGOV_FAUST_DATA_DIR": str(work / "faust"),
        "EGOV_LOG_LEVEL": "WARNING",
    }
    services: list[Any] = []
    try:
        limit = f", first {EVENTS:,} events" if EVENTS else ""
        print(f"producing the year 2024 (lifecycle fraction {LIFECYCLE}{limit}) to Kafka…")
        n, produce_s, dossiers, distinct, agencies = produce_year_ids(kafka.bootstrap, settings)
        print(
            f"  produced {n:,} events ({distinct:,} distinct ids, {dossiers:,} dossiers) in "
            f"{produce_s:.1f}s = {n / produce_s:,.0f} events/s (librdkafka producer)",
            flush=True,
        )
        runs: list[Run] = []
        used = 0
        target: RedisServer | RedisClusterServers = redis_srv
        calc_env = env
        if REDIS_CLUSTER:
            target = RedisClusterServers(
                work / "redis-cluster", [(free_port(), free_port()) for _ in range(6)]
            )
            target.start()
            calc_env = {**env, "EGOV_REDIS_URL": target.url}
            print(f"  Redis Cluster: {len(target.nodes) // 2} primaries + replicas", flush=True)
        try:
            for n_calcs in CALCULATORS:
                print(f"  {n_calcs} calculator(s)…", flush=True)
                runs.append(
                    run_calculators(n_calcs, distinct, agencies, calc_env, work, kafka, target)
                )
                if not used:
                    used = used_memory(target)
        finally:
            if target is not redis_srv:
                target.stop()
        print_table(runs)
        print(
            f"Redis used memory {used / 2**20:,.0f} MB = "
            f"{used / dossiers * 100_000 / 2**20:,.1f} MB per 100,000 dossiers"
        )
        if E2E_EVENTS:
            end_to_end(env, work, kafka, redis_srv, settings)
        if FRESHNESS_SECONDS:
            env = {**env, "EGOV_CALCULATOR_GROUP": f"bench-fresh-{uuid.uuid4().hex[:8]}"}
            group_at_end(kafka.bootstrap, env["EGOV_CALCULATOR_GROUP"], settings)
            calc = start_service("calculator", free_port(), env, work / "logs")
            ingest = start_service("ingest", free_port(), env, work / "logs")
            api = start_service("api", free_port(), env, work / "logs")
            services += [calc, ingest, api]
            print(f"\nfreshness at {RATE} events/s through ingest for {FRESHNESS_SECONDS}s…")
            lat = asyncio.run(freshness(ingest.url, api.url))
            print(
                f"  {len(lat)} probes: p50 {1000 * statistics.median(lat):.0f} ms, "
                f"p99 {1000 * percentile(lat, 99):.0f} ms, max {1000 * max(lat):.0f} ms"
            )
    finally:
        for service in services:
            service.process.stop()
        redis_srv.stop()
        kafka.stop()


if __name__ == "__main__":
    main()
