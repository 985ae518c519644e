"""docs/indicators.md holds every indicator of ``indicators.csv`` with its numerator, its
denominator and the documents of ``targets.csv`` that set its targets, as
``python -m shared.platform.indicator_docs`` (``make indicator-docs``) renders them; and the
Decision 766 metrics are the scoring table's."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from shared.domain.index766 import load_index766
from shared.domain.indicators import Indicator, load_indicators
from shared.domain.targets import load_targets
from shared.platform import indicator_docs
from shared.platform.exceptions import UndescribedMark

ROOT = Path(__file__).resolve().parents[3]
PAGE = ROOT / "docs" / "indicators.md"


def test_the_generated_section_is_current() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert indicator_docs.render(text) == text, (
        "docs/indicators.md drifted from indicators.csv / targets.csv: run "
        "`make indicator-docs` (python -m shared.platform.indicator_docs) and commit"
    )


def test_every_indicator_has_its_ratio_and_target_documents() -> None:
    section = indicator_docs.section()
    targets = load_targets().targets
    for code, indicator in load_indicators().items():
        block = section.split(f"### `{code}`", 1)[1].split("### ", 1)[0]
        assert indicator.name_vi in block
        assert f"(`{indicator.numerator}`)" in block and f"(`{indicator.denominator}`)" in block
        for target in (t for t in targets if t.indicator == code):
            assert target.source in block, (code, target.target_set)


def test_an_undescribed_mark_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    new = Indicator(
        indicator="new_rate",
        name_vi="Mới",
        name_en="New",
        source="dossier",
        numerator="received_by_pigeon",
        denominator="received",
    )
    monkeypatch.setattr(indicator_docs, "load_indicators", lambda: {"new_rate": new})
    with pytest.raises(UndescribedMark, match="received_by_pigeon"):
        indicator_docs.section()


def test_the_766_metrics_are_the_scoring_tables() -> None:
    """Every metric of the scoring table in force, with its points and method, and marked
    computed (the API serves them: tests/integration/test_index766_api.py)."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## Decision 766 index\n", 1)[1]
    rows = [r for r in section.splitlines() if re.match(r"^\| .* \| `[A-Z_]+` \|", r)]
    assert len(rows) == 21  # index766.csv: 21 metrics in 6 groups
    assert all(r.rstrip().endswith("| computed |") for r in rows)
    assert sum(int(r.split(" | ")[3]) for r in rows) == 100  # the points add up to 100
    table = load_index766().in_force(date(2026, 10, 10))
    assert table is not None
    documented = {r.split(" | ")[1].strip("`"): r.split(" | ") for r in rows}
    assert set(documented) == {rule.metric for rule in table.rules}
    for rule in table.rules:
        cells = documented[rule.metric]
        assert Decimal(cells[3]) == rule.max_points, rule.metric
        assert cells[4].startswith(rule.method.value), rule.metric
