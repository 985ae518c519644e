"""Each notifier says whether a failure is worth a retry, as Alertmanager's do: a webhook
answering 5xx (or unreachable) is retried with backoff; 4xx, an invalid URL or an invalid
address is final — given up after one attempt, counted and kept in the failed list. A real
HTTP server answers; the engine's clock moves past every backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from services.alerts.engine import AlertEngine
from services.alerts.metrics import GIVEN_UP
from services.alerts.rules import Observation, Rule, Severity
from services.alerts.state import Finding, Subject
from shared.domain.calendar import LOCAL_TZ
from shared.platform.config import AlertRoute, Settings
from tests.conftest import redis_db
from tests.receivers import HttpReceiver

DB = 9
MONDAY = datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL_TZ)
FIRING = Finding(
    Subject(Rule.overdue, "so-y-te", "Sở Y tế", "open"),
    Observation(True, Severity.critical, 2.0),
    {"count": 2},
)


class Clock:
    def __init__(self) -> None:
        self.at = MONDAY

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture()
def url(redis_server: Any) -> str:
    import redis as sync_redis

    u = redis_db(redis_server, DB)
    sync_redis.Redis.from_url(u).flushdb()
    return u


@pytest.fixture()
def receiver() -> Iterator[HttpReceiver]:
    server = HttpReceiver()
    server.start()
    yield server
    server.stop()


def given_up(channel: str, reason: str) -> float:
    return float(GIVEN_UP.labels(channel, reason)._value.get())


async def deliver_rounds(
    url: str, routes: list[AlertRoute], rounds: int
) -> tuple[list[int], int, list[str]]:
    """Fire one alert, then deliver ``rounds`` times, 10 minutes apart (past any backoff):
    what each round sent, the outbox depth after, the failed list's reasons."""
    clock = Clock()
    redis = Redis.from_url(url)
    settings = Settings(redis_url=url, alerts_routes=routes, alerts_digest_emails=[])
    engine = AlertEngine(settings, redis, clock=clock)
    await engine.observe(FIRING)
    sent = []
    for _ in range(rounds):
        sent.append(await engine.deliver())
        clock.at += timedelta(minutes=10)
    depth = await engine.outbox.depth()
    reasons = [n.body for n in await engine.outbox.failed()]
    await engine.senders.close()
    await redis.aclose()
    return sent, depth, reasons


@pytest.mark.parametrize("status", [400, 404])
def test_webhook_4xx_is_final_one_attempt(url: str, receiver: HttpReceiver, status: int) -> None:
    receiver.status = status
    before = given_up("webhook", "final")
    sent, depth, reasons = asyncio.run(
        deliver_rounds(url, [AlertRoute(webhooks=[receiver.url])], 4)
    )
    assert len(receiver.requests) == 1  # never retried
    assert sent == [0, 0, 0, 0] and depth == 0
    assert reasons == [f"webhook answered {status}"]
    assert given_up("webhook", "final") == before + 1


def test_webhook_503_is_retried_until_it_is_accepted(url: str, receiver: HttpReceiver) -> None:
    receiver.status = 503

    async def scenario() -> tuple[list[int], int]:
        clock = Clock()
        redis = Redis.from_url(url)
        routes = [AlertRoute(webhooks=[receiver.url])]
        engine = AlertEngine(Settings(redis_url=url, alerts_routes=routes), redis, clock=clock)
        await engine.observe(FIRING)
        sent = []
        for attempt in range(4):
            if attempt == 3:
                receiver.status = 200  # the receiver recovers
            sent.append(await engine.deliver())
            clock.at += timedelta(minutes=10)
        depth = await engine.outbox.depth()
        await engine.senders.close()
        await redis.aclose()
        return sent, depth

    sent, depth = asyncio.run(scenario())
    assert len(receiver.requests) == 4  # three 503s retried, then accepted
    assert sent == [0, 0, 0, 1] and depth == 0
    ids = {h["Idempotency-Key"] for h, _ in receiver.requests}
    assert len(ids) == 1  # every retry is the same notification


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:99999/hook",  # port out of range: httpx.InvalidURL
        "ftp://127.0.0.1/hook",  # not http(s)
        "hook.example",  # no scheme
    ],
)
def test_invalid_webhook_url_is_final(url: str, target: str) -> None:
    before = given_up("webhook", "final")
    sent, depth, reasons = asyncio.run(deliver_rounds(url, [AlertRoute(webhooks=[target])], 3))
    assert sent == [0, 0, 0] and depth == 0
    assert reasons == ["webhook: invalid URL"]
    assert given_up("webhook", "final") == before + 1


def test_invalid_email_address_is_final(url: str) -> None:
    sent, depth, reasons = asyncio.run(
        deliver_rounds(url, [AlertRoute(emails=["not-an-address"])], 2)
    )
    assert sent == [0, 0] and depth == 0
    assert reasons == ["invalid email address"]


def test_unreachable_webhook_is_retried(url: str) -> None:
    from devstack.ports import free_port

    target = f"http://127.0.0.1:{free_port()}/hook"  # nobody listens: connection refused
    sent, depth, reasons = asyncio.run(deliver_rounds(url, [AlertRoute(webhooks=[target])], 3))
    assert sent == [0, 0, 0] and depth == 1 and reasons == []  # still waiting, not given up
