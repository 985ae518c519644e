"""Benchmark of the pipeline on this machine (see bench/README.md). Prints its figures.

1. Throughput: every event of the simulated year 2024 is produced to Kafka, then one
   calculator applies them; measured from the calculator's first to its last applied event.
2. Freshness: ingest receives a steady ``RATE`` events/s; every 200 ms a probe event for a
   day of its own is posted and the API polled until the figure shows it.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis
from kafka import KafkaProducer

from bench.procstat import cpu_seconds, rss_mb
from devstack.kafka import KafkaBroker
from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import start_service
from devstack.topics import create_topics
from shared.config import Settings
from simulator.appendix2024 import YearStream
from simulator.replay import key_for, topic_for
from tests.factories import received

LIFECYCLE = float(os.environ.get("BENCH_LIFECYCLE", "1.0"))
RATE = int(os.environ.get("BENCH_RATE", "1000"))
FRESHNESS_SECONDS = int(os.environ.get("BENCH_FRESHNESS_SECONDS", "60"))
# Calculator processes in the one consumer group (the topics have 6 partitions each).
CALCULATORS = int(os.environ.get("BENCH_CALCULATORS", "1"))
READ = {"Authorization": "Bearer dev-read-token"}


def applied_total(metrics_url: str) -> float:
    text = httpx.get(metrics_url, timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(
            ("egov_calculator_events_applied_total{", "egov_calculator_duplicates_total{")
        )
    )


def produce_year(bootstrap: str, settings: Settings) -> tuple[int, float, int]:
    stream = YearStream(lifecycle_fraction=LIFECYCLE)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=50,
        batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    started = time.perf_counter()
    n = 0
    dossiers = set()
    for event in stream.events():
        producer.send(
            topic_for(event, settings),
            key=key_for(event),
            value=orjson.dumps(event),
        )
        if event["event_type"] == "received":
            dossiers.add(event["dossier_id"])
        n += 1
    producer.flush(600)
    producer.close()
    return n, time.perf_counter() - started, len(dossiers)


async def freshness(ingest_url: str, api_url: str) -> list[float]:
    latencies: list[float] = []
    auth = {"Authorization": "Bearer dev-ingest-token", "content-type": "application/json"}
    stop = time.monotonic() + FRESHNESS_SECONDS
    async with httpx.AsyncClient(timeout=30) as client:

        async def load() -> None:
            i = 0
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
                    f"{ingest_url}/v1/events", content=orjson.dumps(batch), headers=auth
                )
                i += 1
                await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))

        async def probe() -> None:
            day = 0
            while time.monotonic() < stop:
                date = time.strftime("%Y-%m-%d", time.gmtime(1420070400 + 86400 * (day % 3000)))
                day += 1
                event = received(
                    agency="so-tttt",
                    dossier=f"probe-{uuid.uuid4().hex}",
                    at=f"{date}T10:00:00+07:00",
                )
                started = time.perf_counter()
                await client.post(
                    f"{ingest_url}/v1/events", content=orjson.dumps([event]), headers=auth
                )
                while True:
                    body = (
                        await client.get(
                            f"{api_url}/v1/indicators/full_online_rate",
                            params={"scope": "so-tttt", "period": date},
                            headers=READ,
                        )
                    ).json()
                    if body["denominator"] >= 1:
                        break
                    await asyncio.sleep(0.005)
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(0.2)

        await asyncio.gather(load(), probe())
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="egov-bench-"))
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
        print(f"producing the year 2024 (lifecycle fraction {LIFECYCLE}) to Kafka…", flush=True)
        n, produce_s, dossiers = produce_year(kafka.bootstrap, settings)
        print(
            f"  produced {n:,} events ({dossiers:,} dossiers) in {produce_s:.1f}s "
            f"= {n / produce_s:,.0f} events/s (kafka-python producer)",
            flush=True,
        )
        calcs = [
            start_service("calculator", free_port(), env, work / "logs") for _ in range(CALCULATORS)
        ]
        services += calcs
        pids = [c.process.pid for c in calcs if c.process.pid is not None]
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        first: float | None = None
        peak_rss = 0.0
        while True:
            done = sum(applied_total(f"{c.url}/metrics") for c in calcs)
            now = time.perf_counter()
            if first is None and done > 0:
                first, first_done = now, done
            peak_rss = max(peak_rss, sum(rss_mb(pid) for pid in pids))
            if done >= n:
                break
            time.sleep(0.5)
        assert first is not None
        wall = now - first
        cpu = sum(cpu_seconds(pid) for pid in pids) - cpu0
        client = redis.Redis.from_url(redis_srv.url)
        used = int(client.info("memory")["used_memory"])
        client.close()
        print(f"throughput ({CALCULATORS} calculator process(es) in one group, Kafka → Redis)")
        print(
            f"  {n - first_done:,.0f} events in {wall:.1f}s = {(n - first_done) / wall:,.0f} "
            f"events/s sustained"
        )
        print(
            f"  calculator CPU {cpu:.1f}s ({100 * cpu / wall:.0f}% of one core), "
            f"peak RSS {peak_rss:.0f} MB"
        )
        print(
            f"  Redis used memory {used / 2**20:,.0f} MB = "
            f"{used / dossiers * 100_000 / 2**20:,.1f} MB per 100,000 dossiers"
        )
        ingest = start_service("ingest", free_port(), env, work / "logs")
        api = start_service("api", free_port(), env, work / "logs")
        services += [ingest, api]
        print(f"freshness at {RATE} events/s through ingest for {FRESHNESS_SECONDS}s…", flush=True)
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
