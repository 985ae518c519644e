"""What people see, in a real browser (Playwright driving Debian's chromium) against the API
process on a Redis holding 13 months of a province's figures:

- the public results page and the ICT board render with no console error, and every figure
  they show equals the API's JSON for the same scope and period (read from the DOM's data
  attributes, and the text shown);
- the public page works with JavaScript disabled (month picker included), answers 404 for
  months not closed, is cached with an ETag until a figure changes, and its embed route
  carries the configured frame-ancestors policy;
- the board shows a new alert, a changed figure and a new alert mail (sent over SMTP to
  the local mail sink) within 5 s, without a reload;
- the PDF reports have the Vietnamese names and the API's figures in their text, and
  LibreOffice prints the annual XLSX one page wide.

Screenshots go to ``.run/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import subprocess
import time
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from devstack.mailsink import start_mail_sink
from devstack.ports import free_port
from devstack.redis import RedisServer
from devstack.services import RunningService, start_service
from services.alerts.model import Alert, AlertState, Channel, Notification
from services.alerts.notify import Senders
from services.alerts.rules import Rule, Severity
from services.alerts.state import AlertStore
from services.api.public.results import latest_closed_month, previous_month
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ, now_utc, today_local
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings
from shared.platform.mailbox import recent
from shared.readmodel.display import num, pct, points
from shared.store.indicator_store import IndicatorStore
from tests.factories import received
from tests.tools import CHROMIUM_ARGS, SCREENSHOTS, need, pdf_pages, pdftotext
from tests.web_data import history_events

pytestmark = pytest.mark.e2e

READ = {"Authorization": "Bearer dev-read-token"}
PORTAL = "https://congthongtin.example.gov.vn"


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """An async helper from a sync test (Playwright's sync API owns this thread's loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def apply_events(redis_url: str, events: list[dict[str, Any]]) -> None:
    redis = Redis.from_url(redis_url)
    catalog = load_agencies()  # in time: each event's agency valid on its own date
    parsed = [validate_event(e, agencies=catalog) for e in events]
    valid = [e for e in parsed if not isinstance(e, list)]
    assert len(valid) == len(events), parsed
    store = IndicatorStore(redis)
    for start in range(0, len(valid), 2000):
        await store.apply_many(valid[start : start + 2000])
    await redis.aclose()


async def save_alert(redis_url: str, alert: Alert) -> None:
    redis = Redis.from_url(redis_url)
    await AlertStore(redis).save(alert, changed=True)
    await redis.aclose()


async def send_mail(port: int, subject: str, body: str) -> None:
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
    note = Notification(
        id=uuid.uuid4().hex,
        channel=Channel.email,
        target="cntt@egov-monitor.local",
        kind="firing",
        subject=subject,
        body=body,
        queued_at=now_utc(),
    )
    senders = Senders(settings)
    try:
        await senders.send(note)  # the alerts service's own SMTP delivery
    finally:
        await senders.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Redis with the history, the mail sink, the API: one of each for the module."""
    root = tmp_path_factory.mktemp("pages")
    redis = RedisServer(root / "redis", free_port())
    redis.start()
    mail_port, mail_dir = free_port(), root / "mail"
    sink = start_mail_sink(mail_port, mail_dir, root / "logs")
    api: RunningService | None = None
    try:
        started = time.monotonic()
        run(apply_events(redis.url, list(history_events())))
        seeded = time.monotonic() - started
        api = start_service(
            "api",
            free_port(),
            {
                "EGOV_REDIS_URL": redis.url,
                "EGOV_MAIL_DIR": str(mail_dir),
                "EGOV_PUBLIC_FRAME_ANCESTORS": json.dumps(["'self'", PORTAL]),
                "EGOV_PROMETHEUS_URL": "http://127.0.0.1:9/prometheus",
                "EGOV_RATE_LIMIT_PER_S": "10000",
                "EGOV_RATE_LIMIT_BURST": "10000",
            },
            root / "logs",
        )
        yield {
            "url": api.url,
            "redis_url": redis.url,
            "mail_port": mail_port,
            "mail_dir": mail_dir,
            "seeded_s": seeded,
        }
    finally:
        if api is not None:
            api.process.stop()
        sink.stop()
        redis.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = need("chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Console:
    """Console errors and uncaught page errors of one page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


_CLIENT = httpx.Client(timeout=30)  # one connection: a new client per request costs 30 ms


def api_get(site: dict[str, Any], path: str, **params: str) -> Any:
    resp = _CLIENT.get(f"{site['url']}{path}", params=params, headers=READ)
    assert resp.status_code == 200, resp.text
    return resp.json()


def number(text: str) -> float | None:
    return None if text == "" else float(text)


def figures_in(page: Any) -> list[dict[str, Any]]:
    return list(
        page.eval_on_selector_all(
            "[data-figure=value]",
            "els => els.map(e => ({...e.dataset, text: e.textContent.trim()}))",
        )
    )


def check_figures_equal_api(site: dict[str, Any], shown: list[dict[str, Any]]) -> int:
    """Every shown figure against GET /v1/indicators/{indicator}?scope=&period=."""
    answers: dict[tuple[str, str, str], Any] = {}
    for fig in shown:
        key = (fig["indicator"], fig["scope"], fig["period"])
        if key not in answers:
            answers[key] = api_get(site, f"/v1/indicators/{key[0]}", scope=key[1], period=key[2])
        body = answers[key]
        assert number(fig["value"]) == body["value"], (key, fig, body)
        assert int(fig["numerator"]) == body["numerator"], (key, fig, body)
        assert int(fig["denominator"]) == body["denominator"], (key, fig, body)
        assert number(fig["target"]) == body["target"], (key, fig, body)
        assert fig["verdict"] == (body["verdict"] or ""), (key, fig, body)
        assert fig["text"] == pct(body["value"]), (key, fig, body)
    return len(answers)


# -- the public page ---------------------------------------------------------------------


def test_public_page_shows_the_apis_figures(site: dict[str, Any], browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    console = Console(page)
    resp = page.goto(f"{site['url']}/public/ket-qua")
    assert resp is not None and resp.status == 200
    month = latest_closed_month()
    assert f"tháng {month.label[5:]}/{month.label[:4]}" in page.title()
    shown = figures_in(page)
    assert {f["period"] for f in shown} == {month.label}
    agencies = {a.agency_code for a in load_agencies().valid_between(month.start, month.end)}
    assert agencies <= {f["scope"] for f in shown}  # every agency of the month has a row
    assert check_figures_equal_api(site, shown) >= 14 * 3 + len(agencies)
    assert any(f["verdict"] == "Đạt" for f in shown) and any(
        f["verdict"] == "Chưa đạt" for f in shown
    )

    # change since last month: both months' API values, the difference shown
    previous = previous_month(month).label
    changes = page.eval_on_selector_all(
        "[data-figure=change]", "els => els.map(e => ({...e.dataset, text: e.textContent.trim()}))"
    )
    assert len(changes) >= len(agencies)
    for ch in changes[:60]:
        before = api_get(
            site, f"/v1/indicators/{ch['indicator']}", scope=ch["scope"], period=previous
        )
        now = api_get(
            site, f"/v1/indicators/{ch['indicator']}", scope=ch["scope"], period=month.label
        )
        assert number(ch["previousValue"]) == before["value"]
        expected = (
            None
            if now["value"] is None or before["value"] is None
            else now["value"] - before["value"]
        )
        assert number(ch["change"]) == expected and ch["text"] == points(expected), ch

    # 12-month trends: GET /v1/series month by month
    trends = page.eval_on_selector_all(
        "[data-figure=trend]",
        "els => els.map(e => ({...e.dataset, svg: e.querySelector('svg') !== null}))",
    )
    assert len(trends) == len(agencies) + 2 and all(t["svg"] for t in trends)
    for t in trends:
        points_shown = json.loads(t["trend"])
        assert len(points_shown) == 12 and points_shown[-1][0] == month.label
        first = points_shown[0][0]
        series = api_get(
            site,
            f"/v1/series/{t['indicator']}",
            scope=t["scope"],
            period=f"{first}-01..{month.end.isoformat()}",
            step="month",
        )
        assert [[p["period"], p["value"]] for p in series] == points_shown, t["scope"]

    # no dossier id anywhere: aggregated figures only
    html = page.content()
    assert "overdue_ids" not in html and "data-dossier" not in html and ">w1<" not in html
    shot(page, "public-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "public-mobile")
    assert console.errors == []
    page.close()


def test_public_page_works_without_javascript(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1100, "height": 900}
    )
    page = context.new_page()
    console = Console(page)
    page.goto(f"{site['url']}/public/ket-qua")
    earlier = previous_month(previous_month(latest_closed_month())).label
    page.select_option("select[name=month]", earlier)
    page.select_option("select[name=indicator]", "online_rate")
    page.click("form.picker button[type=submit]")
    page.wait_for_load_state()
    assert f"month={earlier}" in page.url and "indicator=online_rate" in page.url
    shown = figures_in(page)
    assert {f["period"] for f in shown} == {earlier}
    rows = [f for f in shown if f["indicator"] == "online_rate"]
    assert len(rows) >= 30
    check_figures_equal_api(site, rows[:40])
    assert page.locator("svg.spark").count() >= 30  # trends drawn by the server
    shot(page, "public-no-javascript")
    page.goto(f"{site['url']}/public/ket-qua/embed?month={earlier}")  # the portal's frame
    assert page.locator("header.site").count() == 0 and len(figures_in(page)) >= 30
    shot(page, "public-embed")
    assert console.errors == []
    context.close()


def test_public_routes_publish_closed_months_only_and_cache(site: dict[str, Any]) -> None:
    base = site["url"]
    today = today_local()
    current = f"{today:%Y-%m}"
    for text in (current, f"{today.year + 1}-01", "2026-13", "x"):
        resp = httpx.get(f"{base}/public/ket-qua", params={"month": text}, timeout=30)
        assert resp.status_code == 404, text
        assert "chưa được công bố" in resp.text or "Không" in resp.text
    assert (
        httpx.get(f"{base}/public/ket-qua", params={"indicator": "nope"}, timeout=30).status_code
        == 404
    )

    page = httpx.get(f"{base}/public/ket-qua", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe" not in csp  # its own script only (units.js), never inline
    embed = httpx.get(f"{base}/public/ket-qua/embed", timeout=30)
    assert embed.status_code == 200
    assert f"frame-ancestors 'self' {PORTAL}" in embed.headers["content-security-policy"]
    assert "x-frame-options" not in embed.headers
    assert "<header" not in embed.text  # no site chrome inside the portal's frame

    # cached until a figure changes: 304 on the same ETag, a new one after a write
    etag = page.headers["etag"]
    again = httpx.get(f"{base}/public/ket-qua", headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304
    # today's events leave a closed month's page as it is (its months' period versions)
    now = (now_utc() - timedelta(seconds=30)).astimezone(LOCAL_TZ)
    todays = received(
        agency="H01.05",
        dossier=f"today-{uuid.uuid4().hex[:6]}",
        at=now.isoformat(timespec="seconds"),
        event_id=f"today-{uuid.uuid4().hex}",
    )
    run(apply_events(site["redis_url"], [todays]))
    still = httpx.get(f"{base}/public/ket-qua", headers={"If-None-Match": etag}, timeout=30)
    assert still.status_code == 304
    month = latest_closed_month()
    late = received(
        agency="H01.05",
        dossier=f"late-{uuid.uuid4().hex[:6]}",
        at=f"{month.end.isoformat()}T10:00:00+07:00",
        event_id=f"late-{uuid.uuid4().hex}",
    )
    run(apply_events(site["redis_url"], [late]))
    changed = httpx.get(f"{base}/public/ket-qua", headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200 and changed.headers["etag"] != etag

    csv = httpx.get(f"{base}/public/ket-qua.csv", timeout=30)
    assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
    text = csv.content.decode("utf-8-sig")
    assert "Sở Khoa học và Công nghệ" in text and "Toàn tỉnh" in text
    api = api_get(site, "/v1/indicators/full_online_rate", scope="H01.05", period=month.label)
    line = next(ln for ln in text.splitlines() if ",H01.05," in ln)
    assert f",{api['numerator']},{api['denominator']},{api['value']:.2f}," in line


# -- the board ---------------------------------------------------------------------------


def test_board_login_figures_and_live_updates(site: dict[str, Any], browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    console = Console(page)
    page.goto(f"{site['url']}/board")
    assert page.url.endswith("/board/login")
    page.fill("#token", "wrong-token")
    page.click("button[type=submit]")
    assert "không hợp lệ" in page.text_content("[role=alert]")
    console.errors.clear()  # the 401 of a refused login is logged by the browser
    page.fill("#token", "dev-read-token")
    page.click("button[type=submit]")
    page.wait_for_url("**/board")
    (cookie,) = [c for c in context.cookies() if c["name"] == "egov_board"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/board"
    assert "dev-read-token" not in page.url and "dev-read-token" not in page.content()
    page.wait_for_selector("#live[data-state=open]", timeout=10_000)

    # today's and the year's figures equal the API's
    shown = figures_in(page)
    periods = {f["period"] for f in shown}
    today = today_local()
    assert periods == {today.isoformat(), str(today.year)}
    check_figures_equal_api(site, shown)
    # overdue per agency equals GET /v1/dossiers/open
    report = api_get(site, "/v1/dossiers/open", scope="province", limit="0")
    overdue = page.eval_on_selector_all(
        "[data-figure=overdue]", "els => els.map(e => [e.dataset.agency, Number(e.dataset.value)])"
    )
    expected = {
        a["agency_code"]: a["overdue"] for a in report["agencies"] if a["open"] or a["overdue"]
    }
    assert dict(overdue) == expected and sum(expected.values()) == report["overdue"] > 0
    kpis = dict(
        page.eval_on_selector_all(
            "[data-kpi]", "els => els.map(e => [e.dataset.kpi, e.textContent.trim()])"
        )
    )
    firing = api_get(site, "/v1/alerts", state="firing")
    assert kpis["alerts_firing"] == num(len(firing))
    assert kpis["overdue"] == num(report["overdue"]) and kpis["open"] == num(report["open"])
    assert kpis["due_within_24h"] == num(report["due_within_24h"])

    # live: a new alert, a changed figure, a new mail — within 5 s, no reload
    page.evaluate("window.__sameDocument = true")
    before = next(
        f
        for f in shown
        if f["scope"] == "province"
        and f["indicator"] == "full_online_rate"
        and f["period"] == today.isoformat()
    )
    key = f"breach|H01.10|full_online_rate|{uuid.uuid4().hex[:6]}"
    alert = Alert(
        key=key,
        rule=Rule.breach,
        scope="H01.10",
        scope_name="Sở Y tế",
        indicator="full_online_rate",
        indicator_name="Tỷ lệ hồ sơ trực tuyến toàn trình",
        period=str(today.year),
        state=AlertState.firing,
        severity=Severity.critical,
        value=61.25,
        target=85.0,
        first_seen=now_utc() - timedelta(minutes=5),
        last_seen=now_utc(),
    )
    at = (now_utc() - timedelta(seconds=30)).astimezone(LOCAL_TZ).isoformat(timespec="seconds")
    event = received(
        agency="H01.05", dossier=f"live-{uuid.uuid4().hex[:6]}", at=at, event_id=uuid.uuid4().hex
    )
    subject = "[egov-monitor] Cảnh báo: Sở Y tế dưới chỉ tiêu toàn trình"
    started = time.monotonic()
    run(save_alert(site["redis_url"], alert))
    run(apply_events(site["redis_url"], [event]))
    run(send_mail(site["mail_port"], subject, "Sở Y tế: 61,25% < 85% (năm nay)"))
    page.wait_for_selector(f'[data-alert="{key}"]', timeout=5_000)
    selector = (
        "[data-figure=value][data-scope=province][data-indicator=full_online_rate]"
        f'[data-period="{today.isoformat()}"]'
    )
    page.wait_for_function(
        "([sel, n]) => Number(document.querySelector(sel).dataset.denominator) === n",
        arg=[selector, int(before["denominator"]) + 1],
        timeout=max(500, int(5_000 - 1000 * (time.monotonic() - started))),
    )
    page.wait_for_selector(f'tr[data-mail] >> text="{subject}"', timeout=5_000)
    assert time.monotonic() - started < 5.0 + 1.0  # the waits above are the 5 s bound
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    check_figures_equal_api(site, figures_in(page))
    assert recent(site["mail_dir"], 1)[0].subject == subject

    # the stored mail opens from the board, Vietnamese intact
    page.click(f'tr[data-mail] >> text="{subject}"')
    page.wait_for_selector("pre.mail")
    assert "61,25% < 85%" in page.text_content("pre.mail")
    page.go_back()
    page.wait_for_selector("#live[data-state=open]", timeout=10_000)
    shot(page, "board")
    assert console.errors == []
    context.close()


def test_board_needs_the_cookie(site: dict[str, Any]) -> None:
    base = site["url"]
    assert httpx.get(f"{base}/board", timeout=10).status_code == 303
    assert httpx.get(f"{base}/board/events", timeout=10).status_code == 401
    bad = httpx.post(f"{base}/board/login", data={"token": "dev-ingest-token"}, timeout=10)
    assert bad.status_code == 401 and "set-cookie" not in bad.headers


# -- reports that print ------------------------------------------------------------------


def test_pdf_reports_have_the_apis_vietnamese_text(site: dict[str, Any]) -> None:
    year = today_local().year
    table = api_get(site, "/v1/reports/annual", year=str(year))
    pdf = httpx.get(
        f"{site['url']}/v1/reports/annual.pdf", params={"year": year}, headers=READ, timeout=60
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = pdftotext(pdf.content)
    for row in [*table["rows"], table["total"]]:
        # the whole name, then the next column ("UBND xã Vĩnh Hòa" is not "… Vĩnh Hòa Hưng")
        name = re.compile(rf"{re.escape(row['agency_name'])}(\s{{2,}}|$)")
        line = next(ln for ln in text.splitlines() if name.search(ln))
        assert row["rate_text"] in line, (row["agency_name"], line)
        assert f"{row['hstn_total']:,}".replace(",", ".") in line
    month = latest_closed_month().label
    summary = api_get(site, "/v1/reports/summary", month=month)
    pdf = httpx.get(
        f"{site['url']}/v1/reports/summary.pdf", params={"month": month}, headers=READ, timeout=60
    )
    assert pdf.status_code == 200
    text = pdftotext(pdf.content)
    assert "Tóm tắt cho lãnh đạo" in text and "Biểu dương" in text and "Phê bình" in text
    assert pct(summary["province_value"]) in text
    for r in [*summary["best"], *summary["worst"]]:
        name = re.compile(rf"{re.escape(r['agency_name'])}(\s{{2,}}|$)")
        line = next(ln for ln in text.splitlines() if name.search(ln))
        assert pct(r["value"]) in line, line


def test_libreoffice_prints_the_annual_xlsx_one_page_wide(
    site: dict[str, Any], tmp_path: Path
) -> None:
    soffice = need("soffice", "libreoffice-calc-nogui")
    year = today_local().year
    xlsx = httpx.get(
        f"{site['url']}/v1/reports/annual.xlsx", params={"year": year}, headers=READ, timeout=60
    )
    assert xlsx.status_code == 200
    source = tmp_path / "phu-luc.xlsx"
    source.write_bytes(xlsx.content)
    subprocess.run(
        [
            soffice,
            f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    pages = pdf_pages(tmp_path / "phu-luc.pdf")
    assert pages and all(w > h for w, h in pages), pages  # landscape
    text = pdftotext(tmp_path / "phu-luc.pdf")
    page_texts = text.split("\f")
    table = api_get(site, "/v1/reports/annual", year=str(year))
    # one page wide: every page has the first and the last column, header repeated
    for page_text in [p for p in page_texts if p.strip()]:
        assert "STT" in page_text and "Chênh lệch" in page_text
    # a page holds 40 rows or more: the merged province's 118 rows take 3 pages (a table
    # split across the width would take twice as many)
    printed = [p for p in page_texts if p.strip()]
    assert len(printed) <= 1 + len(table["rows"]) // 40, len(printed)
    assert all(r["agency_name"] in text for r in table["rows"])
