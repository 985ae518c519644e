"""The daily digest: once a day after ``alerts_digest_hour``, what is firing and the week's
ranking, mailed to ``alerts_digest_emails``."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.alerts import messages
from services.alerts.model import Alert, Channel, Notification
from services.alerts.routing import note_id
from shared.domain.calendar import LOCAL_TZ
from shared.domain.indicators import Indicator
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import agency_scope
from shared.domain.targets import TargetBook
from shared.platform.config import AlertsSettings
from shared.readmodel.figures import read_scopes
from shared.store.catalogs import Catalogs
from shared.store.client import RedisClient
from shared.store.indicator_store import IndicatorStore

RANKED = "full_online_rate"


async def claim_day(redis: RedisClient, settings: AlertsSettings, now: datetime) -> str | None:
    """Today's date when the digest is due and not sent yet (claimed once per day)."""
    local = now.astimezone(LOCAL_TZ)
    if local.hour < settings.alerts_digest_hour:
        return None
    day = local.date().isoformat()
    if not await redis.set(f"digest:sent:{day}", 1, nx=True, ex=3 * 86400):
        return None
    return day


async def digest_notifications(
    figures: IndicatorStore,
    catalogs: Catalogs,
    targets: TargetBook,
    indicators: list[Indicator],
    firing: list[Alert],
    settings: AlertsSettings,
    now: datetime,
) -> list[Notification]:
    local = now.astimezone(LOCAL_TZ)
    ind = next(i for i in indicators if i.indicator == RANKED)
    first = local.date() - timedelta(days=6)
    week = Period(PeriodKind.range, first, local.date(), f"{first}..{local.date()}")
    agencies = catalogs.agencies.valid_between(week.start, week.end)
    scopes = [agency_scope(a) for a in agencies]
    readings = await read_scopes(figures, catalogs, targets, scopes, [ind], week)
    names = {a.agency_code: a.name for a in agencies}
    week_readings = [(code, r[ind.indicator]) for code, r in readings.items()]
    ranked = sorted(
        ((r.value, code, r) for code, r in week_readings if r.value is not None),
        key=lambda x: (-x[0], x[1]),
    )
    not_evaluated = [
        names[code] for code, r in week_readings if not r.evaluated and r.figure.denominator > 0
    ]
    lines = [
        f"Bản tin egov-monitor ngày {local:%d/%m/%Y}",
        "",
        f"Cảnh báo đang hoạt động: {len(firing)}",
    ]
    lines += [f"  - {messages.subject(a)}" for a in firing[:50]]
    lines += ["", f"Xếp hạng 7 ngày qua — {ind.name_vi}:", "  Dẫn đầu:"]
    lines += [messages.ranked_line(names[c], r) for _, c, r in ranked[:5]]
    lines += ["  Cuối bảng:"]
    lines += [messages.ranked_line(names[c], r) for _, c, r in ranked[-5:][::-1]]
    if not_evaluated:
        lines += [f"  Không đánh giá (chỉ số không áp dụng): {', '.join(not_evaluated)}"]
    body = "\n".join(lines) + "\n"
    subject = f"[Bản tin] egov-monitor ngày {local:%d/%m/%Y}: {len(firing)} cảnh báo"
    day = local.date().isoformat()
    return [
        Notification(
            id=note_id("digest", day, email),
            channel=Channel.email,
            target=email,
            kind="digest",
            subject=subject,
            body=body,
            queued_at=now,
        )
        for email in settings.alerts_digest_emails
    ]
