"""The Decision 766 publication page in a real browser (Playwright driving Debian's
chromium) against the API process, on a Redis holding the hand-computed October 2026 of
``tests/integration/test_index766_api.py``: every total, group and drill-down figure equals
``GET /v1/index766`` for the same scope and month, the page works without JavaScript (the
month and view picker is a plain form), and on a phone nothing scrolls sideways.
Screenshots go to ``.run/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import RunningService, start_service
from tests.e2e.test_pages import run, shot
from tests.integration.test_index766_api import HAND_CATALOG, A, hand_events, load
from tests.tools import CHROMIUM_ARGS, need

pytestmark = pytest.mark.e2e

READ = {"Authorization": "Bearer dev-read-token"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("index766-page")
    redis = RedisServer(root / "redis", free_port())
    redis.start()
    api: RunningService | None = None
    try:
        run(load(redis.url, HAND_CATALOG, hand_events()))
        api = start_service(
            "api",
            free_port(),
            {
                "EGOV_REDIS_URL": redis.url,
                "EGOV_PROMETHEUS_URL": "http://127.0.0.1:9/prometheus",
                "EGOV_RATE_LIMIT_PER_S": "10000",
                "EGOV_RATE_LIMIT_BURST": "10000",
            },
            root / "logs",
        )
        yield api.url
    finally:
        if api is not None:
            api.process.stop()
        redis.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = need("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def api(url: str, scope: str, period: str) -> dict[str, Any]:
    resp = httpx.get(f"{url}/v1/index766", params={"scope": scope, "period": period}, headers=READ)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_figures_equal_the_api_without_javascript_and_on_a_phone(site: str, browser: Any) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{site}/public/chi-so-766?month=2026-10")
    # the picker: a plain form (no JavaScript) — the year to date, then back to the month
    page.select_option("select[name=view]", "nam")
    page.click("form.picker button[type=submit]")
    page.wait_for_load_state()
    assert "view=nam" in page.url and "lũy kế năm 2026" in page.inner_text("h1")
    page.select_option("select[name=view]", "thang")
    page.click("form.picker button[type=submit]")
    page.wait_for_load_state()
    totals = page.eval_on_selector_all(
        "[data-figure=total]",
        "els => els.map(e => [e.dataset.scope, e.dataset.total, e.innerText])",
    )
    seen = {scope for scope, _, _ in totals}
    assert {"province", "group:so_nganh", "group:dia_phuong", A} <= seen
    for scope in ("province", "group:so_nganh", "group:dia_phuong", A):
        body = api(site, scope, "2026-10")
        shown = [(t, text) for s, t, text in totals if s == scope]
        assert all(float(t) == body["total"] for t, _ in shown), scope
        assert all(text == f"{body['total']:.2f}".replace(".", ",") for _, text in shown)
        groups = page.eval_on_selector_all(
            f'[data-figure=group][data-scope="{scope}"]',
            "els => els.map(e => [e.dataset.group, e.dataset.points])",
        )
        assert {(g, float(p)) for g, p in groups} == {
            (g["group"], g["points"]) for g in body["groups"]
        }
    shot(page, "index766-desktop")
    # the drill-down: a unit's metrics, numerator and denominator as the API's
    page.click(f'tr[data-row="{A}"] th a')
    page.wait_for_load_state()
    body = api(site, A, "2026-10")
    cells = page.eval_on_selector_all(
        f'[data-figure=counts][data-scope="{A}"]',
        "els => els.map(e => [e.dataset.metric, +e.dataset.numerator, +e.dataset.denominator])",
    )
    assert cells == [[m["metric"], m["numerator"], m["denominator"]] for m in body["metrics"]]
    assert "Sở Khoa học và Công nghệ" in page.inner_text("#chi-tiet")
    shot(page, "index766-detail")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= 390
    shot(page, "index766-mobile")
    assert errors == []
    context.close()
