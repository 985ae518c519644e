"""Snapshots of the derived state: Redis' own point-in-time RDB, streamed over the
replication protocol by ``redis-cli --rdb`` (so Redis may be on another host). Taken by the
calculator's leader every hour and by ``egov snapshot``; read back by ``egov restore``
(``services/ops/snapshots.py``). One server only: a Redis Cluster has none."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

from shared.domain.calendar import LOCAL_TZ
from shared.store.client import CLUSTER_SCHEME, is_cluster
from shared.store.exceptions import SnapshotRefused

SUFFIX = ".rdb"


def refuse_cluster(url: str, what: str) -> str | None:
    """The refusal message when ``url`` is a Redis Cluster, else None."""
    if not is_cluster(url):
        return None
    return (
        f"{what} works on one Redis server; EGOV_REDIS_URL is a Redis Cluster "
        f"({CLUSTER_SCHEME}…), whose figures rely on its replicas, AOF on every node and "
        "`egov rebuild` instead"
    )


def snapshot_name(now: datetime) -> str:
    return f"snapshot-{now.astimezone(LOCAL_TZ):%Y%m%dT%H%M%S}{SUFFIX}"


def list_snapshots(directory: Path) -> list[Path]:
    """Complete snapshots, oldest first."""
    return sorted(directory.glob(f"snapshot-*{SUFFIX}")) if directory.is_dir() else []


def _redis_cli_target(url: str) -> tuple[list[str], dict[str, str]]:
    """redis-cli's arguments and environment for ``url``: the password goes in
    ``REDISCLI_AUTH``, never on the command line (anyone on the host can list that)."""
    parsed = urlparse(url)
    args = ["-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 6379)]
    env = dict(os.environ)
    env.pop("REDISCLI_AUTH", None)
    if parsed.username:
        args += ["--user", unquote(parsed.username)]
    if parsed.password:
        env["REDISCLI_AUTH"] = unquote(parsed.password)
    return args, env


def take_snapshot(redis_url: str, directory: Path, keep: int = 24) -> Path:
    """Stream a consistent RDB of the whole Redis into ``directory``; keep the newest
    ``keep`` snapshots. Written under a temporary name, renamed when complete."""
    refused = refuse_cluster(redis_url, "a snapshot")
    if refused:
        raise SnapshotRefused(refused)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / snapshot_name(datetime.now(LOCAL_TZ))
    partial = final.with_suffix(".partial")
    target, env = _redis_cli_target(redis_url)
    done = subprocess.run(
        ["redis-cli", *target, "--rdb", str(partial)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"redis-cli --rdb failed: {done.stderr.strip()[-500:]}")
    partial.rename(final)
    for old in list_snapshots(directory)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return final
