"""Vietnamese subjects and bodies of the notifications to the ICT department."""

from __future__ import annotations

from urllib.parse import urlencode

from shared.domain.alerts import Alert, AlertState, Rule, Severity
from shared.domain.calendar import LOCAL_TZ
from shared.readmodel.display import pct
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
        and alert.rule in (Rule.breach, Rule.projection)
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
            return f"{prefix} {alert.scope_name}: {alert.details.get('count', 0)} hồ sơ quá hạn"
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


def ranked_line(name: str, reading: Reading) -> str:
    """One agency of the digest's ranking: value, and verdict when it is judged."""
    line = f"    {name}: {reading.value:.2f}%" if reading.value is not None else f"    {name}: —"
    if reading.judged and reading.verdict is not None and reading.target is not None:
        line += f" ({reading.verdict.value}, chỉ tiêu {reading.target.min_percent:.2f}%)"
    return line


def body(alert: Alert, dashboard_url: str) -> str:
    lines = [subject(alert), ""]
    lines.append(f"Phạm vi: {alert.scope_name} ({alert.scope})")
    if alert.indicator_name:
        lines.append(f"Chỉ số: {alert.indicator_name} ({alert.indicator})")
    lines.append(f"Kỳ: {alert.period}")
    if alert.value is not None and alert.rule in (Rule.breach, Rule.projection):
        lines.append(f"Giá trị lũy kế: {pct(alert.value)}")
    if not_evaluated(alert):
        lines.append("Đánh giá: Không đánh giá")
    if ended(alert):
        lines.append(f"Đánh giá: không còn đánh giá — {_ended_reason(alert)}")
    if alert.target is not None:
        lines.append(f"Chỉ tiêu: {pct(alert.target)}")
    if alert.target_source:
        lines.append(f"Văn bản giao chỉ tiêu: {alert.target_source}")
    if alert.projected is not None:
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
