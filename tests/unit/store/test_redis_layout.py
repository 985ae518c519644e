"""Entity-state buckets (shared/store/keys.py): the agency's hash tag, a stable spread
over ``ENTITY_BUCKETS``, and the listpack settings in every Redis the project starts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from devstack.redis import RedisServer
from shared.store import keys as redis_keys

ROOT = Path(__file__).resolve().parents[3]


def test_entity_buckets_keep_the_tag_and_spread_evenly() -> None:
    key = redis_keys.entity("so-tttt", "d:hs-1", "ks3:")
    assert key.startswith("ks3:ent:{so-tttt}:d") and key == redis_keys.entity(
        "so-tttt", "d:hs-1", "ks3:"
    )
    assert redis_keys.entity("so-tttt", "doc:hs-1") != redis_keys.entity("so-tttt", "d:hs-1")
    for family, buckets in redis_keys.ENTITY_BUCKETS.items():
        n = 20 * buckets
        spread = Counter(redis_keys.entity("a", f"{family}:a-2024-{i:06d}") for i in range(n))
        assert len(spread) == buckets
        assert max(spread.values()) < 40 and min(spread.values()) > 10


def listpack_args(args: list[str]) -> dict[str, str]:
    return {
        name: args[args.index(f"--{name}") + 1]
        for name in redis_keys.REDIS_LISTPACK_CONFIG
        if f"--{name}" in args
    }


def test_every_redis_keeps_entity_buckets_as_listpacks() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    command = [str(a) for a in compose["services"]["redis"]["command"]]
    assert listpack_args(command) == redis_keys.REDIS_LISTPACK_CONFIG
    server = RedisServer(ROOT / ".run" / "unused", 6399)
    assert listpack_args(server.argv()) == redis_keys.REDIS_LISTPACK_CONFIG
    cluster_node = RedisServer(ROOT / ".run" / "unused", 6399, cluster_port=16399)
    assert listpack_args(cluster_node.argv()) == redis_keys.REDIS_LISTPACK_CONFIG
