"""A deterministic event stream for 2024 that reproduces the province's published appendix
(Công văn 112/UBND-TH, 24/01/2025).

For each of the appendix's 30 agency rows (not the TOTAL row) the stream has:

- exactly ``hstn_total`` distinct dossiers whose first ``received`` event lies in 2024
  (local time, +07:00), spread over working days and hours (online submissions also at
  night and at weekends), a few of them exactly at the year's edges
  (2024-01-01T00:00:00+07:00 and 2024-12-31T23:59:59+07:00);
- for each category (service level × channel) exactly the published count of distinct
  dossiers received under it. Where the categories add up to more than the total (the 11
  district rows), the difference is made of *overlap* dossiers received twice under two
  categories — submitted online, then received again at the counter a few working days
  later — so each category keeps its published count and the total stays distinct;
- a procedure catalog with exactly the published TTHC counts per service level;
- lifecycle events (contract v1.1) for a configurable fraction of dossiers, which may
  spill into early 2025: ``resolved`` mostly on time against the due time in force,
  ``returned`` mostly with an electronic result, ``payment`` transactions for fee
  procedures (some dossiers pay in two or three, mixed methods), ``rated``; and the messy
  parts of real lifecycles: supplement requests (``due_changed`` ``supplement_requested``,
  some when the dossier was already overdue, often followed by a re-submission — a second
  ``received`` under a category the dossier already has), extensions, suspensions then
  resumption with a new due time, withdrawals, corrections (a later second ``resolved``,
  sometimes with another outcome or due time), a second ``returned`` or ``rated`` now
  and then;
- intake rejections ("từ chối tiếp nhận"): a few dossiers per agency beyond the counted
  ones (numbered after them), received and then ``intake_rejected`` — sometimes delivered
  before their receipt — which the rules of §4a leave out of every figure;
- document events (``document_issued``, ``work_file_completed``) in deterministic counts.

Events come out in *arrival* order: each emitting system delivers a little after the fact,
and now and then an agency's connection drops for hours or days and its events arrive
in a burst afterwards, so ``occurred_at`` is out of order across agencies as in real life.
The same seed gives byte-identical output. Everything is streamed: memory stays at the
size of the lifecycle events still to come (tens of MB for the whole year).

Under the counting rules of the domain README (§4, §4a) the stream gives exactly the
appendix's cells whatever the lifecycle fraction: a dossier's intake counts at its first
receipt (re-submissions come later and overlap dossiers are received twice within 2024),
and rejected intakes count nowhere. ``simulator.expected`` computes the figures of any
stream under those rules in pure Python; the tests hold the stream to it.
"""

from __future__ import annotations

import heapq
import random
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from shared.contract.events import ServiceLevel
from shared.domain.appendix import CATEGORY_COLUMNS, AppendixRow, load_appendix_2024
from shared.domain.calendar import DAY_S, LOCAL_OFFSET_S, LOCAL_TZ
from shared.domain.catalog import load_agencies
from shared.domain.procedures import Procedure, ProcedureCatalog

DEFAULT_SEED = 2024
Category = tuple[str, str]
# Asia/Ho_Chi_Minh has had no daylight saving time since 1975: a fixed +07:00 offset.
UTC_OFFSET_S = LOCAL_OFFSET_S
YEAR_START = datetime(2024, 1, 1, tzinfo=LOCAL_TZ)
YEAR_END = datetime(2024, 12, 31, 23, 59, 59, tzinfo=LOCAL_TZ)
YEAR_START_TS = int(YEAR_START.timestamp())
YEAR_END_TS = YEAR_START_TS + 366 * DAY_S  # exclusive: 2024 is a leap year
# Agencies that get a dossier at 2024-01-01T00:00:00+07:00 and one at 23:59:59 on 31 Dec
# (submitted online at midnight; single-category dossiers).
BOUNDARY_AGENCIES = ("so-cong-thuong", "so-tu-phap", "ubnd-cho-moi")
BOUNDARY_AGENCY = BOUNDARY_AGENCIES[0]
EDGE_TIMES = ("2024-01-01T00:00:00+07:00", "2024-12-31T23:59:59+07:00")

# The appendix's five columns, in its order; a dossier's plan refers to them by index.
CATEGORIES: tuple[Category, ...] = tuple(CATEGORY_COLUMNS.values())
_CAT_INDEX = {cat: i for i, cat in enumerate(CATEGORIES)}
# Overlap dossiers: submitted online, then received at the counter under the same level.
PREFERRED_PAIRS: tuple[tuple[Category, Category], ...] = (
    (("partial_online", "online"), ("partial_online", "in_person")),
    (("full_online", "online"), ("full_online", "in_person")),
)
_CODE_BITS = 16  # a dossier's plan is packed as ``time * 16 + code``

