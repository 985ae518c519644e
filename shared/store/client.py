"""The one way every component connects to Redis: a single server or a Redis Cluster,
chosen by the URL (``EGOV_REDIS_URL``).

- ``redis://host:port/db`` (or ``rediss://``, ``unix://``): one server (``redis.Redis``).
- ``redis+cluster://[user:password@]host:port,host:port,…``: a Redis Cluster
  (``RedisCluster``); the listed nodes are only where discovery starts, any live node of
  the cluster will do. A cluster has database 0 only.

Code that must work on both uses only what both offer: commands on one key or on keys of
one hash tag (``{agency}``, ``shared/store/keys.py``), non-transactional pipelines, scripts
through :func:`evalsha_pipeline` (redis-py's cluster pipeline refuses ``Script`` objects),
``scan_iter`` (on a cluster it walks every primary).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import hiredis
import orjson
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection
from redis.cluster import ClusterNode as SyncClusterNode
from redis.exceptions import NoScriptError, RedisClusterException, RedisError

if TYPE_CHECKING:
    from shared.platform.config import PlatformSettings

CLUSTER_SCHEME = "redis+cluster://"

# What a call may raise while Redis is away or a cluster fails over (redis-py's cluster
# errors such as SlotNotCoveredError are not RedisErrors): retry, don't crash.
REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)


def closed_transport(exc: BaseException) -> bool:
    """uvloop's error for a write on a connection the server closed (a Redis node killed
    mid-call: redis-py lets it through as it is, not as a ConnectionError)."""
    return isinstance(exc, RuntimeError) and "the handler is closed" in str(exc)


def redis_gone(exc: BaseException) -> bool:
    """Whether ``exc`` says Redis (or one of its nodes) is away: retry, don't crash."""
    return isinstance(exc, REDIS_UNAVAILABLE) or closed_transport(exc)


RedisClient = Redis | RedisCluster
SyncRedisClient = redis.Redis | redis.RedisCluster


def is_cluster(url: str) -> bool:
    return url.startswith(CLUSTER_SCHEME)


def _cluster_parts(url: str) -> tuple[list[tuple[str, int]], str | None, str | None]:
    """(host, port) of each listed node, username, password."""
    rest = url.removeprefix(CLUSTER_SCHEME).split("/", 1)[0].split("?", 1)[0]
    user: str | None = None
    password: str | None = None
    if "@" in rest:
        auth, rest = rest.rsplit("@", 1)
        name, sep, secret = auth.partition(":")
        user, password = (name or None), (secret if sep else None)
    nodes: list[tuple[str, int]] = []
    for part in rest.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"{url!r}: expected {CLUSTER_SCHEME}host:port,host:port,…")
        nodes.append((host.strip("[]"), int(port)))
    return nodes, user, password


