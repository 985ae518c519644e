"""The ICT department's live board (read access).

- ``GET /board/login``, ``POST /board/login`` (form field ``token``, at most 4 KB, counted
  as it arrives): a read (or admin) token is checked and a server-side session opened
  (``services/api/board/sessions.py``); the HttpOnly, SameSite=Strict cookie scoped to
  ``/board`` (Secure over HTTPS, also behind a proxy of ``EGOV_TRUSTED_PROXIES``) holds only
  the session's random id — the token is never in a cookie, a URL, a log or the page. Wrong
  tokens and cookies without a session count as failed authentications (429 beyond the
  limit, ``shared/platform/auth.py``).
- ``GET /board`` — firing alerts, overdue dossiers per agency (with those of ended units
  under their successor, "chuyển từ …"), the orphaned open dossiers of ended units without
  one ("Hồ sơ mồ côi"), each unit's Decision 766
  score so far this month with the points its open overdue dossiers cost, today's and the
  year's figures, every unit of today in its group (switch, search, order:
  ``static/units.js``), the last alert mails, links into the API docs and Prometheus.
- ``GET /board/events`` — server-sent events: the board's fragments as they change
  (``services/api/board/live.py``); at most ``EGOV_BOARD_MAX_STREAMS`` at once (503).
- ``GET /board/mail/{file}`` — one stored alert mail; ``POST /board/logout`` ends the
  session on the server.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.api.board.live import BoardHub, HeldStream, digest
from services.api.board.sessions import BoardSessions
from services.api.board.view import UNIT_SORTS, BoardData, mail_dir
from services.api.context import ApiContext, Ctx
from services.api.errors import ApiError
from services.api.public.results import AGGREGATES
from services.api.templating import markup, page_headers, render
from shared.domain.alerts import Alert, Severity
from shared.domain.calendar import today_local
from shared.domain.catalog import AgencyGroup
from shared.domain.scopes import scope_name
from shared.platform.auth import RateLimiter, client_address, credential_of, too_many_failures
from shared.platform.mailbox import read_message, text_body
from shared.readmodel.display import ShownVerdict

router = APIRouter(prefix="/board", tags=["board"], include_in_schema=False)

COOKIE = "egov_board"
HTML = "text/html; charset=utf-8"
MAX_LOGIN_BODY = 4096  # the sign-in form's body limit (services/api/app.py counts it)
ALERTS_SHOWN = 10  # the rest behind "Xem thêm" (a <details>: no script needed)
OVERDUE_SHOWN = 10  # agencies with open dossiers shown before "Xem thêm"
INDEX766_SHOWN = 15  # units of the 766 table shown before "Xem tất cả"
# login attempts per client address: a burst of 10, then one every 6 s
_LOGINS = RateLimiter(per_s=1 / 6, burst=10)

RULES_VI = {
    "breach": "Dưới chỉ tiêu",
    "projection": "Dự báo không đạt cuối năm",
    "overdue": "Hồ sơ quá hạn",
    "due_soon": "Hồ sơ sắp đến hạn",
    "silent_source": "Kết nối gián đoạn (nguồn dữ liệu)",
    "silent_agency": "Cơ quan không gửi dữ liệu",
    "pipeline_behind": "Hệ thống tính toán chậm",
    "system": "Cảnh báo hệ thống",
    "index766_band": "Chỉ số 766 dự báo dưới ngưỡng xếp loại",
    "index766_drop": "Chỉ số 766: chỉ tiêu thành phần giảm mạnh trong tuần",
}


def rule_vi(alert: Alert) -> str:
    return RULES_VI.get(alert.rule.value, alert.rule.value)


def severity_vi(alert: Alert) -> str:
    return "Nghiêm trọng" if alert.severity is Severity.critical else "Cảnh báo"


def board_headers() -> dict[str, str]:
    return page_headers(scripts=True, extra={"Cache-Control": "no-store"})


def sessions(request: Request, ctx: ApiContext) -> BoardSessions:
    found: BoardSessions | None = getattr(request.app.state, "board_sessions", None)
    if found is None:
        found = BoardSessions(ctx.redis, ctx.settings.board_session_ttl_s)
        request.app.state.board_sessions = found
    return found


async def signed_in(request: Request, ctx: ApiContext) -> bool:
    """Whether the board cookie names a live session of a token with read access. A cookie
    without one counts as a failed authentication of this address (429 beyond the limit,
    also for a right one: nothing to learn by guessing session ids)."""
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        return False
    client, credential = client_address(request), "cookie:" + credential_of(cookie)
    if (wait := ctx.failures.retry_after(client, credential)) is not None:
        raise too_many_failures(wait)
    spec = await sessions(request, ctx).holder(cookie, ctx.tokens)
    if spec is None or not spec.allows("read"):
        ctx.failures.failed(client, credential)
        return False
    ctx.failures.succeeded(client, credential)
    return True


def fragments(data: BoardData) -> dict[str, str]:
    common = {
        "d": data,
        "scopes": AGGREGATES,
        "scope_name": lambda s: scope_name(s, data.year.end),
    }
    return {
        "kpis": render("board_kpis.html", **common),
        "alerts": render(
            "board_alerts.html",
            rule_vi=rule_vi,
            severity_vi=severity_vi,
            shown=ALERTS_SHOWN,
            **common,
        ),
        "figures": render("board_figures.html", **common),
        "units": render("board_units.html", verdicts=ShownVerdict, sorts=UNIT_SORTS, **common),
        "index766": render("board_index766.html", shown=INDEX766_SHOWN, **common),
        "overdue": render("board_overdue.html", shown=OVERDUE_SHOWN, **common),
        "orphans": render("board_orphans.html", **common),
        "mail": render("board_mail_list.html", **common),
    }


def hub(request: Request, ctx: ApiContext) -> BoardHub:
    found: BoardHub | None = getattr(request.app.state, "board_hub", None)
    if found is None:
        found = request.app.state.board_hub = BoardHub(ctx, fragments)
    return found


def _login_page(error: str | None = None, status: int = 200) -> Response:
    return Response(
        render("board_login.html", error=error),
        status_code=status,
        media_type=HTML,
        headers=board_headers(),
    )


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


@router.get("")
async def board(request: Request, ctx: Ctx) -> Response:
    if not await signed_in(request, ctx):
        return _to("/board/login")
    parts = await hub(request, ctx).fragments_now()
    body = render(
        "board.html",
        fragments={name: markup(html) for name, html in parts.items()},
        digests={name: digest(html) for name, html in parts.items()},
        prometheus_url=ctx.settings.prometheus_url,
        grafana_url=ctx.settings.dashboard_url,
        unit_groups=[(g.value, scope_name(f"group:{g.value}", today_local())) for g in AgencyGroup],
        unit_sorts=UNIT_SORTS,
        min_denominator=ctx.settings.public_min_denominator,
    )
    return Response(body, media_type=HTML, headers=board_headers())


@router.get("/login")
async def login_form(request: Request, ctx: Ctx) -> Response:
    if await signed_in(request, ctx):
        return _to("/board")
    return _login_page()


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    client = client_address(request)
    if _LOGINS.retry_after(client) is not None:
        return _login_page("Quá nhiều lần đăng nhập, hãy thử lại sau ít phút.", 429)
    raw = await request.body()  # at most MAX_LOGIN_BODY: the app's body limit cuts it
    token = parse_qs(raw.decode("utf-8", "replace")).get("token", [""])[0].strip()
    credential = credential_of(token or None)
    if ctx.failures.retry_after(client, credential) is not None:
        return _login_page("Quá nhiều lần đăng nhập sai, hãy thử lại sau ít phút.", 429)
    spec = ctx.tokens.identify(token) if token else None
    if spec is None:
        ctx.failures.failed(client, credential)
    else:
        ctx.failures.succeeded(client, credential)
    if spec is None or not spec.allows("read"):
        return _login_page("Mã truy cập không hợp lệ hoặc không có quyền đọc.", 401)
    session_id = await sessions(request, ctx).open(spec)
    # the new cookie counts as used from here (it passes while this address is refused
    # for guessing)
    ctx.failures.succeeded(client, "cookie:" + credential_of(session_id))
    response = _to("/board")
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=ctx.settings.board_session_ttl_s,
        path="/board",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # behind a trusted proxy: its X-Forwarded-Proto
    )
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx) -> Response:
    cookie = request.cookies.get(COOKIE)
    if cookie:
        await sessions(request, ctx).close(cookie)
    response = _to("/board/login")
    response.delete_cookie(COOKIE, path="/board", httponly=True, samesite="strict")
    return response


@router.get("/events")
async def events(
    request: Request,
    ctx: Ctx,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    if not await signed_in(request, ctx):
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    last = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    live = hub(request, ctx)
    slot = live.reserve()
    if slot is None:
        body = ApiError(
            error="too_many_streams",
            message="too many live boards are open; retry shortly",
            message_vi="Quá nhiều bảng theo dõi đang mở; vui lòng thử lại sau",
        )
        return JSONResponse(
            body.model_dump(),
            status_code=503,
            headers={"Retry-After": "10", "Cache-Control": "no-store"},
        )
    return HeldStream(
        live.stream(slot, last),
        release=lambda: live.release(slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/mail/{name}")
async def mail(request: Request, ctx: Ctx, name: str) -> Response:
    if not await signed_in(request, ctx):
        return _to("/board/login")
    directory = mail_dir(ctx)
    msg = read_message(directory, name)
    if msg is None or directory is None:
        return Response(
            "Không có thư này.", status_code=404, media_type="text/plain; charset=utf-8"
        )
    body = render(
        "board_mail.html",
        subject=str(msg.get("Subject", "")),
        sender=str(msg.get("From", "")),
        to=str(msg.get("To", "")),
        date=str(msg.get("Date", "")),
        path=str(directory / name),
        body=text_body(msg),
    )
    return Response(body, media_type=HTML, headers=board_headers())
