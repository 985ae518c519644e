"""The ICT department's live board (read access).

- ``GET /board/login``, ``POST /board/login`` (form field ``token``): a read (or admin)
  token is checked and kept in an HttpOnly, SameSite=Strict cookie scoped to ``/board``
  (Secure over HTTPS) — never in a URL, never logged, never echoed into the page.
- ``GET /board`` — firing alerts, overdue dossiers per agency, today's and the year's
  figures, the last alert mails, links into the API docs and Prometheus.
- ``GET /board/events`` — server-sent events: the board's fragments as they change
  (``services/api/board_live.py``).
- ``GET /board/mail/{file}`` — one stored alert mail; ``POST /board/logout``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from services.alerts.model import Alert
from services.alerts.rules import Severity
from services.api.board_live import BoardHub, digest
from services.api.board_view import BoardData, mail_dir, scope_name
from services.api.context import ApiContext, Ctx
from services.api.public_results import AGGREGATES
from services.api.templating import markup, page_headers, render
from shared.auth import RateLimiter
from shared.mailbox import read_message, text_body

router = APIRouter(prefix="/board", tags=["board"], include_in_schema=False)

COOKIE = "egov_board"
COOKIE_MAX_AGE_S = 12 * 3600
HTML = "text/html; charset=utf-8"
MAX_LOGIN_BODY = 4096
ALERTS_SHOWN = 10  # the rest behind "Xem thêm" (a <details>: no script needed)
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
}


def rule_vi(alert: Alert) -> str:
    return RULES_VI.get(alert.rule.value, alert.rule.value)


def severity_vi(alert: Alert) -> str:
    return "Nghiêm trọng" if alert.severity is Severity.critical else "Cảnh báo"


def board_headers() -> dict[str, str]:
    return page_headers(scripts=True, extra={"Cache-Control": "no-store"})


def signed_in(request: Request, ctx: ApiContext) -> bool:
    """Whether the board cookie holds a token with read access."""
    token = request.cookies.get(COOKIE)
    if not token:
        return False
    spec = ctx.tokens.identify(token)
    return spec is not None and ("read" in spec.scopes or "admin" in spec.scopes)


def fragments(data: BoardData) -> dict[str, str]:
    common = {"d": data, "scopes": AGGREGATES, "scope_name": scope_name}
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
        "overdue": render("board_overdue.html", **common),
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
    if not signed_in(request, ctx):
        return _to("/board/login")
    parts = await hub(request, ctx).fragments_now()
    body = render(
        "board.html",
        fragments={name: markup(html) for name, html in parts.items()},
        digests={name: digest(html) for name, html in parts.items()},
        prometheus_url=ctx.settings.prometheus_url,
        grafana_url=ctx.settings.dashboard_url,
    )
    return Response(body, media_type=HTML, headers=board_headers())


@router.get("/login")
async def login_form(request: Request, ctx: Ctx) -> Response:
    if signed_in(request, ctx):
        return _to("/board")
    return _login_page()


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    client = request.client.host if request.client else "?"
    if _LOGINS.retry_after(client) is not None:
        return _login_page("Quá nhiều lần đăng nhập, hãy thử lại sau ít phút.", 429)
    raw = await request.body()
    if len(raw) > MAX_LOGIN_BODY:
        return _login_page("Mã truy cập không hợp lệ.", 400)
    token = parse_qs(raw.decode("utf-8", "replace")).get("token", [""])[0].strip()
    spec = ctx.tokens.identify(token) if token else None
    if spec is None or not ("read" in spec.scopes or "admin" in spec.scopes):
        return _login_page("Mã truy cập không hợp lệ hoặc không có quyền đọc.", 401)
    response = _to("/board")
    response.set_cookie(
        COOKIE,
        token,
        max_age=COOKIE_MAX_AGE_S,
        path="/board",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout() -> Response:
    response = _to("/board/login")
    response.delete_cookie(COOKIE, path="/board", httponly=True, samesite="strict")
    return response


@router.get("/events")
async def events(
    request: Request,
    ctx: Ctx,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    if not signed_in(request, ctx):
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    last = int(last_event_id) if last_event_id and last_event_id.isdigit() else None
    return StreamingResponse(
        hub(request, ctx).stream(last),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/mail/{name}")
async def mail(request: Request, ctx: Ctx, name: str) -> Response:
    if not signed_in(request, ctx):
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
