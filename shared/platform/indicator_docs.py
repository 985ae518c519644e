"""The indicator tables of docs/indicators.md, generated from the domain data.

Between the markers ``<!-- BEGIN generated: indicators -->`` and ``<!-- END generated:
indicators -->`` the page holds what :func:`section` renders from
``shared/domain/data/indicators.csv`` (every indicator, its numerator and denominator) and
``targets.csv`` (the documents that set a target for it). A mark (the counted thing on
either side of a ratio) must be described in :data:`MARKS`: an indicator on an undescribed
mark stops the generator. ``tests/unit/test_indicator_docs.py`` fails when the page's
section differs::

    python -m shared.platform.indicator_docs      # or: make indicator-docs
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

from shared.domain.indicators import load_indicators
from shared.domain.targets import load_targets
from shared.platform.exceptions import UndescribedMark

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "indicators.md"
BEGIN = "<!-- BEGIN generated: indicators (python -m shared.platform.indicator_docs) -->"
END = "<!-- END generated: indicators -->"

# What each mark counts (domain README §4, §4a, §5). Dossier marks count distinct dossiers of
# the intake cohort (the period of the first `received`) unless stated.
MARKS = {
    "received": "dossiers received (distinct; intake rejected excluded)",
    "received_full_online_online": "dossiers received `online` under a `full_online` procedure",
    "received_online": "dossiers received with `channel` = `online`",
    "received_remote": "dossiers received `online` with `submitted_by` = `citizen`",
    "received_one_stop": "dossiers received with `via_one_stop`",
    "received_digitized": "dossiers received with `digitized`",
    "resolved": "dossiers resolved in the period (the earliest `resolved` decides)",
    "resolved_on_time": "of those, resolved at or before the due time in force",
    "returned": "dossiers returned in the period (the earliest `returned` decides)",
    "returned_electronic": "of those, with `result_electronic`",
    "payment": "`payment` transactions in the period",
    "payment_online": "of those, `method` = `online`",
    "rated": "dossiers rated in the period (the earliest `rated` decides)",
    "rated_satisfied": "of those, `very_satisfied` or `satisfied`",
    "document_issued": "documents issued in the period, confidential excluded",
    "document_electronic": "of those, `electronic`",
    "work_file_completed": "work files completed in the period, confidential excluded",
    "work_file_online": "of those, `processed_online`",
    "procedures_eligible_full_online": "catalog: the agency's procedures `eligible_full_online`",
    "procedures_full_online": "catalog: of those, offered `full_online`",
    "procedures_online": "catalog: the agency's `partial_online` and `full_online` procedures",
    "proc_online": "distinct such procedures with ≥ 1 online dossier received in the period",
    "procedures_fee_required": "catalog: the agency's `fee_required` procedures",
    "proc_paid_online": "distinct such procedures with ≥ 1 online payment in the period",
}

# Rules beyond the ratio (domain README §5, shared/readmodel/figures.py).
NOTES = {
    "full_online_rate": "Not evaluated for an agency with no `full_online` procedure in its "
    "catalog.",
    "emc_full_online_rate": "The national EMC system's definition of the full-online rate "
    "(seed CV 112, footnote 1): the same numerator as `full_online_rate` over the dossiers "
    "resolved instead of received, so the gap between the province's and EMC's figures splits "
    "into definition and data. No target: it is shown beside `full_online_rate`. Numerator "
    "and denominator are dated differently (receipt, resolution), so it can exceed 100 %. Not "
    "evaluated for an agency with no `full_online` procedure in its catalog.",
}

SOURCES = {
    "dossier": "dossier events",
    "document": "document events",
    "catalog": "procedure catalog",
    "catalog_activity": "procedure catalog and dossier events",
}


def _mark(name: str, indicator: str) -> str:
    if name not in MARKS:
        raise UndescribedMark(f"{indicator}: mark {name!r} has no description in MARKS")
    return f"{MARKS[name]} (`{name}`)"


def section() -> str:
    """The generated part of docs/indicators.md, markers included."""
    targets_of: dict[str, list[str]] = defaultdict(list)
    for target in load_targets().targets:
        targets_of[target.indicator].append(
            f"{target.min_percent:g} % for `{target.applies_to}` in {target.period} "
            f"(`{target.target_set}`, {target.kind}): {target.source}"
        )
    lines = [BEGIN, ""]
    for code, ind in load_indicators().items():
        lines += [
            f"### `{code}`",
            "",
            f"**{ind.name_vi}** — {ind.name_en}. Source: {SOURCES.get(ind.source, ind.source)}.",
            "",
            f"- numerator: {_mark(ind.numerator, code)}",
            f"- denominator: {_mark(ind.denominator, code)}",
        ]
        if code in NOTES:
            lines.append(f"- {NOTES[code]}")
        documents = targets_of.get(code)
        if documents:
            lines.append("- targets (`shared/domain/data/targets.csv`):")
            lines += [f"  - {d}" for d in documents]
        else:
            lines.append("- targets: none in `targets.csv` (shown, never judged)")
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def render(page: str) -> str:
    """``page`` with its generated section replaced by :func:`section`."""
    head, found, rest = page.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not found or not found_end:
        raise ValueError(f"{PAGE.name} lacks the markers {BEGIN!r} … {END!r}")
    return head + section() + tail


def main() -> None:
    PAGE.write_text(render(PAGE.read_text(encoding="utf-8")), encoding="utf-8")
    sys.stdout.write(f"wrote {PAGE.relative_to(ROOT)}\n")


if __name__ == "__main__":
    main()