# Public holidays (days off) of Vietnam's civil service, 2024 and 2025 (due dates spill over).
HOLIDAYS = frozenset(
    date.fromisoformat(d)
    for d in (
        "2024-01-01",
        *(f"2024-02-{d:02d}" for d in range(8, 15)),  # Tết Giáp Thìn
        "2024-04-18",  # Giỗ Tổ Hùng Vương
        "2024-04-29",
        "2024-04-30",
        "2024-05-01",
        "2024-09-02",
        "2024-09-03",
        "2025-01-01",
        *(f"2025-01-{d:02d}" for d in range(27, 32)),  # Tết Ất Tỵ
        "2025-04-07",
        "2025-04-30",
        "2025-05-01",
        "2025-05-02",
        "2025-09-01",
        "2025-09-02",
    )
)
# Receipts per working day by month: the rush before Tết, the quiet Tết month, year end.
MONTH_FACTOR = (1.15, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.05, 1.12)
# One-stop counters open 07:00–11:30 and 13:00–17:00.
MORNING = (7 * 3600, 11 * 3600 + 1800)
AFTERNOON = (13 * 3600, 17 * 3600)
WORKING_SECONDS = (MORNING[1] - MORNING[0]) + (AFTERNOON[1] - AFTERNOON[0])
ONLINE_OFF_HOURS_SHARE = 0.22  # online submissions outside counter hours (nights, weekends)
PROCESSING_DAYS = (1, 2, 3, 5, 7, 10, 15, 20)
PROCESSING_WEIGHTS = (6, 6, 12, 14, 10, 8, 6, 4)
FEES_VND = (10_000, 20_000, 30_000, 50_000, 100_000, 150_000, 200_000, 500_000)
ELIGIBLE_PARTIAL_SHARE = 0.25  # partial_online procedures that could be offered fully online
FEE_SHARE = 0.30
DOCUMENTS_BY_LEVEL = {"tinh": 1_200, "huyen": 3_000}
PROCEDURE_TOPICS = (
    "cấp giấy phép",
    "cấp lại giấy chứng nhận",
    "đăng ký",
    "thẩm định hồ sơ",
    "xác nhận",
    "gia hạn giấy phép",
    "công nhận",
    "điều chỉnh nội dung",
    "thông báo",
    "cấp phép hoạt động",
)
LEVEL_LABELS = {
    "in_person_only": "trực tiếp",
    "partial_online": "trực tuyến một phần",
    "full_online": "trực tuyến toàn trình",
}
SATISFACTION = ("very_satisfied", "satisfied", "unsatisfied")


# Lifecycles (contract v1.1, domain README §4a). Shares are of the dossiers that get a
# lifecycle, unless said otherwise.
SUPPLEMENT_SHARE = 0.06  # "yêu cầu bổ sung, hoàn thiện hồ sơ": the deadline moves later
SUPPLEMENT_AFTER_DUE_SHARE = 0.25  # ... requested when the dossier was already past due
RESUBMIT_AFTER_SUPPLEMENT = 0.55  # the citizen supplies by submitting again (a new receipt)
WITHDRAW_AFTER_SUPPLEMENT = 0.12  # ... or gives up and withdraws
RESENT_RECEIPT_SHARE = 0.004  # the receipt registered a second time (same category and due)
EXTENSION_SHARE = 0.025  # "gia hạn" / a new appointment date with an apology
EXTENSION_AFTER_DUE_SHARE = 0.3  # ... issued when the deadline had already passed
SUSPENSION_SHARE = 0.006  # "tạm dừng": no deadline until resumed with a new due time
PAYMENT_TRANSACTIONS = ((3, 0.04), (2, 0.16))  # fee dossiers paying in 3 / 2 transactions
SURCHARGES_VND = (5_000, 10_000, 15_000, 20_000, 50_000)
CORRECTION_SHARE = 0.015  # a second, later ``resolved`` (the first one decides)
RETURNED_AGAIN_SHARE = 0.005  # the result issued again, electronically
RATED_AGAIN_SHARE = 0.01  # the citizen rates a second time
# Intake rejections ("từ chối tiếp nhận"): dossiers beyond the appendix's counted ones, per
# agency this share of its received dossiers times the lifecycle fraction, at least
# ``INTAKE_REJECTED_MIN``; some rejections are delivered before their receipt.
INTAKE_REJECTED_SHARE = 0.003
INTAKE_REJECTED_MIN = 2
REJECTION_BEFORE_RECEIPT_SHARE = 0.3
REJECTION_REASONS = (
    "Thành phần hồ sơ không đúng quy định",
    "Hồ sơ không thuộc thẩm quyền giải quyết của cơ quan",
    "Thông tin người nộp không khớp Cơ sở dữ liệu quốc gia về dân cư",
    "Trùng với hồ sơ đã nộp trước đó",
    "Tệp đính kèm không đọc được hoặc thiếu chữ ký số",
)
DUE_REASONS = ("supplement_requested", "extended", "suspended", "resumed")
_SUPPLEMENT, _EXTENDED, _SUSPENDED, _RESUMED = range(4)

# Lifecycle event kinds kept compactly until they are due to be emitted:
# ``(kind, dossier number, occurred_at, procedure_code, ordinal, *data)``.
(
    _RESOLVED,
    _RETURNED,
    _PAYMENT,
    _RATED,
    _WITHDRAWN,
    _DUE_CHANGED,
    _RECEIVED_AGAIN,
    _INTAKE_REJECTED,
) = range(8)


# ---------------------------------------------------------------------------------------
# Time helpers (integer epoch seconds; local day numbers count days since 1970-01-01 local)


def local_day(ts: int) -> int:
    return (ts + UTC_OFFSET_S) // DAY_S


def day_start(day: int) -> int:
    return day * DAY_S - UTC_OFFSET_S


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


_DAY_PREFIX: dict[int, str] = {}
# "HH:MM:SS+07:00" for every second of a day (built on first use, ~6 MB)
_TIME_SUFFIX: list[str] = []


def local_iso(ts: int) -> str:
    """RFC 3339 text of ``ts`` in Asia/Ho_Chi_Minh, e.g. ``2024-03-01T09:15:00+07:00``."""
    day, sec = divmod(ts + UTC_OFFSET_S, DAY_S)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat() + "T"
    if not _TIME_SUFFIX:
        _TIME_SUFFIX.extend(
            f"{h:02d}:{m:02d}:{s:02d}+07:00"
            for h in range(24)
            for m in range(60)
            for s in range(60)
        )
    return prefix + _TIME_SUFFIX[sec]


