"""Vietnamese subjects and bodies of the notifications to the ICT department."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

from shared.domain.alerts import INDEX766_RULES, Alert, AlertState, Rule, Severity
from shared.domain.calendar import LOCAL_TZ
from shared.domain.index766 import band_of
from shared.readmodel.display import num, pct
from shared.readmodel.figures import Reading

SEVERITY_VI = {Severity.critical: "Nghiêm trọng", Severity.warning: "Cảnh báo"}


def dashboard_link(base: str, alert: Alert) -> str:
    return f"{base}?{urlencode({'var-scope': alert.scope})}"


def not_evaluated(alert: Alert) -> bool:
    """A threshold alert resolved because its indicator is no longer evaluated (§4a.7)."""
    return (
        alert.state is AlertState.resolved
        and alert.rule in (Rule.breach, Rule.projection)
        and alert.value is None
        and alert.projected is None
    )


def ended(alert: Alert) -> bool:
    """A threshold alert resolved because its unit ended (its ``valid_to`` passed) or its
    aggregate has no member valid now (``services.alerts.checks.ended``)."""
    return (
        alert.state is AlertState.resolved
        and (alert.rule in (Rule.breach, Rule.projection) or alert.rule in INDEX766_RULES)
        and ("valid_to" in alert.details or "members_valid_now" in alert.details)
    )


def _ended_reason(alert: Alert) -> str:
    valid_to = alert.details.get("valid_to")
    if isinstance(valid_to, str):
        return f"đơn vị đã kết thúc hoạt động ngày {_vi_date(valid_to)}"
    return "không còn đơn vị nào của phạm vi đang hoạt động"


def _vi_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


def subject(alert: Alert) -> str:
    resolved = alert.state is AlertState.resolved
    prefix = "[Đã khắc phục]" if resolved else "[Cảnh báo]"
    if ended(alert):
        return (
            f"{prefix} {alert.scope_name}: {alert.indicator_name} không còn đánh giá "
            f"({_ended_reason(alert)})"
        )
    if not_evaluated(alert):
        return (
            f"{prefix} {alert.scope_name}: {alert.indicator_name} không đánh giá "
            "(chỉ số không áp dụng hoặc chưa có dữ liệu)"
        )
    match alert.rule:
        case Rule.index766_band:
            return f"{prefix} {alert.scope_name}: {index766_band_line(alert)}"
        case Rule.index766_drop:
            return f"{prefix} {alert.scope_name}: {index766_drop_line(alert)}"
        case Rule.breach:
            verb = "đạt" if resolved else "dưới chỉ tiêu"
            return (
                f"{prefix} {alert.scope_name}: {alert.indicator_name} {pct(alert.value)} "
                f"{verb} {pct(alert.target)}"
            )
        case Rule.projection:
            return (
                f"{prefix} {alert.scope_name}: dự báo cuối năm {alert.indicator_name} "
                f"{pct(alert.projected)} dưới chỉ tiêu {pct(alert.target)}"
            )
        case Rule.overdue:
            return (
                f"{prefix} {alert.scope_name}: {alert.details.get('count', 0)} hồ sơ quá hạn"
                f"{holders_note(alert)}"
            )
        case Rule.due_soon:
            return (
                f"{prefix} {alert.scope_name}: {alert.details.get('count', 0)} hồ sơ "
                "đến hạn trong 24 giờ"
            )
        case Rule.system:
            return f"{prefix} {alert.scope_name}: {alert.details.get('summary', alert.indicator)}"
        case Rule.pipeline_behind:
            if resolved:
                return f"{prefix} {alert.scope_name} đã xử lý kịp các sự kiện đến"
            return (
                f"{prefix} {alert.scope_name} đang chậm: {_count(alert.details.get('lag'))} "
                "sự kiện chờ xử lý, tạm dừng cảnh báo kết nối gián đoạn"
            )
        case _:
            return f"{prefix} Kết nối gián đoạn: {alert.scope_name} không gửi dữ liệu"


def _count(value: object) -> str:
    return f"{value:,}".replace(",", ".") if isinstance(value, int) else "—"


def score(value: object) -> str:
    """68.4 → ``68,40``; anything else → ``—``."""
    return f"{value:.2f}".replace(".", ",") if isinstance(value, int | float) else "—"


def counts(part: dict[str, object]) -> str:
    """A metric's counts behind it: ``120/200 (60,00%)``."""
    n, d, r = part.get("numerator"), part.get("denominator"), part.get("ratio")
    ratio = pct(r) if isinstance(r, int | float) else "—"
    return f"{num(_int(n))}/{num(_int(d))} ({ratio})"


