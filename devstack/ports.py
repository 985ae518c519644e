"""Loopback ports: a free one for tests, and whether a fixed one is already taken."""

from __future__ import annotations

import os
import random
import re
import socket

LOOPBACK = "127.0.0.1"

# Below the kernel's ephemeral range (32768-60999 by default): a port handed out here is not
# taken meanwhile by the outgoing connection of some client (Kafka clients open many), as a
# kernel-chosen port can be. Each pytest-xdist worker draws from its own block.
_FIRST, _BLOCK, _BLOCKS = 20_000, 1_500, 8
_handed: set[int] = set()


def _block() -> range:
    worker = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    index = int(worker.group(1)) % _BLOCKS if worker else 0
    start = _FIRST + index * _BLOCK
    return range(start, start + _BLOCK)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on or binds at the moment, and not handed out
    before by this process, from this process's block below the ephemeral range."""
    block = _block()
    start = random.randrange(len(block))
    for i in range(len(block)):
        port = block[(start + i) % len(block)]
        if port not in _handed and not port_in_use(port):
            _handed.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {block.start}-{block.stop - 1}")


def port_open(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could not bind ``host:port`` now (listening, or bound by another)."""
    if port_open(port, host):
        return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False
