"""redis-server (Debian package) on loopback, append-only so a restart keeps the figures."""

from __future__ import annotations

import time
from pathlib import Path

import redis

from devstack.ports import wait_for_port
from devstack.processes import ManagedProcess


class RedisServer:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
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
        ]

    def start(self, timeout: float = 20.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess("redis", self.argv(), self.data_dir / "redis.log")
        self.process.start()
        wait_for_port(self.port, timeout)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout
        while True:  # AOF loading answers LOADING until done
            try:
                client.ping()
                break
            except redis.exceptions.BusyLoadingError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
