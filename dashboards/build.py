"""The four dashboards (Vietnamese titles), built from the metrics the services export.

``python -m dashboards`` writes them to grafana/dashboards/; a test fails when the
committed JSON differs from what this code generates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.panels import (
    VERDICT,
    bars,
    base,
    count_timeseries,
    percent_timeseries,
    query,
    stat_panel,
    thresholds,
    variable,
)

OUT = Path(__file__).resolve().parent.parent / "grafana" / "dashboards"
AGENCIES_ONLY = 'scope!~"province|group:.*|level:.*"'
# Decision 766 (domain §8): the bands' floors, and the floor the "below" panels use (Khá)
FLOOR_766 = 70
BELOW_FLOOR_766 = "Trung bình|Yếu"
UNITS_ONLY_766 = 'scope!~"province|group:.*"'
BANDS_766 = thresholds(
    (None, "red"), (50, "orange"), (70, "yellow"), (80, "green"), (90, "dark-green")
)


def overview() -> dashboard.Dashboard:
    return (
        base("egov-overview", "Tổng quan toàn tỉnh")
        .description(
            "Mọi chỉ số của toàn tỉnh so với chỉ tiêu đang có hiệu lực; cơ quan đạt "
            "mọi chỉ tiêu; cảnh báo đang hoạt động; Chỉ số 766 (nội bộ: gồm cả tháng đang "
            "diễn ra, chưa công khai)."
        )
        .with_row(dashboard.Row("Chỉ tiêu năm"))
        .with_panel(
            stat_panel(
                "Tỷ lệ cơ quan đạt mọi chỉ tiêu",
                query(
                    "100 * egov_agencies_meeting_all_targets / egov_agencies_judged", instant=True
                ),
                unit="percent",
                steps=thresholds((None, "red"), (90, "green")),
            )
        )
        .with_panel(
            stat_panel(
                "Số cơ quan đạt mọi chỉ tiêu",
                query("egov_agencies_meeting_all_targets", instant=True),
            )
        )
        .with_panel(
            stat_panel(
                "Cảnh báo đang hoạt động",
                query("sum(egov_alerts_firing)", instant=True),
                steps=thresholds((None, "green"), (1, "red")),
            )
        )
        .with_panel(
            stat_panel(
                "Hồ sơ quá hạn toàn tỉnh",
                query("sum(egov_dossiers_overdue)", instant=True),
                steps=thresholds((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            bars(
                "Chỉ số toàn tỉnh, lũy kế năm (%)",
                query(
                    'egov_indicator_value_percent{scope="province", period="year"}',
                    "{{indicator}}",
                    instant=True,
                ),
            )
        )
        .with_panel(
            bars(
                "Khoảng cách tới chỉ tiêu (điểm %)",
                query(
                    'egov:indicator_gap_percent:year{scope="province"}',
                    "{{indicator}}",
                    instant=True,
                ),
                unit="none",
                steps=VERDICT,
            )
        )
        .with_row(dashboard.Row("Chỉ số 766 (Quyết định 766/QĐ-TTg), lũy kế năm đến nay"))
        .with_panel(
            stat_panel(
                "Chỉ số 766 toàn tỉnh (điểm / 100)",
                query('egov_index766_total_points{scope="province", period="year"}', instant=True),
                unit="none",
                steps=BANDS_766,
            )
        )
        .with_panel(
            stat_panel(
                f"Số đơn vị dưới {FLOOR_766} điểm",
                query(
                    f'sum(egov_index766_units{{period="year", band=~"{BELOW_FLOOR_766}"}})',
                    instant=True,
                ),
                steps=thresholds((None, "green"), (1, "orange")),
            )
        )
        .with_panel(
            bars(
                "Số đơn vị theo xếp loại",
                query(
                    'sum by (band) (egov_index766_units{period="year"})', "{{band}}", instant=True
                ),
                unit="none",
                width=12,
                height=8,
            )
        )
        .with_panel(
            bars(
                f"Đơn vị dưới {FLOOR_766} điểm (thấp nhất trước)",
                query(
                    f'sort(egov_index766_total_points{{period="year", {UNITS_ONLY_766}}}'
                    f" < {FLOOR_766})",
                    "{{scope}} ({{group}})",
                    instant=True,
                ),
                unit="none",
                width=24,
                height=14,
                steps=BANDS_766,
            )
        )
        .with_row(dashboard.Row("Diễn biến"))
        .with_panel(
            percent_timeseries(
                "Tỷ lệ hồ sơ trực tuyến toàn trình — toàn tỉnh",
                query(
                    'egov_indicator_value_percent{scope="province", indicator="full_online_rate",'
                    ' period="year"}',
                    "Lũy kế năm",
                ),
                query(
                    'egov_indicator_value_percent{scope="province", indicator="full_online_rate",'
                    ' period="month"}',
                    "Tháng này",
                    ref="B",
                ),
                # since 2025 departments and localities have different targets and the
                # province none of its own (domain §6): show the groups' targets
                query(
                    "egov_indicator_target_percent"
                    '{scope=~"group:.*", indicator="full_online_rate"}',
                    "Chỉ tiêu {{scope}} ({{target_set}})",
                    ref="C",
                ),
            )
        )
        .with_panel(
            count_timeseries(
                "Cảnh báo theo loại và mức độ",
                query("sum by (rule, severity) (egov_alerts_firing)", "{{rule}} / {{severity}}"),
            )
        )
    )


def agency_detail() -> dashboard.Dashboard:
    return (
        base("egov-agency", "Chi tiết cơ quan")
        .description(
            "Các chỉ số của một cơ quan theo thời gian, với đường chỉ tiêu; hồ sơ "
            "quá hạn và sắp đến hạn."
        )
        .with_variable(
            variable("agency", "Cơ quan", "label_values(egov_dossiers_open, agency)", "H01.05")
        )
        .with_panel(
            percent_timeseries(
                "Chỉ số lũy kế năm",
                query(
                    'egov_indicator_value_percent{scope="$agency", period="year"}', "{{indicator}}"
                ),
                width=16,
                height=10,
            )
        )
        .with_panel(
            bars(
                "Khoảng cách tới chỉ tiêu (điểm %)",
                query(
                    'egov:indicator_gap_percent:year{scope="$agency"}',
                    "{{indicator}}",
                    instant=True,
                ),
                unit="none",
                width=8,
                height=10,
                steps=VERDICT,
            )
        )
        .with_panel(
            percent_timeseries(
                "Tỷ lệ hồ sơ trực tuyến toàn trình và chỉ tiêu",
                query(
                    'egov_indicator_value_percent{scope="$agency", indicator="full_online_rate",'
                    ' period="year"}',
                    "Lũy kế năm",
                ),
                query(
                    'egov_indicator_target_percent{scope="$agency", indicator="full_online_rate"}',
                    "Chỉ tiêu ({{target_set}})",
                    ref="B",
                ),
            )
        )
        .with_panel(
            count_timeseries(
                "Hồ sơ đang xử lý, quá hạn, đến hạn trong 24 giờ",
                query('egov_dossiers_open{agency="$agency"}', "Đang xử lý"),
                query('egov_dossiers_overdue{agency="$agency"}', "Quá hạn", ref="B"),
                query('egov_dossiers_due_24h{agency="$agency"}', "Đến hạn trong 24 giờ", ref="C"),
            )
        )
        .with_panel(
            count_timeseries(
                "Hồ sơ tiếp nhận (lũy kế năm)",
                query(
                    'egov_indicator_denominator{scope="$agency", indicator="full_online_rate",'
                    ' period="year"}',
                    "Hồ sơ tiếp nhận",
                ),
            )
        )
    )


def ranking() -> dashboard.Dashboard:
    return (
        base("egov-ranking", "Xếp hạng")
        .description(
            "Cơ quan xếp theo một chỉ số (lũy kế năm); màu theo kết quả so với chỉ "
            "tiêu: xanh Đạt, đỏ Chưa đạt."
        )
        .with_variable(
            variable(
                "indicator",
                "Chỉ số",
                "label_values(egov_indicator_value_percent, indicator)",
                "full_online_rate",
            )
        )
        .with_panel(
            bars(
                "Xếp hạng theo giá trị (%)",
                query(
                    f'sort_desc(egov_indicator_value_percent{{indicator="$indicator",'
                    f' period="year", {AGENCIES_ONLY}}})',
                    "{{scope}}",
                    instant=True,
                ),
                height=20,
            )
        )
        .with_panel(
            bars(
                "Khoảng cách tới chỉ tiêu (điểm %) — Đạt / Chưa đạt",
                query(
                    f'sort_desc(egov:indicator_gap_percent:year{{indicator="$indicator",'
                    f" {AGENCIES_ONLY}}})",
                    "{{scope}}",
                    instant=True,
                ),
                unit="none",
                height=20,
                steps=VERDICT,
            )
        )
    )


def health() -> dashboard.Dashboard:
    return (
        base("egov-health", "Sức khỏe hệ thống")
        .description("Tốc độ tiếp nhận, độ trễ, độ tươi dữ liệu, hàng đợi lỗi, thông báo.")
        .with_panel(
            count_timeseries(
                "Sự kiện tiếp nhận / giây",
                query("egov:ingest_events:rate5m", "{{outcome}}"),
                unit="ops",
            )
        )
        .with_panel(
            count_timeseries(
                "Yêu cầu tiếp nhận theo kết quả",
                query("sum by (outcome) (rate(egov_ingest_requests_total[5m]))", "{{outcome}}"),
                unit="reqps",
            )
        )
        .with_panel(
            count_timeseries(
                "Thời gian ghi Kafka (p99)",
                query(
                    "histogram_quantile(0.99, sum by (le) "
                    "(rate(egov_ingest_produce_seconds_bucket[5m])))",
                    "p99",
                ),
                unit="s",
            )
        )
        .with_panel(
            count_timeseries(
                "Sự kiện đã xử lý / giây",
                query("egov:calculator_applied:rate5m", "đã xử lý"),
                unit="ops",
            )
        )
        .with_panel(
            count_timeseries(
                "Độ trễ tiêu thụ theo phân vùng",
                query("egov_calculator_consumer_lag", "{{topic}}/{{partition}}"),
            )
        )
        .with_panel(
            count_timeseries(
                "Độ tươi dữ liệu (p99, tiếp nhận → đọc được)",
                query("egov:calculator_freshness_seconds:p99_5m", "p99"),
                unit="s",
            )
        )
        .with_panel(
            count_timeseries(
                "Hàng đợi lỗi (dead letter) trong 1 giờ",
                query(
                    "sum by (reason) (increase(egov_calculator_deadlettered_total[1h]))",
                    "{{reason}}",
                ),
            )
        )
        .with_panel(
            count_timeseries(
                "Thông báo trong 1 giờ",
                query(
                    "sum by (channel, outcome) (increase(egov_alerts_notifications_total[1h]))",
                    "{{channel}} {{outcome}}",
                ),
                query("egov_alerts_outbox_depth", "hộp thư chờ gửi", ref="B"),
            )
        )
        .with_panel(
            count_timeseries(
                "Dịch vụ hoạt động", query('up{job=~"ingest|api|calculator|alerts"}', "{{job}}")
            )
        )
        .with_panel(
            count_timeseries(
                "CPU theo dịch vụ",
                query("rate(process_cpu_seconds_total[5m])", "{{job}}"),
                unit="percentunit",
            )
        )
        .with_panel(
            count_timeseries(
                "Bộ nhớ theo dịch vụ",
                query("process_resident_memory_bytes", "{{job}}"),
                unit="bytes",
            )
        )
    )


DASHBOARDS = {
    "egov-overview": overview,
    "egov-agency": agency_detail,
    "egov-ranking": ranking,
    "egov-health": health,
}


def render(board: dashboard.Dashboard) -> str:
    built_board = board.build()
    for number, panel in enumerate(built_board.panels or [], start=1):
        panel.id_val = number  # unique ids: Grafana links and edits panels by id
    return (
        json.dumps(built_board, cls=JSONEncoder, ensure_ascii=False, indent=2, sort_keys=True)
        + "\n"
    )


def built() -> dict[str, str]:
    return {f"{uid}.json": render(make()) for uid, make in DASHBOARDS.items()}


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every panel target, rows included."""
    out = []
    for panel in board.get("panels", []):
        for target in panel.get("targets") or []:
            out.append((panel.get("title", ""), target["expr"]))
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, text in built().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
