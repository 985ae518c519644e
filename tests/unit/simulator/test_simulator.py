"""The simulator, pure (no broker): the generated 2024 stream reproduces the published
appendix by counting its events; the catalog has the published TTHC counts; every event is
valid; output is deterministic; the live generator and the replay tool behave."""

from __future__ import annotations

import csv
import io
import itertools
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from shared.contract.events import ServiceLevel
from shared.contract.validation import validate_event
from shared.domain.calendar import LOCAL_TZ
from shared.domain.catalog import load_agencies
from shared.platform.config import Settings
from simulator.appendix2024 import (
    BOUNDARY_AGENCIES,
    EDGE_TIMES,
    YearStream,
    agency_rows,
    dossier_categories,
    due_after,
    local_iso,
    out_of_catalog_code,
    overlap_pairs,
)
from simulator.cli import app
from simulator.live import LiveGenerator, activity_factor, run_live, working_hours
from simulator.replay import (
    IngestSink,
    KafkaSink,
    SendResult,
    checkpoint_path,
    kafka_partition,
    read_events,
    replay,
    summary_lines,
)

ROWS = agency_rows()
PUBLISHED_OVERLAP = {"ubnd-long-xuyen": 20, "ubnd-cho-moi": 56}
# small and medium agencies covering every special case: no procedure at a dossier's level
# (so-gtvt in_person_only), only in-person dossiers (thanh-tra-tinh), overlap (châu đốc)
SUBSET = ("ban-ql-kkt", "so-gtvt", "so-khdt", "so-tnmt", "thanh-tra-tinh", "ubnd-chau-doc")


