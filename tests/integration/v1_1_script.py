"""The previous release's apply path (contract v1.1: the §4a rules inside a 632-line Lua
script, ``lua/apply_batch_v1_1.lua``, kept verbatim with its argument builder) — the oracle
the Python rules (``shared/domain/lifecycle.py``) and the check-then-write script must
equal byte for byte: entity states, counters, counted sets, sets, open dossiers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from shared.contract.events import (
    DossierDueChanged,
    DossierIntakeRejected,
    DossierPayment,
    DossierRated,
    DossierReceived,
    DossierResolved,
    DossierReturned,
    DossierWithdrawn,
    Event,
    PaymentMethod,
    Satisfaction,
)
from shared.domain.counting import INTAKE_BIT, PROCEDURE_ITEM, entity_key, intake_items, marks_for
from shared.store import keys as redis_keys
from shared.store.client import LuaScript, RedisClient
from shared.store.indicator_store import BUMP_VERSION_LUA

V1_1_LUA = (
    (Path(__file__).parent / "lua" / "apply_batch_v1_1.lua")
    .read_text("utf-8")
    .replace("--BUMP_VERSION--", BUMP_VERSION_LUA.strip())
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _flag(value: bool) -> str:
    return "1" if value else "0"


def event_args(event: Event) -> list[str]:
    """The v1.1 script's arguments of one event."""
    match event:
        case DossierReceived():
            bits, online = 0, False
            for item in intake_items(event):
                if item.startswith(PROCEDURE_ITEM):
                    online = True
                else:
                    bits |= INTAKE_BIT[item]
            due = repr(event.due_at.timestamp())
            tail = [due, str(bits), "1", event.procedure_code] if online else [due, str(bits), "0"]
            code = "R"
        case DossierResolved():
            code, tail = "S", [_flag(event.occurred_at <= event.due_at)]
        case DossierReturned():
            code, tail = "T", [_flag(event.result_electronic)]
        case DossierRated():
            code, tail = "Q", [_flag(event.satisfaction is not Satisfaction.unsatisfied)]
        case DossierPayment():
            code, tail = "P", [_flag(event.method is PaymentMethod.online), event.procedure_code]
        case DossierDueChanged():
            due_at = event.due_at
            code, tail = "C", [repr(due_at.timestamp()) if due_at is not None else ""]
        case DossierWithdrawn():
            code, tail = "W", []
        case DossierIntakeRejected():
            code, tail = "X", []
        case _:
            marks = marks_for(event)
            code, tail = "G", [str(len(marks)), *marks]
    return [
        code,
        hashlib.blake2b(event.event_id.encode(), digest_size=4).hexdigest(),
        event.event_id,
        str((event.occurred_at - _EPOCH) // _MS),
        event.entity_id,
        *tail,
    ]


SCRIPT = LuaScript(V1_1_LUA)


async def apply_v1_1(redis: RedisClient, events: Sequence[Event], ks: str = "") -> list[bool]:
    """Apply events as the previous release did: one call per agency (up to 500 events)."""
    groups: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        groups.setdefault(event.agency_code, []).append(i)
    calls = []
    chunks = []
    for agency, indexes in groups.items():
        for start in range(0, len(indexes), 500):
            chunk = indexes[start : start + 500]
            flat: list[str] = []
            for i in chunk:
                flat += event_args(events[i])
            keys = [redis_keys.entity(agency, entity_key(events[i]), ks) for i in chunk]
            keys += [
                redis_keys.stats(agency, ks),
                redis_keys.applied_agency(agency, ks),
                redis_keys.data_version(agency),
            ]
            calls.append((keys, [redis_keys.tag(agency), orjson.dumps(flat), ks, b"", b""]))
            chunks.append(chunk)
    flags = [False] * len(events)
    for chunk, result in zip(chunks, await SCRIPT.run_many(redis, calls), strict=True):
        for i, flag in zip(chunk, result, strict=True):
            flags[i] = bool(flag)
    return flags
