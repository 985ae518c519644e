"""The public page and the board of the merged province in a real browser (Playwright
driving Debian's chromium), against the API process on a Redis holding the province month
by month across its reorganisation: the catalog of An Giang in time
(``agencies-an-giang.csv``, given to the API as ``EGOV_AGENCIES_CSV``), the 2024 units until
2025-06-30 and the 117 units of the merged province since (issue 18, item 4):

- the 117-unit page has both groups and the switch; switching group, searching by name
  (without tone marks) or code and sorting work in place with JavaScript and as links and
  a GET form without it; every shown figure equals the API's;
- at 390 px the page does not scroll sideways and each unit is a compact card;
- a unit with one dossier (1/1) says "Chưa đủ số liệu" with its figure;
- a trend across 07/2025 marks the change of territory; targets name their documents and,
  in 2026, say "chuyển tiếp từ 2025" (Nghị quyết 188's 70 % for the province);
- the board lists every unit of today with the same switch and search.

Screenshots go to ``.run/screenshots/province-*.png`` for a person to look at.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import RunningService, start_service
from services.api.public.results import latest_closed_month, month_period, previous_month
from shared.contract.validation import validate_event
from shared.store.indicator_store import IndicatorStore
from tests.e2e.test_pages import Console, api_get, check_figures_equal_api, figures_in, run, shot
from tests.tools import CHROMIUM_ARGS, need
from tests.web_data import (
    ONE_DOSSIER_UNIT,
    province_catalog,
    province_catalog_path,
    province_events,
)

pytestmark = pytest.mark.e2e

TERRITORY_MONTH = month_period(2025, 9)  # its trend: 10/2024 – 09/2025


def seeded_months() -> list[date]:
    """The months two pages read: the 12-month trend of 09/2025 and of the latest closed
    month (with the month before each)."""
    latest = latest_closed_month()
    wanted: set[date] = set()
    for month in (TERRITORY_MONTH, latest):
        period = month
        for _ in range(13):
            wanted.add(period.start)
            period = previous_month(period)
    return sorted(wanted)


async def apply_province(redis_url: str) -> int:
    catalog = province_catalog()
    parsed = [validate_event(e, agencies=catalog) for e in province_events(seeded_months())]
    valid = [e for e in parsed if not isinstance(e, list)]
    assert len(valid) == len(parsed), [e for e in parsed if isinstance(e, list)][:3]
    redis = Redis.from_url(redis_url)
    store = IndicatorStore(redis)
    for start in range(0, len(valid), 2000):
        await store.apply_many(valid[start : start + 2000])
    await redis.aclose()
    return len(valid)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("province")
    redis = RedisServer(root / "redis", free_port())
    redis.start()
    api: RunningService | None = None
    try:
        events = run(apply_province(redis.url))
        api = start_service(
            "api",
            free_port(),
            {
                "EGOV_REDIS_URL": redis.url,
                "EGOV_AGENCIES_CSV": str(province_catalog_path()),
                "EGOV_PROMETHEUS_URL": "http://127.0.0.1:9/prometheus",
                "EGOV_RATE_LIMIT_PER_S": "10000",
                "EGOV_RATE_LIMIT_BURST": "10000",
            },
            root / "logs",
        )
        yield {"url": api.url, "redis_url": redis.url, "events": events}
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


def visible_units(page: Any, group: str | None = None) -> list[str]:
    """Codes of the unit rows a person sees, in the order shown."""
    selector = "tr[data-unit]" if group is None else f'[data-group-section="{group}"] tr[data-unit]'
    return list(
        page.eval_on_selector_all(
            selector,
            "els => els.filter(e => e.offsetParent !== null).map(e => e.dataset.unit)",
        )
    )


def settled(page: Any, group: str, sort: str, folded: str) -> None:
    """Wait until the units' script applied this view (group, order, folded search)."""
    page.wait_for_selector(
        f'[data-units][data-units-ready="{group}|{sort}|{folded}"]', state="attached"
    )


def badge_of(page: Any, code: str) -> str:
    return str(page.get_attribute(f'tr[data-unit="{code}"] .badge', "data-verdict"))