@dataclass
class YearFacts:
    """What counting the received events of the whole year shows."""

    first: dict[str, tuple[str, str, tuple[str, str]]] = field(default_factory=dict)
    again: dict[str, list[tuple[str, str, tuple[str, str]]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # dossier → its later receipts (occurred_at, event_id, category)
    agency_of: dict[str, str] = field(default_factory=dict)
    per_category: dict[tuple[str, str, str], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    not_2024: int = 0
    bad_channel: int = 0
    edges: set[tuple[str, str]] = field(default_factory=set)
    months_head: set[str] = field(default_factory=set)
    months_tail: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def year() -> YearFacts:
    """One pass over the year's received events (lifecycle and documents left out)."""
    facts = YearFacts()
    tail: list[str] = []
    first, again, agency_of = facts.first, facts.again, facts.agency_of
    per_category = facts.per_category
    for n, e in enumerate(YearStream(lifecycle_fraction=0.0, documents_per_agency=0).events()):
        assert e["event_type"] == "received"
        dossier, at, agency = e["dossier_id"], e["occurred_at"], e["agency_code"]
        # every timestamp is local (+07:00), so its first four characters are its local year
        if not (at.startswith("2024-") and at.endswith("+07:00")):
            facts.not_2024 += 1
        cat = (e["service_level"], e["channel"])
        receipt = (at, e["event_id"], cat)
        seen = first.get(dossier)
        if seen is None:
            first[dossier] = receipt
            agency_of[dossier] = agency
        elif at < seen[0]:
            first[dossier] = receipt
            again[dossier].append(seen)
        else:
            again[dossier].append(receipt)
        per_category[(agency, *cat)].add(dossier)
        if cat == ("in_person_only", "online") or (
            e["channel"] == "online" and e.get("submitted_by") not in ("citizen", "assisted")
        ):
            facts.bad_channel += 1
        if at in EDGE_TIMES:
            facts.edges.add((agency, at))
        if n < 1000:
            facts.months_head.add(at[:7])
        tail.append(at[:7])
        if len(tail) > 2000:
            del tail[:1000]
    facts.months_tail = set(tail[-1000:])
    return facts


def test_distinct_dossiers_and_categories_of_every_row(year: YearFacts) -> None:
    assert year.not_2024 == 0 and year.bad_channel == 0
    total = Counter(year.agency_of[d] for d in year.first)
    assert len(ROWS) == 30
    for row in ROWS:
        code = row.agency_code
        assert total[code] == row.hstn_total, code
        for (level, channel), published in row.category_counts.items():
            assert len(year.per_category[(code, level, channel)]) == published, (code, level)
    assert sum(total.values()) == 663_690
    assert sum(len(s) for s in year.per_category.values()) == 663_993


def test_overlap_dossiers_are_received_twice_under_two_categories(year: YearFacts) -> None:
    overlap: Counter[str] = Counter()
    for dossier, later in year.again.items():
        assert len(later) == 1, dossier
        (at1, id1, cat1), (at2, id2, cat2) = year.first[dossier], later[0]
        assert datetime.fromisoformat(at1) < datetime.fromisoformat(at2)
        assert id1 != id2 and cat1 != cat2
        overlap[year.agency_of[dossier]] += 1
    for row in ROWS:
        expected = sum(row.category_counts.values()) - row.hstn_total
        assert overlap[row.agency_code] == expected, row.agency_code
    assert {k: overlap[k] for k in PUBLISHED_OVERLAP} == PUBLISHED_OVERLAP
    assert sum(overlap.values()) == 303
    districts = [r for r in ROWS if r.agency_code.startswith("ubnd-")]
    assert len(districts) == 11 and min(overlap[r.agency_code] for r in districts) == 8


def test_year_edges_count_in_2024(year: YearFacts) -> None:
    for agency in BOUNDARY_AGENCIES:
        for at in EDGE_TIMES:
            assert (agency, at) in year.edges
    # the edge dossiers are received there first (nothing earlier), so they count in 2024
    firsts = {(year.agency_of[d], r[0]) for d, r in year.first.items() if r[0] in EDGE_TIMES}
    assert firsts == year.edges


def test_stream_runs_through_the_year_in_arrival_order(year: YearFacts) -> None:
    assert year.months_head == {"2024-01"}
    assert year.months_tail == {"2024-12"}


def test_overlap_plan_matches_the_published_columns() -> None:
    for row in ROWS:
        dossiers = dossier_categories(row)
        assert len(dossiers) == row.hstn_total
        per = Counter(c for cats in dossiers for c in cats)
        assert {k: per[k] for k in row.category_counts} == row.category_counts
        for first, second, _ in overlap_pairs(row):
            assert first[1] == "online" and first[0] == second[0]  # online, then in person


def test_catalog_has_the_published_tthc_counts() -> None:
    catalog = YearStream().catalog()
    assert len(catalog) == 8011
    for row in ROWS:
        levels = catalog.level_counts(row.agency_code)
        assert levels[ServiceLevel.in_person_only] == row.in_person_only_tthc
        assert levels[ServiceLevel.partial_online] == row.partial_tthc
        assert levels[ServiceLevel.full_online] == row.full_tthc
    procs = list(catalog.procedures.values())
    assert all(p.eligible_full_online for p in procs if p.service_level == "full_online")
    assert not any(p.eligible_full_online for p in procs if p.service_level == "in_person_only")
    partial = [p for p in procs if p.service_level == "partial_online"]
    assert 0.15 < sum(p.eligible_full_online for p in partial) / len(partial) < 0.35
    assert 0.2 < sum(p.fee_required for p in procs) / len(procs) < 0.4
    p = catalog.procedures["so-cong-thuong-full_online-007"]
    assert p.name.startswith("Thủ tục ") and " số 7 " in p.name
    again = type(catalog).from_csv_text(catalog.to_csv_text())
    assert again.procedures == catalog.procedures


@pytest.fixture(scope="module")
def subset_events() -> list[dict[str, Any]]:
    return list(YearStream(agencies=SUBSET, documents_per_agency=200).events())


def test_the_2024_stream_never_outlives_an_agency_of_the_packaged_catalog() -> None:
    """The appendix stream's lifecycles spill into early 2025; the departments merged on
    2025-03-01 end on 2025-02-28 in the catalog in time: none of their events is later (so
    the stream replays on the packaged catalog with nothing refused)."""
    catalog = load_agencies()
    merged = sorted(
        a.agency_code for a in catalog.agencies.values() if a.valid_to == date(2025, 2, 28)
    )
    assert len(merged) == 11
    stream = YearStream()
    for code in merged:
        last = max(e["occurred_at"] for e in stream.agency_events(code))
        assert last.endswith("+07:00") and last < "2025-03-01", (code, last)


def test_every_event_is_valid_with_lifecycle(subset_events: list[dict[str, Any]]) -> None:
    agencies = load_agencies()  # in time: the 2024 units end in 2025, after the spill
    now = datetime.now(UTC)
    invalid = [
        (e, r)
        for e in subset_events
        if isinstance(r := validate_event(e, agencies=agencies, now=now), list)
    ]
    assert invalid == []
    assert len({e["event_id"] for e in subset_events}) == len(subset_events)
    kinds = Counter(e["event_type"] for e in subset_events)
    assert set(kinds) == {
        "received",
        "resolved",
        "returned",
        "payment",
        "rated",
        "withdrawn",
        "due_changed",
        "intake_rejected",
        "document_issued",
        "work_file_completed",
    }
    assert kinds["document_issued"] + kinds["work_file_completed"] == 200 * len(SUBSET)

    def dossiers(kind: str) -> set[str]:
        return {e["dossier_id"] for e in subset_events if e["event_type"] == kind}

    # every accepted dossier is either resolved or withdrawn (lifecycle fraction 1)
    counted = dossiers("received") - dossiers("intake_rejected")
    assert dossiers("resolved") | dossiers("withdrawn") == counted
    assert dossiers("resolved").isdisjoint(dossiers("withdrawn"))
    assert len(counted) == sum(r.hstn_total for r in ROWS if r.agency_code in SUBSET)


def test_lifecycle_and_documents_give_every_indicator_data(
    subset_events: list[dict[str, Any]],
) -> None:
    catalog = YearStream().catalog()
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in subset_events:
        by_type[e["event_type"]].append(e)
    resolved = by_type["resolved"]
    on_time = sum(e["occurred_at"] <= e["due_at"] for e in resolved) / len(resolved)
    assert 0.85 < on_time < 1.0
    assert any(e["occurred_at"] == e["due_at"] for e in resolved)  # at the deadline: on time
    assert any(e["outcome"] == "rejected" for e in resolved)
    returned = by_type["returned"]
    assert 0.4 < sum(e["result_electronic"] for e in returned) / len(returned) < 1.0
    for e in by_type["payment"]:
        assert catalog.procedures[e["procedure_code"]].fee_required
        assert e["amount_vnd"] > 0
    assert {e["method"] for e in by_type["payment"]} == {"online", "offline"}
    assert {e["satisfaction"] for e in by_type["rated"]} == {
        "very_satisfied",
        "satisfied",
        "unsatisfied",
    }
    docs = by_type["document_issued"] + by_type["work_file_completed"]
    assert any(d["confidential"] for d in docs) and not all(d["confidential"] for d in docs)
    assert {d["electronic"] for d in by_type["document_issued"]} == {True, False}
    assert {d["processed_online"] for d in by_type["work_file_completed"]} == {True, False}
    # lifecycle may spill into early 2025, never further
    assert max(e["occurred_at"] for e in subset_events) < "2025-04"


def test_received_procedures_match_their_level(subset_events: list[dict[str, Any]]) -> None:
    catalog = YearStream().catalog()
    outside = set()
    for e in subset_events:
        if e["event_type"] != "received":
            continue
        proc = catalog.procedures.get(e["procedure_code"])
        if proc is None:
            assert e["procedure_code"] == out_of_catalog_code(e["agency_code"], e["service_level"])
            outside.add(e["procedure_code"])
        else:
            assert (proc.agency_code, proc.service_level) == (e["agency_code"], e["service_level"])
    # so-gtvt has 4 in-person-only dossiers but no such procedure in its catalog
    assert outside == {"so-gtvt-in_person_only-ngoai-danh-muc"}


def test_arrival_order_differs_from_occurrence_order(subset_events: list[dict[str, Any]]) -> None:
    occurred = [datetime.fromisoformat(e["occurred_at"]) for e in subset_events]
    late = sum(b < a - timedelta(hours=1) for a, b in itertools.pairwise(occurred))
    assert late > 0  # late deliveries exist ...
    assert late < len(occurred) / 20  # ... but the stream runs roughly by time


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    small = ("ban-dan-toc", "so-tai-chinh", "so-ngoai-vu", "so-khcn")
    a = YearStream(agencies=small, documents_per_agency=20).write(tmp_path / "a")
    b = YearStream(agencies=small, documents_per_agency=20).write(tmp_path / "b")
    c = YearStream(seed=7, agencies=small, documents_per_agency=20).write(tmp_path / "c")
    assert a.events_path.read_bytes() == b.events_path.read_bytes()
    assert a.procedures_path.read_bytes() == b.procedures_path.read_bytes()
    assert a.events_path.read_bytes() != c.events_path.read_bytes()
    lines = a.events_path.read_bytes().splitlines()
    assert a.events == sum(a.by_type.values()) == len(lines)
    events = [orjson.loads(line) for line in lines]
    rejected = {e["dossier_id"] for e in events if e["event_type"] == "intake_rejected"}
    received = {e["dossier_id"] for e in events if e["event_type"] == "received"}
    assert len(received - rejected) == 2 + 17 + 30 + 109
    assert a.by_type["intake_rejected"] == len(rejected) == 2 * len(small)  # the minimum


def test_received_events_do_not_depend_on_lifecycle_or_subset() -> None:
    def received(stream: YearStream) -> dict[str, dict[str, Any]]:
        return {e["event_id"]: e for e in stream.events() if e["event_type"] == "received"}

    with_life = received(YearStream(agencies=("so-tnmt",), documents_per_agency=0))
    without = received(YearStream(agencies=("so-tnmt",), lifecycle_fraction=0.0))
    # the counted dossiers' receipts are the same; lifecycles add re-submissions of those
    # dossiers and receipts of intake-rejected ones (numbered after the counted dossiers)
    assert {k: with_life[k] for k in without} == without
    counted = {e["dossier_id"] for e in without.values()}
    extra = [e for k, e in with_life.items() if k not in without]
    assert extra and all(
        e["dossier_id"] in counted or int(e["dossier_id"][-6:]) >= len(counted) for e in extra
    )
    alone = list(YearStream(documents_per_agency=5).agency_events("so-khdt"))
    in_subset = YearStream(agencies=("so-khdt", "so-tnmt"), documents_per_agency=5).events()
    assert alone == [e for e in in_subset if e["agency_code"] == "so-khdt"]


def test_time_helpers() -> None:
    assert local_iso(int(datetime(2024, 12, 31, 16, 59, 59, tzinfo=UTC).timestamp())) == (
        "2024-12-31T23:59:59+07:00"
    )
    friday = int(datetime(2024, 2, 2, 16, 0, tzinfo=LOCAL_TZ).timestamp())
    # one working day after Friday is Monday; Tết (8–14 Feb) is skipped
    assert local_iso(due_after(friday, 1)) == "2024-02-05T17:00:00+07:00"
    before_tet = int(datetime(2024, 2, 7, 9, 0, tzinfo=LOCAL_TZ).timestamp())
    assert local_iso(due_after(before_tet, 1)) == "2024-02-15T17:00:00+07:00"


# --------------------------------------------------------------------------- live stream


def test_live_events_are_valid_and_follow_their_dossiers() -> None:
    agencies = load_agencies()  # the catalog in time: valid on each event's own date
    start = datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL_TZ)  # a Monday morning
    gen = LiveGenerator(seed=3, backlog=50, now=start)
    events = []
    for k in range(60):
        events += gen.batch(50, start + timedelta(seconds=10 * k))
    now = start + timedelta(minutes=15)
    assert all(not isinstance(validate_event(e, agencies=agencies, now=now), list) for e in events)
    kinds = Counter(e["event_type"] for e in events)
    assert {"received", "resolved", "returned", "payment", "document_issued"} <= set(kinds)
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["occurred_at"].endswith("+07:00") for e in events)
    received = {e["dossier_id"] for e in events if e["event_type"] == "received"}
    backlog = {e.get("dossier_id") for e in events if "dossier_id" in e} - received
    assert backlog  # earlier dossiers get their lifecycle too
    # the merged province: the commune-level units (which took over the districts' work)
    # receive most dossiers
    local = [e for e in events if agencies.agencies[e["agency_code"]].level.value == "xa"]
    assert len(local) > len(events) / 2


def test_live_rate_follows_working_hours() -> None:
    monday_9 = datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL_TZ)
    lunch = monday_9.replace(hour=12)
    night = monday_9.replace(hour=22)
    sunday = datetime(2026, 3, 1, 10, 0, tzinfo=LOCAL_TZ)
    assert working_hours(monday_9) and not working_hours(night) and not working_hours(sunday)
    assert activity_factor(monday_9) == 1.0
    assert activity_factor(night) < activity_factor(lunch) < 1.0
    gen = LiveGenerator(seed=1, backlog=0)
    day = sum(len(gen.events_this_second(100, monday_9)) for _ in range(20))
    off = [e for _ in range(20) for e in gen.events_this_second(100, night)]
    assert 1800 < day < 2200 and len(off) < 250
    assert all(e["channel"] == "online" for e in off if e["event_type"] == "received")


