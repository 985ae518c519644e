"""The Redis URL decides single server or cluster; snapshots refuse a cluster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.exceptions import DataError

from services.ops.exceptions import RestoreRefused
from services.ops.snapshots import restore
from shared.platform.config import Settings
from shared.store.client import HiredisPackingConnection, _cluster_parts, redis_from_url
from shared.store.exceptions import SnapshotRefused
from shared.store.snapshots import take_snapshot

URL = "redis+cluster://app:s3cret@127.0.0.1:7000,127.0.0.1:7001"


def test_the_url_scheme_picks_the_client() -> None:
    assert _cluster_parts(URL) == ([("127.0.0.1", 7000), ("127.0.0.1", 7001)], "app", "s3cret")
    assert isinstance(redis_from_url(URL), RedisCluster)
    assert isinstance(redis_from_url("redis://127.0.0.1:6379/3"), Redis)
    with pytest.raises(ValueError, match="host:port"):
        _cluster_parts("redis+cluster://127.0.0.1")


@pytest.mark.parametrize(
    "command",
    [
        ("SET", "khoá", "Hồ sơ trực tuyến"),
        ("ZADD", "open:{H53}", 1776000000.123456, "d-1"),
        ("SET", "k", 1e-20),
        ("CONFIG GET", "maxmemory"),
        ("EVALSHA", "ab" * 20, 2, "ent:{H53}:d1", "ent:{H53}:d2", b"\x00\xff" * 4000, 3),
    ],
)
def test_hiredis_packs_the_bytes_redis_py_packs(command: tuple[Any, ...]) -> None:
    ours = b"".join(HiredisPackingConnection().pack_command(*command))
    assert ours == b"".join(Connection().pack_command(*command))


def test_the_tcp_client_packs_with_hiredis_and_refuses_what_redis_py_refuses() -> None:
    client = redis_from_url("redis://127.0.0.1:6379/3")
    assert isinstance(client, Redis)
    assert client.connection_pool.connection_class is HiredisPackingConnection
    with pytest.raises(DataError):
        HiredisPackingConnection().pack_command("SET", "k", object())


def test_snapshot_and_restore_refuse_a_cluster(tmp_path: Path) -> None:
    with pytest.raises(SnapshotRefused, match=r"redis\+cluster://"):
        take_snapshot(URL, tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(RestoreRefused, match=r"redis\+cluster://"):
        asyncio.run(restore(Settings(redis_url=URL)))