def test_the_117_unit_page_switches_searches_and_sorts_in_place(
    site: dict[str, Any], browser: Any
) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    resp = page.goto(f"{site['url']}/public/ket-qua")
    assert resp is not None and resp.status == 200
    page.wait_for_selector("[data-units][data-units-ready]")
    provincial, local = visible_units(page, "so_nganh"), visible_units(page, "dia_phuong")
    assert len(local) == 102 and len(provincial) == 16  # 15 departments and the office
    assert len({*provincial, *local} - {"vp-ubnd-tinh"}) == 117
    assert page.is_visible('[data-group-switch] a[data-group="dia_phuong"]')
    assert "Cấp xã" in page.text_content('[data-group-switch] a[data-group="dia_phuong"]')
    assert "cấp huyện" not in page.text_content("main")

    # the figures are the API's (the overview, every unit)
    month = latest_closed_month()
    shown = figures_in(page)
    assert {f["period"] for f in shown} == {month.label}
    check_figures_equal_api(site, [f for f in shown if f["indicator"] == "full_online_rate"])

    # 1/1: its figure, no verdict
    assert badge_of(page, ONE_DOSSIER_UNIT) == "Chưa đủ số liệu"
    value = page.text_content(f'tr[data-unit="{ONE_DOSSIER_UNIT}"] [data-figure=value]')
    assert value == "100,00%"
    # the province judged on Nghị quyết 188, carried over from 2025
    province = api_get(
        site, "/v1/indicators/full_online_rate", scope="province", period=month.label
    )
    assert (province["target"], province["target_set"]) == (70.0, "nq188-2025")
    assert province["target_carried_over"] is True and province["target_year"] == 2025
    assert "Nghị quyết 188/NQ-CP" in page.text_content("ol.notes")
    assert page.locator("tr[data-unit] .carried >> text=chuyển tiếp từ 2025").count() >= 117
    shot(page, "province-desktop")

    # switch group in place: no reload, the URL follows
    page.evaluate("window.__sameDocument = true")
    page.click('[data-group-switch] a[data-group="dia_phuong"]')
    assert not page.is_visible('[data-group-section="so_nganh"]')
    assert len(visible_units(page)) == 102 and "group=dia_phuong" in page.url
    # search without tone marks, then by code
    page.fill("[data-units-search]", "dong thai")
    settled(page, "dia_phuong", "value", "dong thai")
    assert visible_units(page) == [ONE_DOSSIER_UNIT]
    assert "1 / 118" in page.text_content("[data-units-count]")
    page.fill("[data-units-search]", "h01.200")  # the island zone Kiên Hải
    page.click('[data-group-switch] a[data-group=""]')
    settled(page, "", "value", "h01.200")
    assert visible_units(page) == ["H01.200"]
    page.fill("[data-units-search]", "")
    settled(page, "", "value", "")
    # sort by name: the order the server gives for ?sort=name
    page.select_option("[data-units-sort]", "name")
    settled(page, "", "name", "")
    by_name = visible_units(page, "dia_phuong")
    assert "sort=name" in page.url and page.evaluate("window.__sameDocument") is True
    server = browser.new_page()
    server.goto(f"{site['url']}/public/ket-qua?sort=name")
    assert [u for u in visible_units(server, "dia_phuong")] == by_name
    server.close()
    assert console.errors == []
    page.close()


def test_the_phone_layout_has_no_sideways_scroll(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    console = Console(page)
    page.goto(f"{site['url']}/public/ket-qua")
    page.wait_for_selector("[data-units][data-units-ready]")
    page.locator(f'tr[data-unit="{ONE_DOSSIER_UNIT}"]').scroll_into_view_if_needed()
    page.screenshot(path=str(shot_path("province-mobile-units")), full_page=False)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    # a unit is a compact card (not eight labelled lines): its name; value and verdict
    # beside the trend; dossiers and change on one line; the target
    unit = f'tr[data-unit="{ONE_DOSSIER_UNIT}"]'
    box = page.locator(unit).bounding_box()
    assert box is not None and box["width"] <= 390 and box["height"] < 180, box
    value = page.locator(f"{unit} td.val").bounding_box()
    trend = page.locator(f"{unit} td.trend svg").bounding_box()
    dossiers = page.locator(f"{unit} td.nd").bounding_box()
    change = page.locator(f"{unit} td.chg").bounding_box()
    assert value is not None and trend is not None and dossiers is not None and change is not None
    assert trend["x"] > value["x"] + value["width"] and abs(trend["y"] - value["y"]) < 20
    assert abs(dossiers["y"] - change["y"]) < 5 and change["x"] > dossiers["x"]
    shot(page, "province-mobile-top")
    page.click('[data-group-switch] a[data-group="dia_phuong"]')
    page.fill("[data-units-search]", "xã An")
    settled(page, "dia_phuong", "value", "xa an")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#theo-co-quan").scroll_into_view_if_needed()
    page.screenshot(path=str(shot_path("province-mobile-search")), full_page=False)
    assert console.errors == []
    context.close()


def shot_path(name: str) -> Any:
    from tests.tools import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def test_the_page_without_javascript(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1100, "height": 900}
    )
    page = context.new_page()
    page.goto(f"{site['url']}/public/ket-qua")
    assert len(visible_units(page)) == 118
    page.click('[data-group-switch] a[data-group="dia_phuong"]')
    page.wait_for_load_state()
    assert "group=dia_phuong" in page.url
    assert not page.is_visible('[data-group-section="so_nganh"]')
    assert len(visible_units(page)) == 102
    page.fill("input[name=q]", "Đông Thái")
    page.select_option("select[name=sort]", "name")
    page.click("form[data-units-form] button[type=submit]")
    page.wait_for_load_state()
    assert "q=" in page.url and "sort=name" in page.url and "group=dia_phuong" in page.url
    assert visible_units(page) == [ONE_DOSSIER_UNIT]
    assert badge_of(page, ONE_DOSSIER_UNIT) == "Chưa đủ số liệu"
    shot(page, "province-no-javascript")
    # the month picker keeps the view
    earlier = previous_month(latest_closed_month()).label
    page.select_option("form.picker select[name=month]", earlier)
    page.click("form.picker button[type=submit]")
    page.wait_for_load_state()
    assert f"month={earlier}" in page.url and visible_units(page) == [ONE_DOSSIER_UNIT]
    context.close()