def test_run_live_posts_partial_batches() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        n = len(orjson.loads(request.content))
        return httpx.Response(202, json={"accepted": n, "rejected": []})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    accepted = run_live("http://ingest", "tok", 2000, 0.3, seed=1, client=client)
    assert seen and accepted == sum(len(orjson.loads(r.content)) for r in seen)
    assert seen[0].url.params["partial"] == "true"
    assert seen[0].headers["authorization"] == "Bearer tok"


# --------------------------------------------------------------------------- replay


def _ndjson(path: Path, events: list[Any]) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    return path


def _sample(n: int) -> list[dict[str, Any]]:
    events = list(YearStream(agencies=("so-tai-chinh",), documents_per_agency=4).events())
    return events[:n]


class RecordingSink:
    def __init__(self) -> None:
        self.batches: list[list[dict[str, Any]]] = []
        self.closed = False

    def send(self, batch: Any) -> SendResult:
        self.batches.append(list(batch))
        return SendResult(accepted=len(batch))

    def close(self) -> None:
        self.closed = True


def test_csv_cells_become_json_values(tmp_path: Path) -> None:
    events = _sample(30)
    fields = sorted({k for e in events for k in e})
    path = tmp_path / "events.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(
            {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in e.items()}
            for e in events
        )
    back = [record for _, record in read_events(path)]
    assert back == events


