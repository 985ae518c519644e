"""redis-server (Debian package) on loopback, append-only so a restart keeps the figures."""

from __future__ import annotations

from pathlib import Path

import redis

from devstack.processes import ManagedProcess, ServerProcess, wait_until


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
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.log_path = (log_dir or data_dir) / "redis.log"
        self.pid_file = pid_file
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
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
        ]

    def start(self, timeout: float = 20.0) -> None:
        """Start and return once PING answers (after the AOF is loaded)."""
        if self.alive:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._launch(
            "redis",
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
