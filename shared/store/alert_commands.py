"""Alert state in Redis: its keys, its readers, and the commands that change it.

The alerts service is the one writer of alert documents; the API never writes a key: it
calls :func:`acknowledge` and :func:`silence`, compare-and-set commands. Every write of an
alert document — the service's and the commands' — is a :class:`GuardedBlock`: one Lua
script that applies its commands only while the document is still the one its writer read,
so an acknowledgement racing an evaluation is never lost, nor is the evaluation.

All keys share the ``{alerts}`` hash tag: one Redis Cluster slot (alerts are few)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from shared.domain.alerts import Alert, AlertState
from shared.store.client import Key, LuaScript, RedisClient
from shared.store.exceptions import AlertConflict, AlertNotFound

ALERT_PREFIX = "alert:{alerts}:"
INDEX = "alerts:{alerts}:index"
HISTORY = "alerts:{alerts}:history"
HISTORY_MAXLEN = 100_000
ATTEMPTS = 5  # compare-and-set rounds before a command gives up (conflict)


# KEYS[1]: the alert document; ARGV[1]: the document its writer read ('' when absent);
# ARGV[2]: a JSON list of commands ({"k": i} is KEYS[i]). 1: applied; 0: changed meanwhile.
_GUARDED_LUA = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
for _, call in ipairs(cjson.decode(ARGV[2])) do
  for j = 1, #call do
    if type(call[j]) == 'table' then call[j] = KEYS[call[j]['k']] end
  end
  redis.call(unpack(call))
end
return 1
"""
_GUARDED = LuaScript(_GUARDED_LUA)


class GuardedBlock:
    """Commands applied all or nothing, and only while ``alert_key``'s document is still
    ``expected`` (None: still absent). Keys must carry the ``{alerts}`` hash tag."""

    def __init__(self, alert_key: str, expected: bytes | None) -> None:
        self._keys: dict[str, int] = {ALERT_PREFIX + alert_key: 1}
        self._calls: list[list[Any]] = []
        self.expected = expected or b""

    def add(self, *args: str | bytes | int | float | Key) -> GuardedBlock:
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

    def call(self) -> tuple[list[str], list[bytes]]:
        """The script's (keys, args), for :meth:`LuaScript.run_many`."""
        return list(self._keys), [self.expected, orjson.dumps(self._calls)]


async def write_guarded(redis: RedisClient, blocks: Sequence[GuardedBlock]) -> list[bool]:
    """Apply ``blocks`` in one pipeline (each atomic on its own): which were applied."""
    if not blocks:
        return []
    results = await _GUARDED.run_many(redis, [b.call() for b in blocks])
    return [int(r) == 1 for r in results]


def save_alert(block: GuardedBlock, alert: Alert, *, history: bool) -> GuardedBlock:
    """Add the alert document (and its history entry, on a state change) to ``block``."""
    doc = alert.model_dump_json()
    block.add("SET", Key(ALERT_PREFIX + alert.key), doc)
    block.add("SADD", Key(INDEX), alert.key)
    if history:
        block.add("XADD", Key(HISTORY), "MAXLEN", "~", HISTORY_MAXLEN, "*", "alert", doc)
    return block


# -- readers ------------------------------------------------------------------------------


async def read_raw(redis: RedisClient, keys: Sequence[str]) -> dict[str, bytes | None]:
    """The stored documents of ``keys`` in one MGET (one round trip, one slot)."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    raws: list[Any] = await redis.mget([ALERT_PREFIX + k for k in unique])
    return dict(zip(unique, raws, strict=True))


async def get_alert(redis: RedisClient, key: str) -> Alert | None:
    raw = (await read_raw(redis, [key]))[key]
    return None if raw is None else Alert.model_validate_json(raw)


async def alert_documents(redis: RedisClient) -> list[bytes | None]:
    """Every alert's stored document, by key order (what a board fingerprints)."""
    keys = sorted(
        k.decode() if isinstance(k, bytes) else str(k) for k in await redis.smembers(INDEX)
    )
    return list((await read_raw(redis, keys)).values())


async def all_alerts(redis: RedisClient) -> list[Alert]:
    return [Alert.model_validate_json(r) for r in await alert_documents(redis) if r is not None]


async def firing_alerts(redis: RedisClient) -> list[Alert]:
    return [a for a in await all_alerts(redis) if a.state is AlertState.firing]


async def alert_history(
    redis: RedisClient, key: str | None = None, count: int = 100
) -> list[Alert]:
    entries = await redis.xrevrange(HISTORY, count=count if key is None else 10 * count)
    out = [Alert.model_validate_json(fields[b"alert"]) for _, fields in entries or [] if fields]
    return [a for a in out if key is None or a.key == key][:count]


async def prune_resolved(redis: RedisClient, before: datetime) -> list[str]:
    """Forget the alerts resolved before ``before`` (the alerts service, daily: the index
    and what the board reads every second stop growing with the years; their history
    entries stay in the capped stream). Each removal is guarded: an alert that fired
    again meanwhile is kept. Returns the keys removed."""
    keys = sorted(
        k.decode() if isinstance(k, bytes) else str(k) for k in await redis.smembers(INDEX)
    )
    blocks: list[tuple[str, GuardedBlock]] = []
    for key, raw in (await read_raw(redis, keys)).items():
        if raw is None:  # a key whose document is gone: only the index entry is left
            blocks.append((key, GuardedBlock(key, None).add("SREM", Key(INDEX), key)))
            continue
        alert = Alert.model_validate_json(raw)
        if alert.state is AlertState.resolved and (alert.resolved_at or alert.last_seen) < before:
            block = GuardedBlock(key, raw).add("DEL", Key(ALERT_PREFIX + key))
            blocks.append((key, block.add("SREM", Key(INDEX), key)))
    done = await write_guarded(redis, [b for _, b in blocks])
    return [key for (key, _), ok in zip(blocks, done, strict=True) if ok]


# -- commands (the API's) -----------------------------------------------------------------


async def _change(
    redis: RedisClient, key: str, update: dict[str, Any], expect: AlertState | None
) -> Alert:
    """Apply ``update`` to the alert as a compare-and-set. A concurrent write that keeps
    the alert's transition (an evaluation moving ``last_seen``) is retried on; one that
    changes it — or a state other than ``expect`` — is a conflict."""
    reference: tuple[object, ...] | None = None
    current: Alert | None = None
    for _ in range(ATTEMPTS):
        raw = (await read_raw(redis, [key]))[key]
        if raw is None:
            raise AlertNotFound(key)
        current = Alert.model_validate_json(raw)
        if expect is not None and current.state is not expect:
            raise AlertConflict(key, current)
        if reference is None:
            reference = current.transition()
        elif current.transition() != reference:
            raise AlertConflict(key, current)
        changed = current.model_copy(update=update)
        block = save_alert(GuardedBlock(key, raw), changed, history=False)
        if (await write_guarded(redis, [block]))[0]:
            return changed
    raise AlertConflict(key, current)


async def acknowledge(
    redis: RedisClient, key: str, who: str, at: datetime, *, expect: AlertState | None = None
) -> Alert:
    """An operator has seen the alert (until its next state change clears it)."""
    return await _change(redis, key, {"acknowledged_by": who, "acknowledged_at": at}, expect)


async def silence(
    redis: RedisClient, key: str, until: datetime, *, expect: AlertState | None = None
) -> Alert:
    """No notification for the alert's changes until ``until``."""
    return await _change(redis, key, {"silenced_until": until}, expect)