def test_replay_resumes_after_the_checkpoint(tmp_path: Path) -> None:
    path = _ndjson(tmp_path / "events.ndjson", _sample(23))
    first = RecordingSink()
    summary = replay(path, first, batch_size=10, show_progress=False)
    assert (summary.sent, summary.accepted, summary.total) == (23, 23, 23)
    assert [len(b) for b in first.batches] == [10, 10, 3] and first.closed
    assert checkpoint_path(path).read_text() == "23"
    checkpoint_path(path).write_text("15")
    again = RecordingSink()
    summary = replay(path, again, batch_size=10, resume=True, show_progress=False)
    assert (summary.skipped, summary.sent) == (15, 8)
    assert [e["event_id"] for b in again.batches for e in b] == [
        e["event_id"] for e in _sample(23)[15:]
    ]


def test_replay_validates_on_the_catalog_in_time(tmp_path: Path) -> None:
    """``validate`` (into Kafka, where nothing checks on the way) refuses what ingest and
    the calculator refuse: a 2024 district's event of 2026; a commune's passes."""
    commune = {**_sample(1)[0], "agency_code": "H01.187", "event_id": "c1"}
    commune["occurred_at"] = "2026-03-04T08:15:00+07:00"
    commune["due_at"] = "2026-03-10T17:00:00+07:00"
    district = {**commune, "agency_code": "ubnd-an-phu", "event_id": "d1"}
    path = _ndjson(tmp_path / "events.ndjson", [commune, district])
    sink = RecordingSink()
    summary = replay(path, sink, validate=True, show_progress=False)
    assert [e["event_id"] for b in sink.batches for e in b] == ["c1"]
    assert summary.rejected == Counter({("agency_code", "agency_not_valid"): 1})
    (example,) = summary.examples
    assert example[0] == 2 and example[2].startswith("agency 'ubnd-an-phu' ended on 2025-06-30")