def test_a_trend_across_july_2025_marks_the_territory(site: dict[str, Any], browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    page.goto(f"{site['url']}/public/ket-qua?month={TERRITORY_MONTH.label}")
    note = page.text_content(".territory-note")
    assert note is not None and "Địa giới thay đổi từ 07/2025" in note
    markers = page.locator("tr.total [data-figure=trend] line.spark-territory")
    assert markers.count() == 2
    labels = page.locator("tr.total text.spark-territory-label").all_text_contents()
    assert labels == ["từ 07/2025", "từ 07/2025"]
    # the group totals' trends are the API's series, across the two territories
    trend = page.get_attribute(
        'tr.total [data-figure=trend][data-scope="group:dia_phuong"]', "data-trend"
    )
    assert trend is not None and '"2025-06"' in trend and '"2025-07"' in trend
    # targets of 2025 are the year's own: not carried over
    assert page.locator("tr[data-unit] .carried >> text=chuyển tiếp từ 2025").count() == 0
    page.locator('tr.total[data-row="group:so_nganh"]').scroll_into_view_if_needed()
    page.screenshot(path=str(shot_path("province-territory")), full_page=False)
    later = browser.new_page()
    later.goto(f"{site['url']}/public/ket-qua")
    assert later.locator("line.spark-territory").count() == 0
    later.close()
    assert console.errors == []
    page.close()


def test_the_board_lists_every_unit_with_the_switch(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page)
    page.goto(f"{site['url']}/board/login")
    page.fill("#token", "dev-read-token")
    page.click("button[type=submit]")
    page.wait_for_url("**/board")
    page.wait_for_selector("[data-units][data-units-ready]")
    assert page.is_visible("[data-units-tools]")
    assert len(visible_units(page, "dia_phuong")) == 102
    assert len(visible_units(page, "so_nganh")) == 16
    page.click('[data-group-switch] a[data-group="dia_phuong"]')
    assert not page.is_visible('[data-group-section="so_nganh"]')
    page.fill("[data-units-search]", "dong thai")
    settled(page, "dia_phuong", "value", "dong thai")
    assert visible_units(page) == [ONE_DOSSIER_UNIT]
    # this year's figures of the unit are the API's
    year = str(date.today().year)
    row = page.locator(f'tr[data-unit="{ONE_DOSSIER_UNIT}"] [data-figure=value]')
    body = api_get(site, "/v1/indicators/full_online_rate", scope=ONE_DOSSIER_UNIT, period=year)
    assert int(str(row.get_attribute("data-denominator"))) == body["denominator"]
    page.fill("[data-units-search]", "")
    shot(page, "province-board")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#don-vi").scroll_into_view_if_needed()
    page.screenshot(path=str(shot_path("province-board-mobile")), full_page=False)
    assert console.errors == []
    context.close()


def test_public_page_headers_allow_only_its_own_script(site: dict[str, Any]) -> None:
    resp = httpx.get(f"{site['url']}/public/ket-qua", timeout=30)
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe" not in csp
    # a search is a view: not cached as a page, answered from the same figures
    started = time.monotonic()
    for q in ("an", "phu", "H01.1"):
        got = httpx.get(f"{site['url']}/public/ket-qua", params={"q": q}, timeout=30)
        assert got.status_code == 200 and got.headers["etag"] != resp.headers["etag"]
    assert time.monotonic() - started < 10


def test_pictures_for_the_docs(site: dict[str, Any], browser: Any) -> None:
    """The pictures of README.md and docs/api.md (``docs/img/public-results.png``,
    ``docs/img/public-phone.png`` are copies): the top of the page at 1024 px, and the units
    of the commune level on a 390 px phone."""
    page = browser.new_page(viewport={"width": 1024, "height": 820})
    page.goto(f"{site['url']}/public/ket-qua")
    page.wait_for_selector("[data-units][data-units-ready]")
    assert "Cấp xã" in page.text_content("table.overview thead")
    assert "cấp huyện" not in page.text_content("table.overview thead")
    page.screenshot(path=str(shot_path("province-readme")), full_page=False)
    page.close()
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True
    ).new_page()
    phone.goto(f"{site['url']}/public/ket-qua?group=dia_phuong")
    phone.wait_for_selector("[data-units][data-units-ready]")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    top = phone.evaluate(
        "document.querySelector('[data-group-switch]').getBoundingClientRect().top + scrollY"
    )
    clip = {"x": 0, "y": top - 12, "width": 390, "height": 844}
    phone.screenshot(path=str(shot_path("province-phone")), full_page=True, clip=clip)
    phone.context.close()