def _day_number(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def _is_working(d: date) -> bool:
    return d.weekday() < 5 and d not in HOLIDAYS


# Working days from Dec 2023 to the end of 2040: the year's due dates spill over into 2025,
# and the live generator (simulator.live) schedules today's dossiers on the same calendar
# (it ran out at the end of 2026 once: a due date past the table raised IndexError).
WORKING_DAYS: tuple[int, ...] = tuple(
    _day_number(d)
    for d in (
        date(2023, 12, 1) + timedelta(days=k)
        for k in range((date(2041, 1, 1) - date(2023, 12, 1)).days)
    )
    if _is_working(d)
)
_FIRST_2024 = bisect_left(WORKING_DAYS, local_day(YEAR_START_TS))
_END_2024 = bisect_left(WORKING_DAYS, local_day(YEAR_END_TS))
WORKING_DAYS_2024 = WORKING_DAYS[_FIRST_2024:_END_2024]
_DAY_CUM_WEIGHTS = list(
    accumulate(
        MONTH_FACTOR[date.fromordinal(_EPOCH_ORDINAL + d).month - 1]
        * (1.1 if date.fromordinal(_EPOCH_ORDINAL + d).weekday() == 0 else 1.0)
        for d in WORKING_DAYS_2024
    )
)
_DAY_WEIGHT_TOTAL = _DAY_CUM_WEIGHTS[-1]


def working_second(offset: int) -> int:
    """Second of the day for an offset into the counters' opening hours."""
    morning = MORNING[1] - MORNING[0]
    return MORNING[0] + offset if offset < morning else AFTERNOON[0] + offset - morning


def due_after(ts: int, working_days: int) -> int:
    """17:00 local of the n-th working day after the day of ``ts`` (always after ``ts``)."""
    pos = bisect_right(WORKING_DAYS, local_day(ts))
    return day_start(WORKING_DAYS[pos + working_days - 1]) + AFTERNOON[1]


def working_days_between(start: int, end: int) -> int:
    """Working days after the day of ``start`` up to and including the day of ``end``."""
    return bisect_right(WORKING_DAYS, local_day(end)) - bisect_right(WORKING_DAYS, local_day(start))


def at_counter(ts: int, offset: int) -> int:
    """``ts`` when the counters are open then; otherwise ``offset`` (seconds into the
    opening hours) on the next working day that is still to come."""
    day = local_day(ts)
    pos = bisect_left(WORKING_DAYS, day)
    if WORKING_DAYS[pos] == day:
        if _in_opening_hours(ts):
            return ts
        if (ts + UTC_OFFSET_S) % DAY_S >= MORNING[0]:
            pos += 1
    return day_start(WORKING_DAYS[pos]) + working_second(offset % WORKING_SECONDS)


def _in_opening_hours(ts: int) -> bool:
    second = (ts + UTC_OFFSET_S) % DAY_S
    return MORNING[0] <= second < MORNING[1] or AFTERNOON[0] <= second < AFTERNOON[1]


def _below(rng: random.Random, n: int) -> int:
    """An integer in [0, n) (faster than ``randrange``; plenty uniform for simulation)."""
    return int(rng.random() * n)


def _between(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high)."""
    return low + int(rng.random() * (high - low))


def _random_working_time(rng: random.Random) -> int:
    day = WORKING_DAYS_2024[bisect_right(_DAY_CUM_WEIGHTS, rng.random() * _DAY_WEIGHT_TOTAL)]
    offset = int(rng.random() * WORKING_SECONDS)
    morning = MORNING[1] - MORNING[0]
    second = MORNING[0] + offset if offset < morning else AFTERNOON[0] + offset - morning
    return day * DAY_S - UTC_OFFSET_S + second


# ---------------------------------------------------------------------------------------
# The appendix rows, the overlap arithmetic and the procedure catalog


def agency_rows() -> list[AppendixRow]:
    """The 30 agency rows of the appendix (without the TOTAL row), in its order."""
    return [r for r in load_appendix_2024() if r.agency_code != "province"]


def overlap_pairs(row: AppendixRow) -> list[tuple[Category, Category, int]]:
    """How the overlap (category sum − distinct total) is made: (first, second, dossiers).

    Preferably online then in person under the same service level, split between the
    levels that can take it; otherwise the two categories with the most dossiers left.
    """
    left = dict(row.category_counts)
    overlap = sum(left.values()) - row.hstn_total
    if overlap < 0:
        raise ValueError(f"{row.agency_code}: categories add up to less than the total")
    pairs: Counter[tuple[Category, Category]] = Counter()
    share = -(-overlap // len(PREFERRED_PAIRS))
    for _ in range(2):  # an even split first, then whatever capacity is left
        for first, second in PREFERRED_PAIRS:
            take = min(share, overlap, left[first], left[second])
            if take > 0:
                pairs[(first, second)] += take
                left[first] -= take
                left[second] -= take
                overlap -= take
        share = overlap
    while overlap > 0:
        first, second = sorted(left, key=lambda c: (-left[c], c))[:2]
        if left[second] <= 0:
            raise ValueError(f"{row.agency_code}: overlap larger than its categories allow")
        if first[1] != "online" and second[1] == "online":
            first, second = second, first
        take = min(overlap, left[second])
        pairs[(first, second)] += take
        left[first] -= take
        left[second] -= take
        overlap -= take
    return [(a, b, n) for (a, b), n in pairs.items()]


def dossier_categories(row: AppendixRow) -> list[tuple[Category, ...]]:
    """One entry per distinct dossier: the categories it is received under, in order."""
    left = dict(row.category_counts)
    out: list[tuple[Category, ...]] = []
    for first, second, n in overlap_pairs(row):
        out += [(first, second)] * n
        left[first] -= n
        left[second] -= n
    for cat, n in left.items():
        out += [(cat,)] * n
    return out


class SimProcedure(NamedTuple):
    """A catalog procedure plus what the simulation needs to know about it."""

    code: str
    agency_code: str
    level: str
    name: str
    eligible_full_online: bool
    fee_required: bool
    fee_vnd: int
    processing_days: int


def out_of_catalog_code(agency: str, level: str) -> str:
    """Procedure code of dossiers at a level the agency's catalog has no procedure for."""
    return f"{agency}-{level}-ngoai-danh-muc"


@lru_cache(maxsize=8)
def simulated_procedures(seed: int = DEFAULT_SEED) -> dict[str, tuple[SimProcedure, ...]]:
    """Per agency exactly the published TTHC counts by service level (deterministic)."""
    out: dict[str, tuple[SimProcedure, ...]] = {}
    for row in agency_rows():
        rng = random.Random(f"{seed}:{row.agency_code}:catalog")
        procs: list[SimProcedure] = []
        for level, n in (
            ("in_person_only", row.in_person_only_tthc),
            ("partial_online", row.partial_tthc),
            ("full_online", row.full_tthc),
        ):
            for i in range(1, n + 1):
                eligible = level == "full_online" or (
                    level == "partial_online" and rng.random() < ELIGIBLE_PARTIAL_SHARE
                )
                fee = rng.random() < FEE_SHARE
                topic = PROCEDURE_TOPICS[rng.randrange(len(PROCEDURE_TOPICS))]
                procs.append(
                    SimProcedure(
                        code=f"{row.agency_code}-{level}-{i:03d}",
                        agency_code=row.agency_code,
                        level=level,
                        name=(
                            f"Thủ tục {topic} số {i} ({LEVEL_LABELS[level]}) — {row.agency_name}"
                        ),
                        eligible_full_online=eligible,
                        fee_required=fee,
                        fee_vnd=rng.choice(FEES_VND) if fee else 0,
                        processing_days=rng.choices(PROCESSING_DAYS, PROCESSING_WEIGHTS)[0],
                    )
                )
        out[row.agency_code] = tuple(procs)
    return out


def procedure_catalog(seed: int = DEFAULT_SEED) -> ProcedureCatalog:
    """The procedure catalog (8,011 procedures) with the published counts per agency."""
    return ProcedureCatalog(
        Procedure(
            procedure_code=p.code,
            agency_code=p.agency_code,
            name=p.name,
            service_level=ServiceLevel(p.level),
            eligible_full_online=p.eligible_full_online,
            fee_required=p.fee_required,
        )
        for procs in simulated_procedures(seed).values()
        for p in procs
    )


@dataclass(frozen=True)
class AgencyProfile:
    """How well an agency does: the shares behind its lifecycle and document events."""

    on_time: float
    e_result: float
    digitized: float
    one_stop: float
    citizen: float
    pay_online_if_online: float
    pay_online_if_in_person: float
    rated: float
    satisfied: float
    withdrawn: float
    e_document: float
    work_file_online: float
    confidential: float

    @classmethod
    def of(cls, seed: int, agency: str) -> AgencyProfile:
        rng = random.Random(f"{seed}:{agency}:profile")
        return cls(
            on_time=rng.uniform(0.88, 0.995),
            e_result=rng.uniform(0.55, 0.97),
            digitized=rng.uniform(0.45, 0.95),
            one_stop=rng.uniform(0.93, 0.995),
            citizen=rng.uniform(0.70, 0.95),
            pay_online_if_online=rng.uniform(0.80, 0.97),
            pay_online_if_in_person=rng.uniform(0.10, 0.40),
            rated=rng.uniform(0.30, 0.70),
            satisfied=rng.uniform(0.85, 0.98),
            withdrawn=0.004,
            e_document=rng.uniform(0.88, 0.995),
            work_file_online=rng.uniform(0.70, 0.98),
            confidential=0.02,
        )


class _Picker:
    """Chooses an agency's procedure of one level; a few procedures get most dossiers."""

    def __init__(self, procs: list[SimProcedure], rng: random.Random) -> None:
        self.procs = procs[:]
        rng.shuffle(self.procs)
        self.cum = list(accumulate(1.0 / (rank + 1) ** 1.1 for rank in range(len(procs))))

    def pick(self, rng: random.Random) -> SimProcedure:
        return self.procs[bisect_left(self.cum, rng.random() * self.cum[-1])]


# ---------------------------------------------------------------------------------------
# The stream


@dataclass(frozen=True)
class WriteResult:
    events_path: Path
    procedures_path: Path
    events: int
    bytes: int
    seconds: float
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class YearStream:
    """The year 2024 as events.

    ``lifecycle_fraction``: share of dossiers that get lifecycle events (0 → received only).
    ``documents_per_agency``: document events per agency; ``None`` → 1,200 for a
    department, 3,000 for a district. ``agencies``: a subset of agency codes (the
    others are left out; each agency's events are the same as in the full stream).
    """

    seed: int = DEFAULT_SEED
    lifecycle_fraction: float = 1.0
    documents_per_agency: int | None = None
    agencies: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.lifecycle_fraction <= 1.0:
            raise ValueError("lifecycle_fraction must be between 0 and 1")
        if self.agencies is not None:
            unknown = set(self.agencies) - {r.agency_code for r in agency_rows()}
            if unknown:
                raise ValueError(f"not appendix agencies: {sorted(unknown)}")

    def rows(self) -> list[AppendixRow]:
        rows = agency_rows()
        if self.agencies is None:
            return rows
        return [r for r in rows if r.agency_code in self.agencies]

    def catalog(self) -> ProcedureCatalog:
        return procedure_catalog(self.seed)

    def documents_of(self, row: AppendixRow) -> int:
        if self.documents_per_agency is not None:
            return self.documents_per_agency
        agency = load_agencies().get(row.agency_code)
        level = agency.level.value if agency is not None else "tinh"
        return DOCUMENTS_BY_LEVEL.get(level, 1_200)

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event, in arrival order across agencies."""
        index = {r.agency_code: i for i, r in enumerate(agency_rows())}
        streams = [self._agency_stream(index[row.agency_code], row) for row in self.rows()]
        for *_, event in heapq.merge(*streams):
            yield event

    def agency_events(self, agency: str) -> Iterator[dict[str, Any]]:
        """One agency's events in arrival order (identical to its part of ``events()``)."""
        for i, row in enumerate(agency_rows()):
            if row.agency_code == agency:
                for *_, event in self._agency_stream(i, row):
                    yield event
                return
        raise ValueError(f"not an appendix agency: {agency}")

    def write(self, out_dir: Path, *, progress: Callable[[int], None] | None = None) -> WriteResult:
        """Write ``events.ndjson`` (streamed) and ``procedures.csv`` into ``out_dir``."""
        out_dir.mkdir(parents=True, exist_ok=True)
        procedures_path = out_dir / "procedures.csv"
        procedures_path.write_text(self.catalog().to_csv_text(), encoding="utf-8")
        events_path = out_dir / "events.ndjson"
        started = time.perf_counter()
        by_type: Counter[str] = Counter()
        n = 0
        dumps = orjson.dumps
        with events_path.open("wb") as fh:
            chunk: list[bytes] = []
            for event in self.events():
                chunk.append(dumps(event))
                by_type[event["event_type"]] += 1
                if len(chunk) == 20_000:
                    fh.write(b"\n".join(chunk) + b"\n")
                    n += len(chunk)
                    chunk = []
                    if progress is not None:
                        progress(n)
            if chunk:
                fh.write(b"\n".join(chunk) + b"\n")
                n += len(chunk)
                if progress is not None:
                    progress(n)
        return WriteResult(
            events_path=events_path,
            procedures_path=procedures_path,
            events=n,
            bytes=events_path.stat().st_size,
            seconds=time.perf_counter() - started,
            by_type=dict(by_type),
        )

    # -- one agency -----------------------------------------------------------------

    def _plan(self, row: AppendixRow, rng: random.Random) -> tuple[array[int], list[Category]]:
        """Receipt plan: sorted ``time * 16 + code``; codes < 5 are single categories,
        code 5 + k the k-th overlap pair (returned as the second list, flattened)."""
        codes = bytearray()
        pair_cats: list[Category] = []
        left = dict(row.category_counts)
        for k, (first, second, n) in enumerate(overlap_pairs(row)):
            codes += bytes([len(CATEGORIES) + k]) * n
            pair_cats += [first, second]
            left[first] -= n
            left[second] -= n
        if len(CATEGORIES) + len(pair_cats) // 2 > 1 << 4:
            raise ValueError(f"{row.agency_code}: too many overlap pairs")
        for cat, n in left.items():
            codes += bytes([_CAT_INDEX[cat]]) * n
        rng.shuffle(codes)
        pairs_from = len(CATEGORIES)
        # Overlap dossiers are received again a few days later, still within 2024.
        latest_first = YEAR_END_TS - 12 * DAY_S
        times: list[int] = []
        for code in codes:
            cat = CATEGORIES[code] if code < pairs_from else pair_cats[2 * (code - pairs_from)]
            if cat[1] == "online" and rng.random() < ONLINE_OFF_HOURS_SHARE:
                t = _between(rng, YEAR_START_TS, YEAR_END_TS)
            else:
                t = _random_working_time(rng)
            if code >= pairs_from and t > latest_first:
                t -= 21 * DAY_S
            times.append(t)
        if row.agency_code in BOUNDARY_AGENCIES:
            edges = [YEAR_START_TS, YEAR_END_TS - 1]
            for i, code in enumerate(codes):
                if not edges:
                    break
                if code < pairs_from and CATEGORIES[code][1] == "online":
                    times[i] = edges.pop()
        keys = array("q", sorted(t * _CODE_BITS + c for t, c in zip(times, codes, strict=True)))
        return keys, pair_cats

    def _outages(self, rng: random.Random) -> list[tuple[int, int]]:
        """Windows in which the agency's connector was down (its events arrive afterwards)."""
        out = []
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            start = rng.randrange(YEAR_START_TS, YEAR_END_TS - 4 * DAY_S)
            out.append((start, start + rng.randrange(4 * 3600, 3 * DAY_S)))
        return sorted(out)

    def _rejections(self, row: AppendixRow, rng: random.Random) -> list[tuple[int, int]]:
        """Receipts of the agency's intake-rejected dossiers: sorted ``(time, category)``."""
        cats = [c for c in CATEGORIES if row.category_counts[c] > 0]
        if self.lifecycle_fraction <= 0.0 or not cats:
            return []
        n = max(
            INTAKE_REJECTED_MIN,
            round(row.hstn_total * INTAKE_REJECTED_SHARE * self.lifecycle_fraction),
        )
        weights = [row.category_counts[c] for c in cats]
        out = []
        for _ in range(n):
            cat = rng.choices(cats, weights)[0]
            if cat[1] == "online" and rng.random() < ONLINE_OFF_HOURS_SHARE:
                t = _between(rng, YEAR_START_TS, YEAR_END_TS)
            else:
                t = _random_working_time(rng)
            out.append((t, _CAT_INDEX[cat]))
        return sorted(out)

    def _agency_stream(
        self, agency_index: int, row: AppendixRow
    ) -> Iterator[tuple[int, int, int, dict[str, Any]]]:
        seed = self.seed
        agency = row.agency_code
        prof = AgencyProfile.of(seed, agency)
        rng_plan = random.Random(f"{seed}:{agency}:plan")
        rng_recv = random.Random(f"{seed}:{agency}:received")
        rng_life = random.Random(f"{seed}:{agency}:lifecycle")
        rng_net = random.Random(f"{seed}:{agency}:arrival")
        rng_doc = random.Random(f"{seed}:{agency}:documents")
        rng_rej = random.Random(f"{seed}:{agency}:intake-rejected")
        keys, pair_cats = self._plan(row, rng_plan)
        outages = self._outages(rng_net)
        rejections = self._rejections(row, rng_rej)

        by_level: dict[str, list[SimProcedure]] = {}
        for proc in simulated_procedures(seed)[agency]:
            by_level.setdefault(proc.level, []).append(proc)
        pickers = {lvl: _Picker(ps, rng_plan) for lvl, ps in by_level.items()}
        fallback = {
            lvl: SimProcedure(out_of_catalog_code(agency, lvl), agency, lvl, "", False, False, 0, 5)
            for lvl in LEVEL_LABELS
        }

        def procedure(level: str, rng: random.Random) -> SimProcedure:
            picker = pickers.get(level)
            return picker.pick(rng) if picker is not None else fallback[level]

        def arrival(t: int) -> int:
            for start, end in outages:
                if start <= t < end:
                    return end + _below(rng_net, 1800)
            return t if rng_net.random() < 0.6 else t + _between(rng_net, 1, 300)

        prefix = f"{agency}-2024-"
        fraction = self.lifecycle_fraction
        heap: list[tuple[int, int, dict[str, Any] | tuple[Any, ...]]] = []
        push = heapq.heappush
        pop = heapq.heappop
        seq = 0

        def received(
            i: int,
            t: int,
            cat: Category,
            proc: SimProcedure,
            due: int,
            n: int,
            rng: random.Random,
        ) -> dict[str, Any]:
            dossier_id = f"{prefix}{i:06d}"
            event: dict[str, Any] = {
                "event_id": f"sim24-{dossier_id}-r{n}",
                "event_type": "received",
                "occurred_at": local_iso(t),
                "agency_code": agency,
                "dossier_id": dossier_id,
                "procedure_code": proc.code,
                "service_level": cat[0],
                "channel": cat[1],
                "due_at": local_iso(due),
                "via_one_stop": rng.random() < prof.one_stop,
                "digitized": rng.random() < prof.digitized,
            }
            if cat[1] == "online":
                event["submitted_by"] = "citizen" if rng.random() < prof.citizen else "assisted"
            return event

        def lifecycle(
            i: int,
            t: int,
            proc: SimProcedure,
            due: int,
            online: bool,
            last_cat: Category,
            last_proc: SimProcedure,
            receipts: int,
        ) -> None:
            """Schedule dossier ``i``'s life after its (last) receipt at ``t``."""
            nonlocal seq
            r = rng_life
            code = proc.code
            days = proc.processing_days
            items: list[tuple[Any, ...]] = []
            clock, cur = t, due  # the latest step so far; the due time in force
            changes = 0

            def change(at: int, reason: int, new_due: int) -> None:
                nonlocal changes
                changes += 1
                items.append((_DUE_CHANGED, i, at, code, changes, reason, new_due))

            def again(at: int, new_due: int) -> None:
                nonlocal receipts
                receipts += 1
                items.append(
                    (
                        _RECEIVED_AGAIN,
                        i,
                        at,
                        last_proc.code,
                        receipts,
                        _CAT_INDEX[last_cat],
                        new_due,
                        r.random() < prof.one_stop,
                        r.random() < prof.digitized,
                        r.random() < prof.citizen,
                    )
                )

            def receipt_time(at: int) -> int:
                if last_cat[1] == "online":
                    return at
                return at_counter(at, _below(r, WORKING_SECONDS))

            def satisfaction() -> int:
                if r.random() < prof.satisfied:
                    return 0 if r.random() < 0.6 else 1
                return 2

            if r.random() < RESENT_RECEIPT_SHARE:  # registered again: same category and due
                at = receipt_time(clock + _between(r, 600, DAY_S))
                if at < cur - 60:
                    again(at, cur)
                    clock = at
            withdrawn = r.random() < prof.withdrawn
            if r.random() < SUPPLEMENT_SHARE:
                if r.random() < SUPPLEMENT_AFTER_DUE_SHARE:
                    at = cur + _between(r, 1800, 3 * DAY_S)  # already overdue by then
                else:
                    at = max(clock + 60, clock + int((cur - clock) * r.uniform(0.1, 0.9)))
                cur = due_after(at, days + 1 + _below(r, 5))
                change(at, _SUPPLEMENT, cur)
                clock = at
                u = r.random()
                if u < RESUBMIT_AFTER_SUPPLEMENT:  # supplied with a new submission
                    at = receipt_time(clock + _between(r, 2 * 3600, 5 * DAY_S))
                    cur = max(cur, due_after(at, days))
                    again(at, cur)
                    clock = at
                elif u < RESUBMIT_AFTER_SUPPLEMENT + WITHDRAW_AFTER_SUPPLEMENT:
                    withdrawn = True
            if withdrawn:
                items.append((_WITHDRAWN, i, clock + _between(r, 3600, 3 * DAY_S), code, 1))
            else:
                if r.random() < SUSPENSION_SHARE:
                    at = max(clock + 60, clock + int((cur - clock) * r.uniform(0.2, 0.8)))
                    remaining = max(1, working_days_between(at, cur))
                    change(at, _SUSPENDED, -1)
                    at += _between(r, 2 * DAY_S, 15 * DAY_S)
                    cur = due_after(at, remaining)
                    change(at, _RESUMED, cur)
                    clock = at
                if r.random() < EXTENSION_SHARE:
                    if r.random() < EXTENSION_AFTER_DUE_SHARE:
                        at = cur + _between(r, 600, 2 * DAY_S)  # overdue: a new appointment
                    else:
                        at = max(clock + 60, cur - _between(r, 3600, 2 * DAY_S))
                    cur = due_after(max(at, cur), 2 + _below(r, 9))
                    change(at, _EXTENDED, cur)
                    clock = at
                pick = r.random()
                if pick < 0.005:
                    resolved = cur  # exactly at the deadline: still on time
                elif pick < prof.on_time:
                    resolved = clock + int((cur - clock) * r.uniform(0.1, 0.98))
                else:
                    resolved = cur + _between(r, 3600, 5 * DAY_S)
                approved = r.random() < 0.965
                items.append((_RESOLVED, i, resolved, code, 1, cur, approved))
                returned = resolved + _between(r, 600, 2 * DAY_S)
                e_share = min(1.0, prof.e_result + (0.05 if online else -0.05))
                items.append((_RETURNED, i, returned, code, 1, r.random() < e_share))
                if r.random() < RETURNED_AGAIN_SHARE:
                    again_at = returned + _between(r, DAY_S, 10 * DAY_S)
                    items.append((_RETURNED, i, again_at, code, 2, True))
                if r.random() < CORRECTION_SHARE:
                    at = resolved + _between(r, DAY_S, 20 * DAY_S)
                    u = r.random()
                    if u < 0.4:  # the decision reversed
                        items.append((_RESOLVED, i, at, code, 2, cur, not approved))
                    elif u < 0.8:  # re-issued under a new deadline: on time by itself
                        new_due = due_after(at, 1 + _below(r, 5))
                        items.append((_RESOLVED, i, at, code, 2, new_due, approved))
                    else:  # the same decision sent again
                        items.append((_RESOLVED, i, at, code, 2, cur, approved))
                if proc.fee_required:
                    share = prof.pay_online_if_online if online else prof.pay_online_if_in_person
                    paid = t + _between(r, 60, 1800) if online else returned - _between(r, 60, 600)
                    paid = max(paid, t + 60)
                    items.append((_PAYMENT, i, paid, code, 1, r.random() < share, proc.fee_vnd))
                    u = r.random()
                    transactions = next((n for n, p in PAYMENT_TRANSACTIONS if u < p), 1)
                    for n in range(2, transactions + 1):  # surcharges, fees of a second step
                        at = paid + _between(r, 60, max(120, returned - paid))
                        amount = r.choice(SURCHARGES_VND)
                        items.append((_PAYMENT, i, at, code, n, r.random() < share, amount))
                if r.random() < prof.rated:
                    rated = returned + _between(r, 600, 7 * DAY_S)
                    items.append((_RATED, i, rated, code, 1, satisfaction()))
                    if r.random() < RATED_AGAIN_SHARE:
                        again_at = rated + _between(r, 3600, 10 * DAY_S)
                        items.append((_RATED, i, again_at, code, 2, satisfaction()))
            for item in items:
                seq += 1
                push(heap, (arrival(item[2]), seq, item))

        n_counted = len(keys)

        def reject(j: int) -> None:
            """The j-th intake-rejected dossier: received, then rejected (beyond the counted
            dossiers; sometimes the rejection is delivered before the receipt)."""
            nonlocal seq
            t, c = rejections[j]
            cat = CATEGORIES[c]
            proc = procedure(cat[0], rng_rej)
            k = n_counted + j
            event = received(k, t, cat, proc, due_after(t, proc.processing_days), 1, rng_rej)
            at = t + _between(rng_rej, 300, DAY_S)
            rejected_arrival = arrival(at)
            if rng_rej.random() < REJECTION_BEFORE_RECEIPT_SHARE:
                receipt_arrival = rejected_arrival + _between(rng_rej, 60, 4 * 3600)
            else:
                receipt_arrival = arrival(t)
            reason = _below(rng_rej, len(REJECTION_REASONS))
            seq += 1
            push(heap, (receipt_arrival, seq, event))
            seq += 1
            push(heap, (rejected_arrival, seq, (_INTAKE_REJECTED, k, at, proc.code, 1, reason)))

        # documents, in time order, pushed as the receipts' clock passes them
        docs: list[tuple[int, bool]] = sorted(
            (_random_working_time(rng_doc), rng_doc.random() < 1 / 3)
            for _ in range(self.documents_of(row))
        )
        doc_j = 0
        n_docs = len(docs)
        doc_seq = {True: 0, False: 0}
        rej_j = 0
        n_rej = len(rejections)

        def document(t: int, work_file: bool) -> dict[str, Any]:
            doc_seq[work_file] += 1
            n = doc_seq[work_file]
            confidential = rng_doc.random() < prof.confidential
            if work_file:
                return {
                    "event_id": f"sim24-{agency}-hscv{n:05d}",
                    "event_type": "work_file_completed",
                    "occurred_at": local_iso(t),
                    "agency_code": agency,
                    "work_file_id": f"{agency}-hscv-2024-{n:05d}",
                    "processed_online": rng_doc.random() < prof.work_file_online,
                    "confidential": confidential,
                }
            return {
                "event_id": f"sim24-{agency}-vb{n:05d}",
                "event_type": "document_issued",
                "occurred_at": local_iso(t),
                "agency_code": agency,
                "document_id": f"{agency}-vb-2024-{n:05d}",
                "electronic": rng_doc.random() < prof.e_document,
                "confidential": confidential,
            }

        Pending = tuple[int, int, dict[str, Any] | tuple[Any, ...]]

        def emit(item: Pending) -> tuple[int, int, int, dict[str, Any]]:
            at, s, body = item
            if isinstance(body, dict):
                return at, agency_index, s, body
            return at, agency_index, s, self._lifecycle_event(agency, prefix, body)

        pairs_from = len(CATEGORIES)
        for i, key in enumerate(keys):
            t, code = divmod(key, _CODE_BITS)
            while doc_j < n_docs and docs[doc_j][0] <= t:
                seq += 1
                push(heap, (arrival(docs[doc_j][0]), seq, document(*docs[doc_j])))
                doc_j += 1
            while rej_j < n_rej and rejections[rej_j][0] <= t:
                reject(rej_j)
                rej_j += 1
            if code < pairs_from:
                cat = CATEGORIES[code]
                proc = procedure(cat[0], rng_recv)
                due = due_after(t, proc.processing_days)
                seq += 1
                push(heap, (arrival(t), seq, received(i, t, cat, proc, due, 1, rng_recv)))
                last, last_cat, last_proc, receipts = t, cat, proc, 1
            else:
                first = pair_cats[2 * (code - pairs_from)]
                second = pair_cats[2 * (code - pairs_from) + 1]
                proc = procedure(first[0], rng_recv)
                # back at the counter one to three working days later, 07:00–17:00
                pos = bisect_right(WORKING_DAYS, local_day(t)) + _below(rng_recv, 3)
                last = day_start(WORKING_DAYS[pos]) + working_second(
                    _below(rng_recv, WORKING_SECONDS)
                )
                second_proc = proc if second[0] == first[0] else procedure(second[0], rng_recv)
                due = due_after(last, proc.processing_days)
                seq += 1
                push(heap, (arrival(t), seq, received(i, t, first, proc, due, 1, rng_recv)))
                seq += 1
                push(
                    heap,
                    (arrival(last), seq, received(i, last, second, second_proc, due, 2, rng_recv)),
                )
                cat, last_cat, last_proc, receipts = first, second, second_proc, 2
            while heap and heap[0][0] <= t:
                yield emit(pop(heap))
            if fraction > 0.0 and rng_life.random() < fraction:
                lifecycle(i, last, proc, due, cat[1] == "online", last_cat, last_proc, receipts)
        while doc_j < n_docs:
            seq += 1
            push(heap, (arrival(docs[doc_j][0]), seq, document(*docs[doc_j])))
            doc_j += 1
        while rej_j < n_rej:
            reject(rej_j)
            rej_j += 1
        while heap:
            yield emit(pop(heap))

    @staticmethod
    def _lifecycle_event(agency: str, prefix: str, item: tuple[Any, ...]) -> dict[str, Any]:
        kind, i, t, code, n = item[:5]
        dossier_id = f"{prefix}{i:06d}"

        def head(event_type: str, suffix: str) -> dict[str, Any]:
            return {
                "event_id": f"sim24-{dossier_id}-{suffix}",
                "event_type": event_type,
                "occurred_at": local_iso(t),
                "agency_code": agency,
                "dossier_id": dossier_id,
                "procedure_code": code,
            }

        def numbered(name: str) -> str:
            return name if n == 1 else f"{name}{n}"

        if kind == _RESOLVED:
            return {
                **head("resolved", numbered("resolved")),
                "due_at": local_iso(item[5]),
                "outcome": "approved" if item[6] else "rejected",
            }
        if kind == _RETURNED:
            return {**head("returned", numbered("returned")), "result_electronic": item[5]}
        if kind == _PAYMENT:
            return {
                **head("payment", numbered("payment")),
                "method": "online" if item[5] else "offline",
                "amount_vnd": item[6],
            }
        if kind == _RATED:
            return {**head("rated", numbered("rated")), "satisfaction": SATISFACTION[item[5]]}
        if kind == _DUE_CHANGED:
            event = {**head("due_changed", f"due{n}"), "reason": DUE_REASONS[item[5]]}
            if item[6] >= 0:
                event["due_at"] = local_iso(item[6])
            return event
        if kind == _RECEIVED_AGAIN:
            level, channel = CATEGORIES[item[5]]
            event = {
                **head("received", f"r{n}"),
                "service_level": level,
                "channel": channel,
                "due_at": local_iso(item[6]),
                "via_one_stop": item[7],
                "digitized": item[8],
            }
            if channel == "online":
                event["submitted_by"] = "citizen" if item[9] else "assisted"
            return event
        if kind == _INTAKE_REJECTED:
            return {
                **head("intake_rejected", "intake-rejected"),
                "reason": REJECTION_REASONS[item[5]],
            }
        return head("withdrawn", "withdrawn")


def write_year(
    out_dir: Path,
    *,
    seed: int = DEFAULT_SEED,
    lifecycle_fraction: float = 1.0,
    documents_per_agency: int | None = None,
    agencies: Iterable[str] | None = None,
) -> WriteResult:
    """Generate the year into ``out_dir`` (``events.ndjson``, ``procedures.csv``)."""
    return YearStream(
        seed=seed,
        lifecycle_fraction=lifecycle_fraction,
        documents_per_agency=documents_per_agency,
        agencies=tuple(agencies) if agencies is not None else None,
    ).write(out_dir)
