"""The timers' rules: open dossiers overdue or due soon, the pipeline keeping up, sources
and agencies fallen silent, threshold alerts of units that ended. Each returns its findings;
the engine applies them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from services.alerts.evaluate import judged_now, scope_group
from services.alerts.metrics import PIPELINE_BEHIND, PIPELINE_LAG, PIPELINE_STALLED
from services.alerts.model import Alert
from services.alerts.pipeline import Measure, PipelineHealth, track_progress
from services.alerts.rules import (
    Observation,
    Rule,
    Severity,
    evaluate_count,
    evaluate_pipeline,
)
from services.alerts.state import AlertStore, Finding, Subject
from services.alerts.working_hours import WorkingHours
from shared.domain.alerts import INDEX766_RULES
from shared.domain.calendar import LOCAL_TZ, local_date
from shared.domain.catalog import AgencyCatalog
from shared.domain.exceptions import ScopeError
from shared.domain.indicators import load_indicators
from shared.domain.scopes import Scope, parse_scope
from shared.platform.config import AlertsSettings
from shared.platform.logs import get_logger
from shared.readmodel.open_holders import held_open, overdue_ids
from shared.store.catalogs import Catalogs
from shared.store.client import RedisClient
from shared.store.indicator_store import IndicatorStore
from shared.store.last_seen import LAST_SEEN_AGENCIES, LAST_SEEN_SOURCES

log = get_logger("alerts.checks")

NORMALLY_EMITS = timedelta(days=7)
PIPELINE_SCOPE = "pipeline"
PIPELINE_NAME = "Hệ thống xử lý sự kiện egov-monitor"


async def overdue(figures: IndicatorStore, catalogs: Catalogs, now: datetime) -> list[Finding]:
    """Open dossiers past due_at (critical) and due within 24 hours (warning), per unit as
    the open-dossier views read them (domain README §4b, ``shared/readmodel/open_holders``):
    a unit counts the still-open dossiers of its ended predecessors ("chuyển từ …"); an
    ended unit whose dossiers moved counts none (its alerts resolve, naming the successor);
    an ended unit nobody continues keeps its orphaned ones, marked so."""
    held = await held_open(figures, catalogs.agencies, now)
    out: list[Finding] = []
    for code, h in held.items():
        agency = h.agency
        group = agency.group.value
        total = h.total
        late, soon = total.overdue, total.due_soon
        ids = await overdue_ids(figures, h, now, 50) if late else []
        where: dict[str, object] = {}
        if h.moved_to is not None:
            where["moved_to"] = h.moved_to.agency_code
            where["moved_to_name"] = h.moved_to.name
        if h.orphaned and h.own.open:
            where["orphaned"] = True
        moved_in: dict[str, object] = {}
        if moved := [m for m in h.moved_in if m.counts.overdue]:
            moved_in["moved_in"] = {m.source.agency_code: m.counts.overdue for m in moved}
            moved_in["moved_in_names"] = [m.source.name for m in moved]
        out.append(
            Finding(
                Subject(Rule.overdue, code, agency.name, "open", group=group),
                evaluate_count(late, Severity.critical),
                {"count": late, "dossier_ids": ids, **where, **moved_in},
            )
        )
        out.append(
            Finding(
                Subject(Rule.due_soon, code, agency.name, "open", group=group),
                evaluate_count(soon, Severity.warning),
                {"count": soon, **where},
            )
        )
    return out


async def pipeline(
    measure: Measure, redis: RedisClient, store: AlertStore, settings: AlertsSettings, now: datetime
) -> tuple[PipelineHealth, Finding | None]:
    """Is the calculator keeping up? Measured here (consumer lag of its group, and how long
    its offsets have not moved while events wait): the one ``pipeline_behind`` finding. Not
    measurable (Kafka unreachable): no finding, state unchanged."""
    try:
        reading = await measure()
    except Exception as exc:
        PIPELINE_LAG.set(-1)
        log.warning("pipeline_unmeasured", error=type(exc).__name__)
        return PipelineHealth(measured=False), None
    stalled_s = await track_progress(redis, reading, now)
    subject = Subject(Rule.pipeline_behind, PIPELINE_SCOPE, PIPELINE_NAME, "live")
    prev = (await store.read([subject.key]))[subject.key]
    s = settings
    obs = evaluate_pipeline(
        reading.lag,
        stalled_s,
        max_lag=s.alerts_pipeline_max_lag,
        max_stall_s=s.alerts_pipeline_max_stall_s,
        was_firing=prev.firing,
    )
    PIPELINE_LAG.set(reading.lag)
    PIPELINE_STALLED.set(stalled_s)
    PIPELINE_BEHIND.set(1 if obs.firing else 0)
    finding = Finding(subject, obs, {"lag": reading.lag, "stalled_s": round(stalled_s, 1)})
    return PipelineHealth(True, obs.firing, reading.lag, stalled_s), finding


async def silence(
    redis: RedisClient,
    store: AlertStore,
    catalogs: Catalogs,
    hours: WorkingHours,
    span: float,
    now: datetime,
) -> list[Finding]:
    """Kết nối gián đoạn: sources and agencies that normally emit but fell silent, judged
    against the events' own time (their newest ``occurred_at``, recorded by the calculator).
    The caller judges only while the pipeline keeps up."""
    valid_now = {a.agency_code for a in catalogs.agencies.valid_on(local_date(now))}
    seen: list[tuple[Rule, str, datetime]] = []
    for hash_key, rule in (
        (LAST_SEEN_SOURCES, Rule.silent_source),
        (LAST_SEEN_AGENCIES, Rule.silent_agency),
    ):
        for raw_name, raw_ts in (await redis.hgetall(hash_key)).items():
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            seen.append((rule, name, datetime.fromtimestamp(float(raw_ts), tz=LOCAL_TZ)))
    subjects = []
    for rule, name, _ in seen:
        agency = catalogs.agencies.get(name) if rule is Rule.silent_agency else None
        group = agency.group.value if agency else None
        subjects.append(Subject(rule, name, agency.name if agency else name, "live", group=group))
    stored = await store.read([s.key for s in subjects])
    out: list[Finding] = []
    for (rule, name, last), subject in zip(seen, subjects, strict=True):
        known = stored[subject.key].raw is not None
        if now - last > NORMALLY_EMITS and not known:
            continue  # not a source that normally emits
        worked = hours.hours_between(last, now)
        silent = worked >= span
        if rule is Rule.silent_agency and name not in valid_now:
            if not known:
                continue  # an agency not valid now (abolished, merged) is not silent
            silent = False  # … and what fired while it was valid resolves
        obs = Observation(silent, Severity.critical if silent else None, round(worked, 2))
        out.append(Finding(subject, obs, {"hours": worked, "last_seen": last.isoformat()}))
    return out


THRESHOLD_RULES = (Rule.breach, Rule.projection, *sorted(INDEX766_RULES))


def _ended_scope(alert: Alert, agencies: AgencyCatalog, today: date) -> Scope | None:
    """The scope of a threshold alert when there is no longer anything to judge: an agency
    not valid today, an aggregate none of whose members of the alert's year is valid today
    (§4a.6, §9; :func:`judged_now`); None while it is judged as usual (or its scope or
    period is not understood)."""
    try:
        year = int(alert.period.split(":", 1)[0])
        scope = parse_scope(alert.scope, agencies, date(year, 1, 1), date(year, 12, 31))
    except (ValueError, ScopeError):
        return None
    return None if judged_now(scope, today) else scope


async def ended(store: AlertStore, catalogs: Catalogs, now: datetime) -> list[Finding]:
    """Breach, projection and Decision 766 alerts still firing for a unit that ended
    (merged, abolished: its ``valid_to`` has passed) or for an aggregate left without
    members (``level:huyen`` after 2025-06-30) resolve: updates no longer judge them, so
    nothing else would."""
    today = local_date(now)
    indicators = load_indicators()
    out: list[Finding] = []
    for alert in await store.firing():
        if alert.rule not in THRESHOLD_RULES:
            continue
        scope = _ended_scope(alert, catalogs.agencies, today)
        if scope is None:
            continue
        metric = (
            (alert.indicator, alert.indicator_name or alert.indicator)
            if alert.rule in INDEX766_RULES and alert.indicator
            else None
        )
        subject = Subject(
            alert.rule,
            alert.scope,
            alert.scope_name,
            alert.period,
            indicator=None if metric else indicators.get(alert.indicator or ""),
            target_set=alert.target_set,
            target_source=alert.target_source,
            group=scope_group(scope),
            metric=metric,
        )
        if subject.key != alert.key:  # an indicator no longer defined: leave it
            continue
        agency = scope.agency
        details: dict[str, object] = (
            {"valid_to": agency.valid_to.isoformat()}
            if agency is not None and agency.valid_to is not None
            else {"members_valid_now": 0}
        )
        obs = Observation(False, None, alert.value, alert.target, alert.projected)
        out.append(Finding(subject, obs, details))
    return out
