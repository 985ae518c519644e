"""Alertmanager's webhook (v4), received: Prometheus' alerts on the pipeline become
``system`` alerts, mailed through the routes like every other.

Only the project's own alerts are accepted: the names of the alerting rules in its
Prometheus rules files (``prometheus/rules``, read once at start). Anything else an
Alertmanager posts — another team's alert, a typo, a forged name — is ignored (counted,
logged, never mailed); so are egov-monitor's own alerts (``origin``) coming back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from services.alerts.metrics import FOREIGN
from services.alerts.rules import Observation, Severity
from services.alerts.state import Finding, Subject
from shared.domain.alerts import Rule
from shared.platform.logs import get_logger

log = get_logger("alerts.receiver")

PROJECT_RULES = Path(__file__).resolve().parents[2] / "prometheus" / "rules"
PIPELINE_SCOPE = "pipeline"


def rule_files(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out += sorted([*p.glob("*.yml"), *p.glob("*.yaml")]) if p.is_dir() else [p]
    return out


def alert_names(paths: Iterable[str | Path] = (PROJECT_RULES,)) -> frozenset[str]:
    """Every ``alert:`` name of the rules files (or directories of them) in ``paths``."""
    names: set[str] = set()
    for path in rule_files(paths):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for group in doc.get("groups") or []:
            names.update(str(r["alert"]) for r in group.get("rules") or [] if "alert" in r)
    if not names:
        raise ValueError(f"no alerting rule in {[str(p) for p in paths]}")
    return frozenset(names)


def findings(payload: dict[str, Any], known: frozenset[str]) -> list[Finding]:
    """The system alerts of one Alertmanager post, foreign and own ones left out."""
    out: list[Finding] = []
    for item in payload.get("alerts") or []:
        labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
        notes = {str(k): str(v) for k, v in (item.get("annotations") or {}).items()}
        name = labels.get("alertname")
        if labels.get("origin") == "egov-alerts" or name is None:
            continue
        if name not in known:
            FOREIGN.inc()
            log.warning("foreign_alert_ignored", alertname=name[:100])
            continue
        firing = item.get("status") == "firing"
        severity = Severity.critical if labels.get("severity") == "critical" else Severity.warning
        scope = labels.get("job") or PIPELINE_SCOPE
        subject = Subject(
            Rule.system,
            scope,
            f"Hệ thống egov-monitor ({scope})",
            f"{name}:{item.get('fingerprint') or ''}",
        )
        details: dict[str, object] = {
            "summary": notes.get("summary", name),
            "description": notes.get("description", ""),
            "labels": labels,
        }
        out.append(Finding(subject, Observation(firing, severity if firing else None), details))
    return out
