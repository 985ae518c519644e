"""What one indicator update costs the alerts service in Redis: the alert state of every
rule, scope, indicator and target set is read in one MGET (never one GET per alert), and
the alerts are written in one pipeline. (Before: 146 GETs and 166 round trips for this
update; after: 1 MGET and 4 round trips.)"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from services.alerts.engine import AlertEngine
from shared.domain.calendar import LOCAL_TZ, now_utc
from shared.platform.config import AlertRoute, Settings
from tests.conftest import redis_db
from tests.integration.test_alerts import dossiers

DB = 11


def commandstats(info: dict[str, Any]) -> dict[str, int]:
    return {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in info.items()}


async def measure(url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    at = datetime(now_utc().astimezone(LOCAL_TZ).year, 6, 30, 10, 0, tzinfo=LOCAL_TZ)
    redis = Redis.from_url(url)
    await redis.flushdb()
    from shared.store.indicator_store import IndicatorStore

    await IndicatorStore(redis).apply_many(dossiers("H01.05", at, 60, 10))
    settings = Settings(
        redis_url=url,
        alerts_routes=[AlertRoute(emails=["cntt@sokhcn.gov.vn"])],
        alerts_target_sets=["kh-1205-2025"],
    )
    engine = AlertEngine(settings, redis, clock=lambda: at)
    await engine.on_update("H01.05", at.year)  # warm the catalog cache; alerts fire
    sends = 0
    direct: list[str] = []
    original_send: Any = Connection.send_packed_command
    original_command: Any = Redis.execute_command

    async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        nonlocal sends
        sends += 1
        await original_send(self, command, check_health)

    async def naming(self: Redis, *args: Any, **options: Any) -> Any:
        direct.append(str(args[0]).upper())
        return await original_command(self, *args, **options)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    monkeypatch.setattr(Redis, "execute_command", naming)
    probe = Redis.from_url(url)
    before = commandstats(await probe.info("commandstats"))
    sends = 0
    direct.clear()
    await engine.on_update("H01.05", at.year)
    trips, names = sends, list(direct)
    after = commandstats(await probe.info("commandstats"))
    monkeypatch.undo()
    await probe.aclose()
    await redis.aclose()
    out = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    out = {k: v for k, v in out.items() if v and k != "info"}
    out["round_trips"] = trips
    out["client_get"] = names.count("GET")
    out["client_mget"] = names.count("MGET")
    return out


def test_one_update_reads_alert_state_in_one_batch(redis_server, monkeypatch) -> None:
    cost = asyncio.run(measure(redis_db(redis_server, DB), monkeypatch))
    print("update cost:", cost)
    assert cost["evalsha"] > 0, cost  # alerts were written: the update was judged
    assert cost["client_get"] == 0, cost  # no alert read one by one …
    # … but in one MGET per rule family: the threshold rules, then the Decision 766 rules
    # (their keys follow the unit's scores, read in the same update)
    assert cost["client_mget"] == 2, cost
    # every GET on the server is the compare of a compare-and-set script (one GET, one SET
    # each); the other scripts are the figure reads: two for the threshold rules (bucket
    # keys in one call each), three for the 766 rules (year to date, the last two weeks)
    assert cost.get("get", 0) == cost.get("set", 0) > 0, cost
    assert cost["evalsha"] - cost["get"] <= 5, cost
    # per family: the figure pipelines, the MGET, the writes' pipeline
    assert cost["round_trips"] <= 8, cost
