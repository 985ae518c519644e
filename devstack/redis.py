"""redis-server (Debian package) on loopback, append-only so a restart keeps the figures;
and a Redis Cluster of such servers (``egov up --redis-cluster``)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from devstack.processes import ManagedProcess, ServerProcess, wait_until
from shared.store.keys import REDIS_LISTPACK_CONFIG

# Cluster nodes: a primary unreachable this long (ms) is failed over to its replica.
CLUSTER_NODE_TIMEOUT_MS = 1500


class RedisServer(ServerProcess):
    """``redis-server`` with AOF persistence (``appendonly yes``, no RDB snapshots) in
    ``data_dir``; stop/start or kill/start on the same directory keeps the keys."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        *,
        log_dir: Path | None = None,
        pid_file: Path | None = None,
        name: str = "redis",
        cluster_port: int | None = None,
    ) -> None:
        """``cluster_port``: a Redis Cluster node whose cluster bus listens there (its
        state in ``data_dir/nodes.conf``)."""
        self.data_dir = data_dir
        self.port = port
        self.name = name
        self.cluster_port = cluster_port
        self.log_path = (log_dir or data_dir) / f"{name}.log"
        self.pid_file = pid_file
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        cluster = (
            [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-port",
                str(self.cluster_port),
                "--cluster-node-timeout",
                str(CLUSTER_NODE_TIMEOUT_MS),
                # a replica takes over however long it was cut off from its primary
                "--cluster-replica-validity-factor",
                "0",
                # the other primaries keep serving while one slot range fails over
                "--cluster-require-full-coverage",
                "no",
                # a replica's full copy starts at once (not 5 s later)
                "--repl-diskless-sync-delay",
                "0",
            ]
            if self.cluster_port is not None
            else []
        )
        return [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            "",  # stdout, i.e. the process log
            # entity-state buckets stay compact listpacks (shared/store/keys.py)
            *(arg for k, v in REDIS_LISTPACK_CONFIG.items() for arg in (f"--{k}", v)),
            *cluster,
        ]

    def start(self, timeout: float = 20.0) -> None:
        """Start and return once PING answers (after the AOF is loaded)."""
        if self.alive:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._launch(
            self.name,
            self.argv(),
            self.log_path,
            lambda process: wait_until(self._ping, timeout, f"Redis PING on {self.url}", process),
        )

    def _ping(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:  # refused, or LOADING the AOF
            return False
        finally:
            client.close()


class RedisClusterServers:
    """A Redis Cluster on loopback: ``2 * primaries`` ``redis-server`` nodes (AOF, a
    ``cluster-node-timeout`` of 1.5 s), each primary with one replica, created once with
    ``redis-cli --cluster create`` (a restart on the same data rejoins from ``nodes.conf``).
    Clients take :attr:`url` (``redis+cluster://host:port,…``, see
    ``shared/store/client.py``)."""

    def __init__(
        self,
        data_dir: Path,
        ports: list[tuple[int, int]],
        *,
        log_dir: Path | None = None,
        pid_dir: Path | None = None,
    ) -> None:
        """``ports``: (client port, cluster bus port) of each node, nodes 1…N."""
        if len(ports) < 6 or len(ports) % 2:
            raise ValueError("a cluster needs an even number of nodes, at least 6")
        self.data_dir = data_dir
        self.nodes = [
            RedisServer(
                data_dir / f"node-{i}",
                port,
                log_dir=log_dir,
                pid_file=pid_dir / f"redis-{i}.pid" if pid_dir else None,
                name=f"redis-{i}",
                cluster_port=bus,
            )
            for i, (port, bus) in enumerate(ports, start=1)
        ]
        self.created_now = False

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def alive(self) -> bool:
        return all(node.alive for node in self.nodes)

    def start(self, timeout: float = 60.0) -> None:
        """Start every node that is not running, create the cluster on first start, and
        return once every live node reports ``cluster_state:ok`` and every slot range has
        a primary and a replica."""
        for node in self.nodes:
            node.start(timeout)
        if self._info(self.nodes[0]).get("cluster_known_nodes") == "1":
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{n.port}" for n in self.nodes),
                    "--cluster-replicas",
                    "1",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=timeout,
            )
            self.created_now = True
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = 60.0, *, replicas: bool = True) -> None:
        """Until every live node sees ``cluster_state:ok`` and the same topology: each of
        the N/2 slot ranges served by a live primary (with a live replica if ``replicas``)."""
        wait_until(lambda: self._ok(replicas), timeout, "Redis Cluster state ok")

    def _ok(self, replicas: bool) -> bool:
        live = [n for n in self.nodes if n.alive]
        if not all(self._info(n).get("cluster_state") == "ok" for n in live):
            return False
        shards = self.topology()
        if len(shards) != len(self.nodes) // 2:
            return False
        if not replicas:
            return True
        by_port = {n.port: n for n in self.nodes}
        return all(len(r) >= 1 for r in shards.values()) and all(
            self._synced(by_port[port]) for r in shards.values() for port in r
        )

    def _synced(self, replica: RedisServer) -> bool:
        """The replica's link is up and its initial sync (a full copy) is done."""
        info = self._info(replica, "replication")
        return info.get("master_link_status") == "up" and info.get("master_sync_in_progress") in (
            "0",
            "False",
        )

    def topology(self) -> dict[int, list[int]]:
        """Port of each live primary → ports of its live replicas, as a live node sees it."""
        for node in self.nodes:
            if not node.alive:
                continue
            try:
                raw = self._client(node).execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
            except redis.exceptions.RedisError:
                continue
            text = raw.decode() if isinstance(raw, bytes) else str(raw)
            ids: dict[str, int] = {}
            rows = [line.split() for line in text.splitlines() if line.strip()]
            for row in rows:
                ids[row[0]] = int(row[1].split("@")[0].rsplit(":", 1)[1])
            alive = {n.port for n in self.nodes if n.alive}
            shards: dict[int, list[int]] = {}
            for row in rows:
                flags = row[2].split(",")
                port = ids[row[0]]
                if "master" in flags and "fail" not in flags and port in alive and len(row) > 8:
                    shards.setdefault(port, [])
            for row in rows:
                flags = row[2].split(",")
                port = ids[row[0]]
                master = ids.get(row[3])
                if "slave" in flags and "fail" not in flags and port in alive and master in shards:
                    shards[master].append(port)
            return shards
        return {}

    def primary_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now."""
        for node in self.nodes:
            if node.alive and "master" in self._role(node):
                client = self._client(node)
                slot = int(client.execute_command("CLUSTER", "KEYSLOT", key))  # type: ignore[no-untyped-call]
                for start, end, *rest in client.execute_command("CLUSTER", "SLOTS"):  # type: ignore[no-untyped-call]
                    if start <= slot <= end:
                        port = int(rest[0][1])
                        return next(n for n in self.nodes if n.port == port)
        raise LookupError(key)

    def _role(self, node: RedisServer) -> str:
        return str(self._info(node, "replication").get("role", ""))

    def _client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=node.port,
            socket_connect_timeout=1,
            socket_timeout=2,
            single_connection_client=True,
        )

    def _info(self, node: RedisServer, section: str | None = None) -> dict[str, str]:
        """``CLUSTER INFO``, or the ``INFO`` section."""
        client = self._client(node)
        try:
            raw = client.execute_command(*(("INFO", section) if section else ("CLUSTER", "INFO")))  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError:
            return {}
        finally:
            client.close()
        if isinstance(raw, dict):
            return {str(k): str(v) for k, v in raw.items()}
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return dict(
            line.split(":", 1) for line in text.splitlines() if ":" in line and line[0] != "#"
        )

    def stop(self, timeout: float | None = None) -> None:
        for node in self.nodes:
            node.stop(timeout)

    def wait_failover(self, killed: RedisServer, timeout: float = 30.0) -> float:
        """After ``killed`` (a primary) died: seconds until its replica serves its slots."""
        started = time.monotonic()
        wait_until(
            lambda: killed.port not in self.topology() and self._ok(replicas=False),
            timeout,
            f"failover of {killed.name}",
        )
        return time.monotonic() - started