def test_replay_into_ingest_honours_retry_after_and_collects_rejections(
    tmp_path: Path,
) -> None:
    events: list[Any] = _sample(12)
    events[2] = {**events[2], "agency_code": "so-khong-co"}
    events[7] = {**events[7], "occurred_at": "2024-03-01T10:00:00"}
    path = _ndjson(tmp_path / "events.ndjson", events)
    with path.open("ab") as fh:
        fh.write(b"{not json\n")
    agencies = load_agencies().codes
    calls: list[httpx.Request] = []
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            return httpx.Response(503, headers={"Retry-After": "3"}, json={})
        accepted, rejected = 0, []
        for i, line in enumerate(request.content.splitlines()):
            result = validate_event(orjson.loads(line), agencies=agencies, index=i)
            if isinstance(result, list):
                rejected += [r.model_dump() for r in result]
            else:
                accepted += 1
        return httpx.Response(202, json={"accepted": accepted, "rejected": rejected})

    sink = IngestSink(
        "http://ingest/",
        "tok",
        client=httpx.Client(transport=httpx.MockTransport(handler)),
        sleep=sleeps.append,
    )
    summary = replay(path, sink, batch_size=5, show_progress=False)
    assert sleeps == [3.0]
    assert all(r.url.params["partial"] == "true" for r in calls)
    assert calls[0].headers["content-type"] == "application/x-ndjson"
    assert (summary.sent, summary.accepted, summary.rejected_events) == (12, 10, 3)
    assert summary.unreadable == 1
    assert summary.rejected[("agency_code", "value_error")] == 1
    assert summary.rejected[("occurred_at", "timezone_aware")] == 1
    assert [line for line, *_ in summary.examples] == [3, 8, 13]
    text = "\n".join(summary_lines(summary))
    assert "rejected 3" in text and "agency_code" in text and "line 13" in text
    assert checkpoint_path(path).read_text() == "13"