def floor_name(floor: float | None) -> str:
    """70 → ``70 (Khá)``: the band floor and the band it opens."""
    if floor is None:
        return "—"
    return f"{score(floor)} ({band_of(Decimal(str(floor))).value})"


def index766_band_line(alert: Alert) -> str:
    """The band warning in one line: the projected score, the floor, the metric named and
    its counts."""
    metric = f"{alert.indicator_name} {counts(alert.details)}"
    if alert.state is AlertState.resolved and not ended(alert):
        return (
            f"Chỉ số 766 dự báo cuối năm {score(alert.projected)} điểm, "
            f"đạt từ {floor_name(alert.target)} trở lên; {metric}"
        )
    return (
        f"Chỉ số 766 dự báo cuối năm {score(alert.projected)} điểm, "
        f"dưới {floor_name(alert.target)}; {metric}"
    )


def _week(part: object) -> dict[str, object]:
    return part if isinstance(part, dict) else {}


def index766_drop_line(alert: Alert) -> str:
    """The weekly drop in one line: the metric, its counts in the last 7 days and before."""
    last, before = _week(alert.details.get("last")), _week(alert.details.get("before"))
    verb = "hết giảm mạnh" if alert.state is AlertState.resolved else "giảm mạnh"
    return (
        f"{alert.indicator_name} {verb} trong tuần: 7 ngày qua {counts(last)}, "
        f"{score(last.get('points'))} điểm; 7 ngày trước {counts(before)}, "
        f"{score(before.get('points'))} điểm"
    )


def ranked_line(name: str, reading: Reading) -> str:
    """One agency of the digest's ranking: value, and verdict when it is judged."""
    line = f"    {name}: {reading.value:.2f}%" if reading.value is not None else f"    {name}: —"
    if reading.judged and reading.verdict is not None and reading.target is not None:
        line += f" ({reading.verdict.value}, chỉ tiêu {reading.target.min_percent:.2f}%)"
    return line


def index766_lines(alert: Alert) -> list[str]:
    """The body lines of a Decision 766 alert: the figures behind it."""
    d = alert.details
    if alert.rule is Rule.index766_band:
        return [
            f"Điểm Chỉ số 766 lũy kế năm (tính đến nay): {score(d.get('total'))} — "
            f"{d.get('band', '—')}",
            f"Ngưỡng cảnh báo: {floor_name(alert.target)}",
            "Dự báo cuối năm: điểm lũy kế tính đến nay, hồ sơ đang quá hạn tính là trễ hạn "
            "(nếu phần còn lại của năm diễn ra như từ đầu năm đến nay)",
            f"Hồ sơ tiếp nhận từ đầu năm: {num(_int(d.get('received')))}; "
            f"hồ sơ đang quá hạn: {num(_int(d.get('overdue_open')))}",
            f"Chỉ tiêu thành phần: {alert.indicator_name} ({alert.indicator}) — "
            f"{counts(d)}, {score(d.get('points'))}/{score(d.get('max'))} điểm",
        ]
    last, before = _week(d.get("last")), _week(d.get("before"))
    return [
        f"Chỉ tiêu thành phần: {alert.indicator_name} ({alert.indicator})",
        f"7 ngày qua ({_span(last)}): {counts(last)}, "
        f"{score(last.get('points'))}/{score(d.get('max'))} điểm",
        f"7 ngày trước ({_span(before)}): {counts(before)}, "
        f"{score(before.get('points'))}/{score(d.get('max'))} điểm",
    ]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _span(part: dict[str, object]) -> str:
    start, end = part.get("from"), part.get("to")
    if isinstance(start, str) and isinstance(end, str):
        return f"{_vi_date(start)}–{_vi_date(end)}"
    return "—"


