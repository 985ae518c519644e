"""The writer of ``bench.api_latency``, in a process of its own as the calculator is in
production (in the bench's process its validation and apply would stall the load
generator's loop and count as API latency): every ``write_ms`` a batch of new received
dossiers, one per unit valid today, dated now, applied through ``IndicatorStore`` — so
every unit's figures of today, this month and this year change. Prints ``ready`` once
writing, and the number of events written when its stdin closes.
``python -m bench.api_writer REDIS_URL WRITE_MS``."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from datetime import datetime, timedelta

from redis.asyncio import Redis

from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ, today_local
from shared.store.catalogs import CatalogCache
from shared.store.indicator_store import IndicatorStore


async def write_until_stdin_closes(url: str, write_ms: int) -> int:
    redis = Redis.from_url(url)
    store = IndicatorStore(redis)
    agencies = (await CatalogCache(redis).current()).agencies
    codes = sorted(a.agency_code for a in agencies.valid_on(today_local()))
    loop = asyncio.get_running_loop()
    closed = loop.run_in_executor(None, sys.stdin.read)  # returns at EOF
    run = time.time_ns()  # new event ids in every run: a repeated id would change nothing
    written = 0
    print("ready", flush=True)
    while not closed.done():
        batch = []
        now = datetime.now(LOCAL_TZ).replace(microsecond=0)
        for code in codes:
            raw = {
                "event_id": f"bench-{run}-{written}",
                "event_type": "received",
                "occurred_at": now.isoformat(),
                "agency_code": code,
                "dossier_id": f"bench-{run}-d{written}",
                "procedure_code": f"{code}.000",
                "service_level": "full_online",
                "channel": "online",
                "submitted_by": "citizen",
                "due_at": (now + timedelta(days=10)).isoformat(),
            }
            event = validate_event(raw, agencies=agencies)
            assert not isinstance(event, list), event
            batch.append(event)
            written += 1
        await store.apply_many(batch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(closed), write_ms / 1000)
    await redis.aclose()
    return written


def main() -> None:
    url, write_ms = sys.argv[1], int(sys.argv[2])
    print(asyncio.run(write_until_stdin_closes(url, write_ms)), flush=True)


if __name__ == "__main__":
    main()
