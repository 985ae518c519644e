"""The committed dashboards are exactly what the code builds, and well formed."""

from __future__ import annotations

import json

from dashboards.build import DASHBOARDS, OUT, built, panel_queries


def test_committed_json_matches_the_code() -> None:
    for name, text in built().items():
        committed = (OUT / name).read_text(encoding="utf-8")
        assert committed == text, f"{name} drifted: run python -m dashboards"
    assert sorted(p.name for p in OUT.glob("*.json")) == sorted(f"{u}.json" for u in DASHBOARDS)


def test_dashboards_are_vietnamese_and_query_prometheus() -> None:
    titles = {json.loads(text)["title"] for text in built().values()}
    assert titles == {"Tổng quan toàn tỉnh", "Chi tiết cơ quan", "Xếp hạng", "Sức khỏe hệ thống"}
    for text in built().values():
        board = json.loads(text)
        assert board["timezone"] == "Asia/Ho_Chi_Minh"
        panels = [p for p in board["panels"] if p["type"] != "row"]
        assert panels and all(p["datasource"]["uid"] == "prometheus" for p in panels)
        assert all(p.get("targets") for p in panels)
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
        assert panel_queries(board)


def test_variables_are_filled_from_prometheus_labels() -> None:
    agency = json.loads(built()["egov-agency.json"])
    (var,) = agency["templating"]["list"]
    assert var["name"] == "agency"
    assert var["query"]["query"] == "label_values(egov_dossiers_open, agency)"
