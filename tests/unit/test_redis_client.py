"""The Redis URL decides single server or cluster; snapshots refuse a cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from services.calculator.snapshots import RestoreRefused, SnapshotRefused, restore, take_snapshot
from shared.config import Settings
from shared.redis_client import _cluster_parts, redis_from_url

URL = "redis+cluster://app:s3cret@127.0.0.1:7000,127.0.0.1:7001"


def test_the_url_scheme_picks_the_client() -> None:
    assert _cluster_parts(URL) == ([("127.0.0.1", 7000), ("127.0.0.1", 7001)], "app", "s3cret")
    assert isinstance(redis_from_url(URL), RedisCluster)
    assert isinstance(redis_from_url("redis://127.0.0.1:6379/3"), Redis)
    with pytest.raises(ValueError, match="host:port"):
        _cluster_parts("redis+cluster://127.0.0.1")


def test_snapshot_and_restore_refuse_a_cluster(tmp_path: Path) -> None:
    with pytest.raises(SnapshotRefused, match=r"redis\+cluster://"):
        take_snapshot(URL, tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(RestoreRefused, match=r"redis\+cluster://"):
        asyncio.run(restore(Settings(redis_url=URL)))
