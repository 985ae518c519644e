"""A running period's 766 scores are reused only while their inputs hold
(``services/api/reports/score_windows.py``): the read answers the last second before an
open dossier turns overdue or a publication counts, and a score computed before that
second is never served after it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from services.api.app import create_app
from services.api.routes import index766 as index766_routes
from shared.domain.periods import parse_period
from shared.platform.config import Settings
from shared.store.index766_reads import read_766
from shared.store.indicator_store import IndicatorStore
from tests.conftest import redis_db
from tests.integration.test_index766_api import (
    HAND_CATALOG,
    A,
    counts,
    get,
    load,
    published,
    received,
)

pytestmark = pytest.mark.integration

DUE = "2026-12-02T12:00:00+07:00"
DUE_S = int(datetime.fromisoformat(DUE).timestamp())
PUBLISHED = "2026-12-02T13:00:00+07:00"
PUBLISHED_S = int(datetime.fromisoformat(PUBLISHED).timestamp())


def test_scores_of_a_running_month_hold_until_the_next_due_time(
    redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = redis_db(redis_server, 13)
    raw = [
        received(A, "w1", "2026-12-02T08:00:00+07:00", "pA1", DUE),
        published("2026-12-02T13:00:00+07:00", A, "pA1", "1111"),
    ]
    asyncio.run(load(url, HAND_CATALOG, raw))

    async def holds_until(instant_s: int) -> int | None:
        redis = Redis.from_url(url)
        try:
            period = parse_period("2026-12")
            raws = await read_766(IndicatorStore(redis), [A], period.start, period.end, instant_s)
            return raws[A].holds_until_s
        finally:
            await redis.aclose()

    # due at DUE_S: not overdue at DUE_S itself, so the figures hold up to it; then the
    # publication (counted from the second after its date) ends the next window
    assert asyncio.run(holds_until(DUE_S - 3600)) == DUE_S
    assert asyncio.run(holds_until(DUE_S + 1)) == PUBLISHED_S
    assert asyncio.run(holds_until(PUBLISHED_S + 1)) is None

    reads = []
    real_raws = index766_routes.units_raws  # type: ignore[attr-defined]

    async def counted(*args: Any) -> Any:
        reads.append(args)
        return await real_raws(*args)

    monkeypatch.setattr(index766_routes, "units_raws", counted)
    now = [DUE_S - 10.0]
    monkeypatch.setattr(index766_routes, "time", SimpleNamespace(time=lambda: now[0]))
    # every request evaluated at its own second (no response of a second before it)
    with TestClient(create_app(Settings(redis_url=url, api_stale_ms=0))) as client:
        first = get(client, A, "2026-12")
        assert counts(first)["ON_TIME"] == (1, 1) and first["closed"] is False
        now[0] = DUE_S  # another second, the same inputs: the scores are reused
        again = get(client, A, "2026-12")
        assert again["evaluated_at"] != first["evaluated_at"]
        assert counts(again)["ON_TIME"] == (1, 1) and len(reads) == 1
        now[0] = DUE_S + 1  # past due: read again, now overdue
        late = get(client, A, "2026-12")
        assert counts(late)["ON_TIME"] == (0, 1) and len(reads) == 2
        assert counts(late)["PUBLISH_ON_TIME"] == (0, 0)
        now[0] = PUBLISHED_S + 1  # the publication counts from here
        assert counts(get(client, A, "2026-12"))["PUBLISH_ON_TIME"] == (1, 1)
        assert len(reads) == 3
        # a ranking goes through the same windows: nothing follows, one read
        for second in (2, 3):
            now[0] = PUBLISHED_S + second
            ranking = client.get(
                "/v1/index766/rankings",
                params={"group": "so_nganh", "period": "2026-12"},
                headers={"Authorization": "Bearer dev-read-token"},
            )
            assert ranking.status_code == 200 and len(reads) == 4
