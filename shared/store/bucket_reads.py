"""Reads of many bucket keys (counter hashes, per-period sets) in few Redis commands.

A read sums or unions a handful of bucket keys per agency (a year is one key, a quarter
three, a month one: ``shared.domain.periods.decompose``) over up to ~120 agencies. One command per
key made the reply parsing of redis-py — not Redis — the cost of a cold read: ~30 µs of
Python per command, 117 commands for a ranking, ~1,600 for a public page. Here one script
call reads a whole group of keys and answers one nested array (parsed by hiredis in C):

- on one server, a single call reads every group (a script may read keys of any tag);
- on a Redis Cluster, one call per group — a group is one agency's keys, one hash tag, one
  slot — all in one pipeline (``LuaScript.run_many``), as the writes are.

The script only reads (HMGET, HKEYS, SMEMBERS, HGETALL) and is sent as ``EVALSHA``; it can
also answer only a digest of what it read (:func:`digest_groups`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio.cluster import RedisCluster

from shared.store.client import LuaScript, RedisClient

# ARGV[1]: 'h' → HMGET of the fields ARGV[3..] on each key; 'k' → HKEYS; 's' → SMEMBERS;
# 'a' → HGETALL. ARGV[2]: 'v' → one reply per key, in KEYS order (a missing field is a nil
# inside its HMGET reply); 'd' → only the SHA-1 of every reply (what a reader that already
# holds a rendering of these buckets needs to know: whether any of them changed).
READ_BUCKETS_LUA = """
local op, mode = ARGV[1], ARGV[2]
local fields = {}
for i = 3, #ARGV do fields[i - 2] = ARGV[i] end
local out = {}
for i, key in ipairs(KEYS) do
  if op == 'h' then out[i] = redis.call('HMGET', key, unpack(fields))
  elseif op == 'k' then out[i] = redis.call('HKEYS', key)
  elseif op == 'a' then out[i] = redis.call('HGETALL', key)
  else out[i] = redis.call('SMEMBERS', key) end
end
if mode == 'v' then return out end
for i = 1, #out do
  local reply = out[i]
  if op == 'h' then
    for j = 1, #reply do if not reply[j] then reply[j] = '-' end end
  end
  out[i] = table.concat(reply, ' ')
end
return redis.sha1hex(table.concat(out, '|'))
"""
_READ = LuaScript(READ_BUCKETS_LUA)

# keys per call on one server: bounds one script's run (~1 µs per key read) and Lua's unpack
MAX_KEYS_PER_CALL = 4000

HMGET, HKEYS, SMEMBERS, HGETALL = "h", "k", "s", "a"


def _calls(
    redis: RedisClient, groups: Sequence[Sequence[str]], args: list[str]
) -> list[tuple[list[str], list[str]]]:
    """One call per group on a cluster; on one server as few as ``MAX_KEYS_PER_CALL``
    allows."""
    if isinstance(redis, RedisCluster):
        return [(list(keys), args) for keys in groups if keys]
    calls = []
    flat: list[str] = []
    for keys in groups:
        if flat and len(flat) + len(keys) > MAX_KEYS_PER_CALL:
            calls.append((flat, args))
            flat = []
        flat += keys
    if flat:
        calls.append((flat, args))
    return calls


async def read_groups(
    redis: RedisClient, groups: Sequence[Sequence[str]], op: str, fields: Sequence[str] = ()
) -> list[list[Any]]:
    """Per group (one agency's keys), per key, the reply of ``op`` (HMGET of ``fields``,
    HKEYS, SMEMBERS or HGETALL); every group of a call must share one hash tag on a
    cluster."""
    replies: list[Any] = []
    for result in await _READ.run_many(redis, _calls(redis, groups, [op, "v", *fields])):
        replies += result
    out: list[list[Any]] = []
    at = 0
    for keys in groups:
        out.append(replies[at : at + len(keys)])
        at += len(keys)
    return out


async def digest_groups(
    redis: RedisClient, groups: Sequence[Sequence[str]], op: str, fields: Sequence[str] = ()
) -> bytes:
    """A digest of what :func:`read_groups` would return, computed in Redis (a few bytes
    come back, whatever was read): equal digests, equal replies."""
    results = await _READ.run_many(redis, _calls(redis, groups, [op, "d", *fields]))
    return b"".join(r if isinstance(r, bytes) else str(r).encode() for r in results)
