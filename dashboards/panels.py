"""Small helpers over grafana-foundation-sdk's typed builders, shared by every dashboard."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (
    DataSourceRef,
    Threshold,
    ThresholdsMode,
    VariableOption,
    VariableRefresh,
)

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")


def query(
    expr: str, legend: str = "", ref: str = "A", instant: bool = False
) -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).legend_format(legend or "__auto")
    return q.instant() if instant else q.range()


def thresholds(*steps: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=v, color=c) for v, c in steps])
    )


VERDICT = thresholds((None, "red"), (0, "green"))  # gap to target: below 0 is "Chưa đạt"


def percent_timeseries(
    title: str, *queries: prometheus.Dataquery, width: int = 12, height: int = 8
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit("percent")
        .min(0)
        .max(100)
        .span(width)
        .height(height)
        .legend(
            VizLegendOptions()
            .show_legend(True)
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .calcs(["lastNotNull"])
        )
    )
    for q in queries:
        panel = panel.with_target(q)
    return panel


def count_timeseries(
    title: str,
    *queries: prometheus.Dataquery,
    unit: str = "short",
    width: int = 12,
    height: int = 8,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel().title(title).datasource(DATASOURCE).unit(unit).span(width).height(height)
    )
    for q in queries:
        panel = panel.with_target(q)
    return panel


def stat_panel(
    title: str,
    q: prometheus.Dataquery,
    unit: str = "short",
    width: int = 6,
    steps: dashboard.ThresholdsConfig | None = None,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(5)
        .color_mode(BigValueColorMode.BACKGROUND)
        .with_target(q)
    )
    return panel.thresholds(steps) if steps is not None else panel


def bars(
    title: str,
    q: prometheus.Dataquery,
    unit: str = "percent",
    width: int = 12,
    height: int = 14,
    steps: dashboard.ThresholdsConfig | None = None,
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .span(width)
        .height(height)
        .with_target(q)
    )
    return panel.thresholds(steps) if steps is not None else panel


def variable(name: str, label: str, expr: str, default: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({"query": expr, "refId": "PrometheusVariableQueryEditor-VariableQuery"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .current(VariableOption(text=default, value=default))
    )


def base(uid: str, title: str) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .tags(["egov-monitor"])
        .timezone("Asia/Ho_Chi_Minh")
        .refresh("30s")
        .time("now-24h", "now")
        .readonly()
    )