def body(alert: Alert, dashboard_url: str) -> str:
    lines = [subject(alert), ""]
    lines.append(f"Phạm vi: {alert.scope_name} ({alert.scope})")
    if alert.indicator_name:
        lines.append(f"Chỉ số: {alert.indicator_name} ({alert.indicator})")
    lines.append(f"Kỳ: {alert.period}")
    if alert.value is not None and alert.rule in (Rule.breach, Rule.projection):
        lines.append(f"Giá trị lũy kế: {pct(alert.value)}")
    if alert.rule in INDEX766_RULES:
        lines += index766_lines(alert)
    if not_evaluated(alert):
        lines.append("Đánh giá: Không đánh giá")
    if ended(alert):
        lines.append(f"Đánh giá: không còn đánh giá — {_ended_reason(alert)}")
    if alert.target is not None and alert.rule not in INDEX766_RULES:
        lines.append(f"Chỉ tiêu: {pct(alert.target)}")
    if alert.target_source:
        lines.append(f"Văn bản giao chỉ tiêu: {alert.target_source}")
    if alert.projected is not None and alert.rule is Rule.projection:
        lines.append(f"Xu hướng: dự báo cuối năm {pct(alert.projected)} nếu giữ nhịp 30 ngày qua")
    if "count" in alert.details:
        lines.append(f"Số hồ sơ: {alert.details['count']}")
    if alert.details.get("dossier_ids"):
        lines.append("Mã hồ sơ: " + ", ".join(alert.details["dossier_ids"]))
    if "hours" in alert.details:
        lines.append(f"Không có dữ liệu trong {alert.details['hours']:.1f} giờ làm việc")
    if alert.rule is Rule.system and alert.details.get("description"):
        lines.append(f"Chi tiết: {alert.details['description']}")
    if alert.rule is Rule.pipeline_behind:
        lines.append(f"Sự kiện chờ xử lý (đo lúc cập nhật): {_count(alert.details.get('lag'))}")
        stalled = alert.details.get("stalled_s")
        if isinstance(stalled, int | float) and stalled > 0:
            lines.append(f"Không tiến triển trong: {stalled / 60:.0f} phút")
        lines.append(
            "Trong thời gian này không đánh giá nguồn và cơ quan im lặng (kết nối gián đoạn). "
            "Khi hệ thống bắt kịp, việc đánh giá tiếp tục, căn cứ thời điểm phát sinh của sự kiện."
        )
    if alert.severity is not None:
        lines.append(f"Mức độ: {SEVERITY_VI[alert.severity]}")
    lines.append(f"Bắt đầu: {alert.first_seen.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}")
    if alert.resolved_at is not None:
        lines.append(f"Khắc phục: {alert.resolved_at.astimezone(LOCAL_TZ):%d/%m/%Y %H:%M}")
    lines += [
        "",
        f"Xem bảng điều khiển: {dashboard_link(dashboard_url, alert)}",
        "",
        "— egov-monitor, Sở Khoa học và Công nghệ",
    ]
    return "\n".join(lines) + "\n"


def holders_note(alert: Alert) -> str:
    """Where an overdue alert's dossiers are read (domain README §4b): those of ended
    predecessors counted in it, its own moved to its successor, or orphaned."""
    d = alert.details
    moved_in = d.get("moved_in")
    if isinstance(moved_in, dict) and moved_in:
        n = sum(v for v in moved_in.values() if isinstance(v, int))
        names = d.get("moved_in_names")
        units = names if isinstance(names, list) and names else sorted(moved_in)
        return f" (gồm {n} hồ sơ chuyển từ {', '.join(str(u) for u in units)})"
    if isinstance(d.get("moved_to"), str):
        return f" (đơn vị đã kết thúc, hồ sơ còn mở chuyển sang {d.get('moved_to_name')})"
    if d.get("orphaned"):
        return " (hồ sơ mồ côi: đơn vị đã kết thúc, không có đơn vị kế thừa)"
    return ""
