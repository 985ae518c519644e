"""How the simulated year 2024 spreads over the event topics' partitions, keyed by agency
(before) and by entity (``shared.contract.partitioning``, now): the partition of each event as
Kafka's default partitioner chooses it (murmur2 of the key), per topic and overall.

    python -m bench.partition_spread [--partitions 6] [--lifecycle-fraction 1.0]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from shared.contract.partitioning import partition_of, raw_key, speedup_bound
from shared.platform.config import Settings
from simulator.appendix2024 import YearStream
from simulator.replay import topic_for


def measure(partitions: int, lifecycle_fraction: float) -> dict[str, dict[str, Counter[int]]]:
    """``{"agency"|"entity": {topic|"all": events per partition}}``."""
    settings = Settings()
    counts: dict[str, dict[str, Counter[int]]] = {"agency": {}, "entity": {}}
    for event in YearStream(lifecycle_fraction=lifecycle_fraction).events():
        topic = topic_for(event, settings)
        keys = {"agency": str(event["agency_code"]).encode(), "entity": raw_key(event)}
        for scheme, key in keys.items():
            p = partition_of(key, partitions)
            counts[scheme].setdefault(topic, Counter())[p] += 1
            counts[scheme].setdefault("all", Counter())[p] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--lifecycle-fraction", type=float, default=1.0)
    args = parser.parse_args()
    started = time.perf_counter()
    result = measure(args.partitions, args.lifecycle_fraction)
    seconds = time.perf_counter() - started
    print(f"simulated year 2024, {args.partitions} partitions ({seconds:.0f} s)")
    for scheme, by_topic in result.items():
        for topic, counts in sorted(by_topic.items()):
            total = sum(counts.values())
            shares = [100.0 * counts[p] / total for p in range(args.partitions)]
            cells = " / ".join(f"{s:.1f}" for s in shares)
            print(
                f"  key={scheme:<6} {topic:<18} {total:>9,} events: {cells} %  "
                f"max {max(shares):.1f} %, bound {speedup_bound(shares):.2f}x"
            )


if __name__ == "__main__":
    main()