class HiredisPackingConnection(Connection):
    """redis-py's asyncio connection packs commands in Python, re-joining the growing
    buffer for every argument (a script call with 500 keys: ~600 µs); hiredis packs the
    same bytes in C (~60 µs), as redis-py's blocking client already does."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # a command name such as "CONFIG GET": split
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:  # what redis-py's own packer raises for such an argument
            raise redis.exceptions.DataError(str(exc)) from exc


def socket_timeouts(settings: PlatformSettings | None = None) -> dict[str, float]:
    """The Redis socket timeouts of ``settings`` (default: the environment's settings,
    ``EGOV_REDIS_SOCKET_TIMEOUT_S``, ``EGOV_REDIS_CONNECT_TIMEOUT_S``)."""
    if settings is None:
        from shared.platform.config import PlatformSettings, load

        settings = load(PlatformSettings)
    return {
        "socket_timeout": settings.redis_socket_timeout_s,
        "socket_connect_timeout": settings.redis_connect_timeout_s,
    }


def redis_from_url(
    url: str, *, settings: PlatformSettings | None = None, **kwargs: Any
) -> RedisClient:
    """An asyncio client for ``url`` (see the module docstring); ``kwargs`` go to the
    client. Socket timeouts unless ``kwargs`` give them: those of ``settings``, else of the
    environment — no client waits forever on a Redis that does not answer."""
    for name, value in socket_timeouts(settings).items():
        kwargs.setdefault(name, value)
    if not is_cluster(url):
        if url.startswith("redis://"):  # TCP without TLS: commands packed by hiredis
            kwargs.setdefault("connection_class", HiredisPackingConnection)
        return Redis.from_url(url, **kwargs)
    nodes, user, password = _cluster_parts(url)
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in nodes],
        username=user,
        password=password,
        require_full_coverage=False,  # the other slots stay readable during a failover
        **kwargs,
    )


def sync_redis_from_url(
    url: str, *, settings: PlatformSettings | None = None, **kwargs: Any
) -> SyncRedisClient:
    """The blocking client for ``url`` (command-line tools, the local stack); socket
    timeouts as :func:`redis_from_url`."""
    for name, value in socket_timeouts(settings).items():
        kwargs.setdefault(name, value)
    if not is_cluster(url):
        return redis.Redis.from_url(url, **kwargs)
    nodes, user, password = _cluster_parts(url)
    return redis.RedisCluster(
        startup_nodes=[SyncClusterNode(host, port) for host, port in nodes],  # type: ignore[no-untyped-call]
        username=user,
        password=password,
        require_full_coverage=False,
        **kwargs,
    )


class LuaScript:
    """A Lua script called by SHA in pipelines, on one server and on a cluster alike: every
    call names its keys (``numkeys``), so a cluster routes it to the keys' slot; a node that
    does not know the script yet (a replica promoted by a failover: the script cache is not
    replicated) gets it loaded and the call is repeated."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def run_many(
        self, client: RedisClient, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        """Run ``(keys, args)`` calls in one pipeline (non-transactional: each call is
        atomic on its own); results in order. Errors other than NOSCRIPT are raised."""
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        for attempt in range(2):
            pipe = client.pipeline(transaction=False)
            for i in todo:
                keys, args = calls[i]
                pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
            out = await pipe.execute(raise_on_error=False) if todo else []
            missing: list[int] = []
            for i, result in zip(todo, out, strict=True):
                if isinstance(result, NoScriptError) and attempt == 0:
                    missing.append(i)
                elif isinstance(result, Exception):
                    raise result
                else:
                    results[i] = result
            if not missing:
                break
            await self.load(client)
            todo = missing
        return results

    async def run(self, client: RedisClient, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return (await self.run_many(client, [(keys, args)]))[0]

    async def load(self, client: RedisClient) -> None:
        """SCRIPT LOAD on the server (redis-py sends it to every node of a cluster)."""
        await client.script_load(self.source)


# Runs ARGV[1] (a JSON list of commands; {"k": i} is KEYS[i]) as one script: atomic, on the
# one slot of its keys. A nil reply comes back as an empty array (Lua arrays stop at nil).
_ATOMIC_LUA = """
local out = {}
for i, call in ipairs(cjson.decode(ARGV[1])) do
  for j = 1, #call do
    if type(call[j]) == 'table' then call[j] = KEYS[call[j]['k']] end
  end
  local reply = redis.call(unpack(call))
  if reply == false or reply == nil then reply = {} end
  out[i] = reply
end
return out
"""
_ATOMIC = LuaScript(_ATOMIC_LUA)


@dataclass(frozen=True)
class Key:
    """A key argument of an :class:`AtomicBlock` command."""

    name: str


class AtomicBlock:
    """Commands applied all or nothing, on one server and on a cluster alike — what a
    MULTI/EXEC does on one server (redis-py's cluster transactions break the client's next
    command on another node, redis-py 8.1). Every key must share one hash tag (one slot).
    Replies: bytes, ints, None (a nil), a status reply as redis gives it."""

    def __init__(self) -> None:
        self._calls: list[list[Any]] = []
        self._keys: dict[str, int] = {}

    def add(self, *args: str | bytes | int | float | Key) -> AtomicBlock:
        call: list[Any] = []
        for arg in args:
            if isinstance(arg, Key):
                call.append({"k": self._keys.setdefault(arg.name, len(self._keys) + 1)})
            elif isinstance(arg, bytes):
                call.append(arg.decode())
            else:
                call.append(str(arg))
        self._calls.append(call)
        return self

    async def execute(self, client: RedisClient) -> list[Any]:
        if not self._calls:
            return []
        replies = await _ATOMIC.run(client, list(self._keys), [orjson.dumps(self._calls)])
        return [None if r == [] else r for r in replies]
