"""Marks, sets and open/close effects each event carries (counting rules §4, §5)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from shared.contract.events import DossierReceived, Event
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import load_agencies
from shared.domain.counting import (
    INTAKE_BIT,
    entity_key,
    intake_items,
    marks_for,
    set_members,
)
from shared.domain.indicators import load_indicators, ratio_percent
from shared.domain.lifecycle import id_hash, step_of
from shared.domain.targets import Target
from shared.readmodel.indicator_query import Verdict, verdict
from shared.store.indicator_store import occurrence
from tests.factories import received

AGENCIES = load_agencies().codes


def ev(raw: dict) -> Event:  # type: ignore[type-arg]
    e = validate_event(raw, agencies=AGENCIES, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert not isinstance(e, list), e
    return e


def dossier(event_type: str, **fields: object) -> Event:
    return ev(
        {
            "event_id": "x",
            "event_type": event_type,
            "occurred_at": "2024-05-01T10:00:00+07:00",
            "agency_code": "so-y-te",
            "dossier_id": "d",
            "procedure_code": "p",
            **fields,
        }
    )


def test_received_marks() -> None:
    e = ev(received(level="full_online", channel="online", digitized=True))
    assert set(marks_for(e)) == {
        "received",
        "cat_full_online_online",
        "received_full_online_online",
        "received_online",
        "received_remote",
        "received_one_stop",
        "received_digitized",
    }
    assisted = ev(
        received(
            level="partial_online", channel="online", submitted_by="assisted", via_one_stop=False
        )
    )
    assert set(marks_for(assisted)) == {"received", "cat_partial_online_online", "received_online"}
    postal = ev(received(level="full_online", channel="postal"))
    assert "received_full_online_online" not in marks_for(postal)
    assert "cat_full_online_postal" in marks_for(postal)


def test_lifecycle_marks() -> None:
    on_time = dossier("resolved", due_at="2024-05-01T10:00:00+07:00", outcome="approved")
    late = dossier("resolved", due_at="2024-05-01T09:59:59+07:00", outcome="approved")
    assert marks_for(on_time) == ["resolved", "resolved_on_time"]  # occurred_at <= due_at
    assert marks_for(late) == ["resolved"]
    assert marks_for(dossier("returned", result_electronic=True)) == [
        "returned",
        "returned_electronic",
    ]
    assert marks_for(dossier("payment", method="offline", amount_vnd=0)) == ["payment"]
    assert marks_for(dossier("rated", satisfaction="satisfied")) == ["rated", "rated_satisfied"]
    assert marks_for(dossier("rated", satisfaction="unsatisfied")) == ["rated"]
    assert marks_for(dossier("withdrawn")) == []


def test_confidential_documents_are_excluded() -> None:
    base = {"event_id": "v", "occurred_at": "2024-05-01T10:00:00+07:00", "agency_code": "so-y-te"}
    doc = ev(
        {
            **base,
            "event_type": "document_issued",
            "document_id": "1",
            "electronic": True,
            "confidential": True,
        }
    )
    wf = ev(
        {
            **base,
            "event_type": "work_file_completed",
            "work_file_id": "1",
            "processed_online": True,
            "confidential": False,
        }
    )
    assert marks_for(doc) == []
    assert marks_for(wf) == ["work_file_completed", "work_file_online"]
    assert entity_key(doc) == "doc:1" and entity_key(wf) == "wf:1"


def test_procedure_items_and_sets() -> None:
    online = ev(received(level="partial_online", channel="online", procedure_code="p-9"))
    assert isinstance(online, DossierReceived)
    assert "P:p-9" in intake_items(online)  # proc_online is dated by the intake cohort
    in_person = ev(received(level="full_online", channel="in_person"))
    assert isinstance(in_person, DossierReceived)
    assert not [i for i in intake_items(in_person) if i.startswith("P:")]
    paid = dossier("payment", method="online", amount_vnd=10)
    assert set_members(paid) == [("proc_paid_online", "p")]
    assert set_members(online) == []


def test_the_rules_view_of_each_event_type() -> None:
    due = datetime(2030, 1, 1, tzinfo=UTC).timestamp() - 7 * 3600
    online = ev(received(level="full_online", channel="online", at="2024-12-31T23:59:59+07:00"))
    assert isinstance(online, DossierReceived)
    step = step_of(online)
    ts_ms = int(datetime(2024, 12, 31, 16, 59, 59, tzinfo=UTC).timestamp()) * 1000
    assert (step.kind, step.hid, step.tie, step.ts, step.due) == (
        "R",
        id_hash(online.event_id),
        online.event_id.encode(),
        ts_ms,
        due,
    )
    marks = {m for m, bit in INTAKE_BIT.items() if step.bits & bit}
    assert marks == set(marks_for(online))
    assert step.procs == (b"p-1",)  # the procedure has an online dossier
    late = dossier("resolved", due_at="2024-05-01T09:59:59+07:00", outcome="approved")
    assert step_of(late).kind == "S" and step_of(late).flag is False
    assert step_of(dossier("withdrawn")).kind == "W"
    assert step_of(dossier("intake_rejected", reason="thiếu giấy tờ")).kind == "X"
    suspended = step_of(dossier("due_changed", reason="suspended"))
    assert suspended.kind == "C" and suspended.due is None
    paid = step_of(dossier("payment", method="online", amount_vnd=10))
    assert (paid.kind, paid.flag, paid.proc) == ("P", True, "p")


def test_ratio_and_verdict() -> None:
    assert ratio_percent(1, 0) is None
    assert ratio_percent(0, 5) == 0.0
    target = Target(
        target_set="t", indicator="i", applies_to="all", period=2024, min_percent=70, source="s"
    )
    # the unrounded value decides: 69.996 shows as 70.00 % but is below target
    assert verdict(69.996, target) is Verdict.below
    assert verdict(70.0, target) is Verdict.meets
    assert verdict(None, target) is Verdict.not_evaluated
    assert verdict(50.0, None) is None


def test_every_indicator_is_defined_once_with_vietnamese_name() -> None:
    indicators = load_indicators()
    assert len(indicators) == 15
    assert indicators["full_online_rate"].name_vi == "Tỷ lệ hồ sơ trực tuyến toàn trình"


def test_fixed_offset_periods_equal_the_time_zone_database() -> None:
    """occurrence() uses +07:00 arithmetic; it must agree with Asia/Ho_Chi_Minh."""
    rng = random.Random(5)
    start = datetime(2015, 1, 1, tzinfo=UTC).timestamp()
    instants = [datetime.fromtimestamp(start + rng.random() * 20 * 365 * 86400, UTC)]
    instants += [datetime(2024, 12, 31, 16, 59, 59, 999000, tzinfo=UTC)]  # local year's last ms
    instants += [datetime(2024, 12, 31, 17, 0, tzinfo=UTC)]  # local 1 Jan 2025 00:00
    for _ in range(2000):
        instants.append(datetime.fromtimestamp(start + rng.random() * 20 * 365 * 86400, UTC))
    for ts in instants:
        local = ts.astimezone(LOCAL_TZ)
        occ = occurrence(ts)
        assert occ.day == f"{local:%Y%m%d}" and occ.month == f"{local:%Y%m}", ts
        assert occ.year == f"{local:%Y}" and occ.ts == int(ts.timestamp() * 1000 // 1)
