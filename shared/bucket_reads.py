"""Reads of many bucket keys (counter hashes, per-period sets) in few Redis commands.

A read sums or unions a handful of bucket keys per agency (a year is one key, a quarter
three, a month one: ``shared.periods.decompose``) over up to ~120 agencies. One command per
key made the reply parsing of redis-py — not Redis — the cost of a cold read: ~30 µs of
Python per command, 117 commands for a ranking, ~1,600 for a public page. Here one script
call reads a whole group of keys and answers one nested array (parsed by hiredis in C):

- on one server, a single call reads every group (a script may read keys of any tag);
- on a Redis Cluster, one call per group — a group is one agency's keys, one hash tag, one
  slot — all in one pipeline (``LuaScript.run_many``), as the writes are.

The script only reads (HMGET, HKEYS, SMEMBERS) and is sent as ``EVALSHA``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster

from shared.redis_client import LuaScript, RedisClient

# ARGV[1]: 'h' → HMGET of the fields ARGV[2..] on each key; 'k' → HKEYS; 's' → SMEMBERS.
# One reply per key, in KEYS order (a missing field is a nil inside its HMGET reply).
READ_BUCKETS_LUA = """
local op = ARGV[1]
local out = {}
if op == 'h' then
  local fields = {}
  for i = 2, #ARGV do fields[i - 1] = ARGV[i] end
  for i, key in ipairs(KEYS) do out[i] = redis.call('HMGET', key, unpack(fields)) end
elseif op == 'k' then
  for i, key in ipairs(KEYS) do out[i] = redis.call('HKEYS', key) end
else
  for i, key in ipairs(KEYS) do out[i] = redis.call('SMEMBERS', key) end
end
return out
"""
_READ = LuaScript(READ_BUCKETS_LUA)

# keys per call on one server: bounds one script's run (~1 µs per key read) and Lua's unpack
MAX_KEYS_PER_CALL = 4000

HMGET, HKEYS, SMEMBERS = "h", "k", "s"


async def read_groups(
    redis: RedisClient, groups: Sequence[Sequence[str]], op: str, fields: Sequence[str] = ()
) -> list[list[Any]]:
    """Per group (one agency's keys), per key, the reply of ``op`` (HMGET of ``fields``,
    HKEYS or SMEMBERS); every group of a call must share one hash tag on a cluster."""
    args = [op, *fields]
    if isinstance(redis, RedisCluster):
        calls = [(list(keys), args) for keys in groups if keys]
    else:
        calls = []
        flat: list[str] = []
        for keys in groups:
            if flat and len(flat) + len(keys) > MAX_KEYS_PER_CALL:
                calls.append((flat, args))
                flat = []
            flat += keys
        if flat:
            calls.append((flat, args))
    replies: list[Any] = []
    for result in await _READ.run_many(redis, calls):
        replies += result
    out: list[list[Any]] = []
    at = 0
    for keys in groups:
        out.append(replies[at : at + len(keys)])
        at += len(keys)
    return out