def test_kafka_sink_routes_by_event_type_and_keys_by_agency() -> None:
    class Producer:  # confluent-kafka's Producer, acknowledging every record
        def __init__(self) -> None:
            self.sent: list[tuple[str, bytes, bytes]] = []
            self.pending: list[Any] = []

        def produce(self, topic: str, value: bytes, key: bytes, on_delivery: Any) -> None:
            self.sent.append((topic, key, value))
            self.pending.append(on_delivery)

        def poll(self, timeout: float) -> int:
            return 0

        def flush(self, timeout: float) -> int:
            for delivered in self.pending:
                delivered(None, None)
            self.pending.clear()
            return 0

    producer = Producer()
    sink = KafkaSink("unused:9092", Settings(), producer=producer)
    events = [e for e in _sample(200) if e["event_type"] in ("received", "document_issued")]
    assert sink.send(events).accepted == len(events)
    topics = Settings().topics
    for (topic, key, value), event in zip(producer.sent, events, strict=True):
        family = "document" if event["event_type"] == "document_issued" else "dossier"
        assert topic == (topics.document if family == "document" else topics.dossier)
        entity = event.get("dossier_id") or event.get("document_id") or event.get("work_file_id")
        assert key.startswith(event["agency_code"].encode() + b"/") and key.endswith(
            f":{entity}".encode()
        )
        assert orjson.loads(value) == event


def test_batched_producer_chooses_the_default_partitioners_partition() -> None:
    from kafka.partitioner import DefaultPartitioner

    parts = [0, 1, 2, 3, 4, 5]

    class Cluster:
        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int]:
            return set(parts)

        available_partitions_for_topic = partitions_for_topic

    partitioner = DefaultPartitioner()
    chosen = set()
    for row in ROWS:
        key = row.agency_code.encode()
        expected = partitioner.partition("t", None, key, None, None, Cluster())
        assert kafka_partition(key, parts[::-1]) == expected
        chosen.add(expected)
    assert len(chosen) > 1


# --------------------------------------------------------------------------- CLI


def test_cli_generates_and_refuses_ambiguous_replay(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "simulate",
            "appendix-2024",
            "--out",
            str(tmp_path),
            "--agency",
            "ban-dan-toc",
            "--agency",
            "so-tttt",
            "--lifecycle-fraction",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "events.ndjson").read_bytes().splitlines()
    received = [e for e in map(orjson.loads, lines) if e["event_type"] == "received"]
    assert len(received) == 2 + 76
    rows = list(csv.DictReader(io.StringIO((tmp_path / "procedures.csv").read_text("utf-8"))))
    assert len(rows) == 8011
    result = runner.invoke(app, ["replay", str(tmp_path / "events.ndjson")])
    assert result.exit_code != 0


@pytest.mark.parametrize("day", ["2026-12-31", "2030-06-14", "2039-12-30"])
def test_live_generator_schedules_dossiers_years_ahead(day: str) -> None:
    """The live demo runs on today's date: its due dates must not run off the working-day
    calendar (they did at the end of 2026)."""
    now = datetime.fromisoformat(f"{day}T15:00:00+07:00")
    gen = LiveGenerator(seed=7, now=now)
    events = [e for k in range(30) for e in gen.batch(100, now + timedelta(minutes=k))]
    received = [e for e in events if e["event_type"] == "received"]
    assert received and all(e["due_at"] > e["occurred_at"] for e in received)
    assert any(e["event_type"] == "due_changed" for e in events)
