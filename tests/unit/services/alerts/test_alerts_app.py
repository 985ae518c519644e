"""The alerts service's timers (checks, digest, Alertmanager re-posts, the outbox) run on the
group's leader only: N workers neither judge nor mail N times."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import services.alerts.app as alerts_app
from shared.platform import faust_app
from shared.platform.config import Settings


def test_every_timer_runs_on_the_leader_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    declared: list[tuple[str, bool]] = []
    real = faust_app.guarded_timer

    def recording(app: Any, interval: float, *, on_leader: bool = False) -> Any:
        decorate = real(app, interval, on_leader=on_leader)

        def named(fn: Any) -> Any:
            declared.append((fn.__name__, on_leader))
            return decorate(fn)

        return named

    monkeypatch.setattr(alerts_app, "guarded_timer", recording)
    app = alerts_app.create_app(Settings(faust_data_dir=str(tmp_path)))
    assert declared == [("scheduled_checks", True), ("deliver_outbox", True)]
    assert app.conf.topic_disable_leader is False  # the group elects a leader
