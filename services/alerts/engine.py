"""The alert engine: evaluates rules, moves alerts between firing and resolved, queues the
notifications each change causes, and delivers the outbox with retries and backoff.

A notification's id is derived from the alert key and the transition (its state and the
time of the change), never from the send time: a resend after a crash carries the same email
Message-ID and webhook Idempotency-Key, so receivers can recognise it."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge

from services.alerts import messages
from services.alerts.exceptions import DeliveryError
from services.alerts.model import Alert, AlertState, Channel, Notification, alert_key
from services.alerts.pipeline import (
    KafkaPipelineProbe,
    Measure,
    PipelineHealth,
    track_progress,
)
from services.alerts.rules import (
    Observation,
    Rule,
    Severity,
    evaluate_breach,
    evaluate_count,
    evaluate_pipeline,
    evaluate_projection,
    project_year_end,
)
from services.alerts.senders import Senders
from services.alerts.store import AlertStore, Outbox, queue_notification
from services.alerts.working_hours import WorkingHours
from shared.domain.calendar import LOCAL_TZ, now_utc
from shared.domain.catalog import AgencyCatalog
from shared.domain.indicators import Indicator, load_indicators
from shared.domain.periods import Period, PeriodKind
from shared.domain.scopes import Scope, agency_scope, parse_scope
from shared.domain.targets import TargetBook, load_targets
from shared.platform.config import AlertsSettings
from shared.platform.logs import get_logger
from shared.readmodel.figures import Reading, read, read_scopes, scope_figures
from shared.store.catalogs import CatalogCache
from shared.store.client import AtomicBlock, RedisClient
from shared.store.indicator_store import IndicatorStore
from shared.store.last_seen import LAST_SEEN_AGENCIES, LAST_SEEN_SOURCES

log = get_logger("alerts.engine")

FIRING = Gauge("egov_alerts_firing", "Alerts firing", ["rule", "severity"])
TRANSITIONS = Counter("egov_alerts_transitions_total", "Alert state changes", ["rule", "state"])
NOTIFICATIONS = Counter(
    "egov_alerts_notifications_total", "Notification deliveries", ["channel", "outcome"]
)
OUTBOX_DEPTH = Gauge("egov_alerts_outbox_depth", "Notifications waiting in the outbox")
UPDATES = Counter("egov_alerts_updates_consumed_total", "Indicator updates evaluated")
PIPELINE_LAG = Gauge(
    "egov_alerts_pipeline_lag_events",
    "Events waiting for the calculator, measured by the alerts service (-1: not measurable)",
)
PIPELINE_STALLED = Gauge(
    "egov_alerts_pipeline_stalled_seconds",
    "Seconds the calculator's committed offsets have not moved while events wait",
)
PIPELINE_BEHIND = Gauge(
    "egov_alerts_pipeline_behind", "1 while the pipeline is behind (silence not judged)"
)
for _rule in Rule:
    for _sev in Severity:
        FIRING.labels(_rule.value, _sev.value)
for _channel in Channel:
    for _outcome in ("sent", "retried", "failed"):
        NOTIFICATIONS.labels(_channel.value, _outcome)

NORMALLY_EMITS = timedelta(days=7)
RECENT_DAYS = 30
PIPELINE_SCOPE = "pipeline"
PIPELINE_NAME = "Hệ thống xử lý sự kiện egov-monitor"

Publish = Callable[[Alert], Awaitable[None]]


def _note_id(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:24]


class AlertEngine:
    def __init__(
        self,
        settings: AlertsSettings,
        redis: RedisClient,
        *,
        clock: Callable[[], datetime] = now_utc,
        publish: Publish | None = None,
        senders: Senders | None = None,
        pipeline: Measure | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock
        self.publish = publish
        self.store = AlertStore(redis)
        self.outbox = Outbox(redis)
        self.figures = IndicatorStore(redis)
        self.catalogs = CatalogCache(redis)
        self.targets: TargetBook = load_targets()
        self.indicators: list[Indicator] = [
            i for i in load_indicators().values() if i.source in ("dossier", "document")
        ]
        self.senders = senders or Senders(settings)
        self.pipeline: Measure = pipeline or KafkaPipelineProbe(
            settings.kafka_bootstrap,
            settings.calculator_group,
            [settings.topics.dossier, settings.topics.document],
        )
        self.hours = WorkingHours(
            frozenset(settings.alerts_working_days),
            settings.alerts_working_start_hour,
            settings.alerts_working_end_hour,
        )

    # -- state changes -----------------------------------------------------------------

    async def observe(
        self,
        rule: Rule,
        scope_id: str,
        scope_name: str,
        period: str,
        obs: Observation | None,
        *,
        indicator: Indicator | None = None,
        target_set: str | None = None,
        target_source: str | None = None,
        details: dict[str, object] | None = None,
        group: str | None = None,
        previous: Alert | None = None,
    ) -> Alert | None:
        """Apply one rule's observation; queue notifications when the state changes."""
        if obs is None:
            return None
        key = alert_key(rule, scope_id, indicator.indicator if indicator else None, period)
        prev = previous if previous is not None else await self.store.get(key)
        if prev is None and not obs.firing:
            return None
        now = self.clock()
        was_firing = prev is not None and prev.state is AlertState.firing
        state = AlertState.firing if obs.firing else AlertState.resolved
        changed = was_firing != obs.firing
        alert = Alert(
            key=key,
            rule=rule,
            scope=scope_id,
            scope_name=scope_name,
            indicator=indicator.indicator if indicator else None,
            indicator_name=indicator.name_vi if indicator else None,
            period=period,
            target_set=target_set,
            state=state,
            severity=obs.severity if obs.firing else (prev.severity if prev else None),
            value=obs.value,
            target=obs.target,
            target_source=target_source,
            projected=obs.projected,
            details=details or {},
            first_seen=now if (changed and obs.firing) or prev is None else prev.first_seen,
            last_seen=now,
            resolved_at=now
            if changed and not obs.firing
            else (prev.resolved_at if prev and not obs.firing else None),
            acknowledged_by=None if changed else (prev.acknowledged_by if prev else None),
            acknowledged_at=None if changed else (prev.acknowledged_at if prev else None),
            silenced_until=prev.silenced_until if prev else None,
        )
        notes = (
            self._notifications(alert, group, now) if changed and not alert.silenced(now) else []
        )
        await self.store.save(alert, notes, changed=changed)
        if changed:
            TRANSITIONS.labels(rule.value, state.value).inc()
            log.info("alert_" + state.value, key=key, severity=alert.severity, value=alert.value)
            if self.publish is not None:
                await self.publish(alert)
        return alert

    def _notifications(self, alert: Alert, group: str | None, now: datetime) -> list[Notification]:
        kind = alert.state.value
        # the transition: this state, since this time (never the send time)
        changed_at = alert.first_seen if alert.state is AlertState.firing else alert.resolved_at
        stamp = (changed_at or now).isoformat()
        subject = messages.subject(alert)
        body = messages.body(alert, self.settings.dashboard_url)
        payload = {"kind": kind, "alert": alert.model_dump(mode="json")}
        notes: list[Notification] = []
        seen: set[tuple[Channel, str]] = set()
        for route in self.settings.alerts_routes:
            if route.groups and group not in route.groups:
                continue
            if route.severities and (alert.severity or "") not in route.severities:
                continue
            if route.rules and alert.rule.value not in route.rules:
                continue
            targets = [(Channel.email, e) for e in route.emails]
            targets += [(Channel.webhook, w) for w in route.webhooks]
            for channel, target in targets:
                if (channel, target) in seen:
                    continue
                seen.add((channel, target))
                note_id = _note_id(alert.key, kind, stamp, channel.value, target)
                notes.append(
                    Notification(
                        id=note_id,
                        channel=channel,
                        target=target,
                        kind=kind,
                        alert_key=alert.key,
                        subject=subject,
                        body=body,
                        payload={**payload, "notification_id": note_id},
                        queued_at=now,
                    )
                )
        if self.settings.alertmanager_url and alert.rule is not Rule.system:
            am = self._alertmanager_alert(alert, alert.resolved_at)
            notes.append(
                Notification(
                    id=_note_id(alert.key, kind, stamp, "alertmanager"),
                    channel=Channel.alertmanager,
                    target=self.settings.alertmanager_url,
                    kind=kind,
                    alert_key=alert.key,
                    subject=subject,
                    payload=am,
                    queued_at=now,
                )
            )
        return notes

    def _alertmanager_alert(self, alert: Alert, ends_at: datetime | None) -> dict[str, object]:
        """Alertmanager v2 alert; ``origin`` tells its routes these came from egov-monitor."""
        am: dict[str, object] = {
            "labels": {
                "alertname": alert.rule.value,
                "scope": alert.scope,
                "indicator": alert.indicator or "",
                "period": alert.period,
                "severity": alert.severity or "",
                "origin": "egov-alerts",
            },
            "annotations": {
                "summary": messages.subject(alert),
                "description": messages.body(alert, self.settings.dashboard_url),
            },
            "startsAt": alert.first_seen.isoformat(),
            "generatorURL": messages.dashboard_link(self.settings.dashboard_url, alert),
        }
        if ends_at is not None:
            am["endsAt"] = ends_at.isoformat()
        return am

    async def on_alertmanager(self, payload: dict[str, Any]) -> int:
        """Alertmanager's webhook (v4): Prometheus' pipeline alerts become ``system`` alerts,
        mailed through the routes like every other; egov-monitor's own (``origin``) are
        skipped. Returns how many changed state."""
        changed = 0
        for item in payload.get("alerts") or []:
            labels = {str(k): str(v) for k, v in (item.get("labels") or {}).items()}
            notes = {str(k): str(v) for k, v in (item.get("annotations") or {}).items()}
            if labels.get("origin") == "egov-alerts" or "alertname" not in labels:
                continue
            firing = item.get("status") == "firing"
            severity = Severity.critical if labels.get("severity") == "critical" else None
            scope = labels.get("job") or PIPELINE_SCOPE
            period = f"{labels['alertname']}:{item.get('fingerprint') or ''}"
            key = alert_key(Rule.system, scope, None, period)
            prev = await self.store.get(key)
            was_firing = prev is not None and prev.state is AlertState.firing
            obs = Observation(firing, (severity or Severity.warning) if firing else None)
            await self.observe(
                Rule.system,
                scope,
                f"Hệ thống egov-monitor ({scope})",
                period,
                obs,
                details={
                    "summary": notes.get("summary", labels["alertname"]),
                    "description": notes.get("description", ""),
                    "labels": labels,
                },
                previous=prev,
            )
            changed += int(firing != was_firing and (prev is not None or firing))
        return changed

    async def repost_alertmanager(self) -> int:
        """Re-post every firing (not silenced) alert to Alertmanager — but those that came
        from it — with a fresh ``endsAt`` a few evaluations ahead, on each evaluation, so
        Alertmanager never lets a firing alert expire (and does let it expire if this
        service stops posting)."""
        url = self.settings.alertmanager_url
        if not url:
            return 0
        now = self.clock()
        # valid for four evaluations, as Prometheus does with its own alerts
        ttl = timedelta(seconds=4 * self.settings.alerts_check_interval_s)
        alerts = [
            self._alertmanager_alert(a, now + ttl)
            for a in await self.store.firing()
            if not a.silenced(now) and a.rule is not Rule.system
        ]
        if not alerts:
            return 0
        try:
            await self.senders.post_alertmanager(url, alerts)
        except DeliveryError as exc:
            NOTIFICATIONS.labels(Channel.alertmanager.value, "retried").inc()
            log.warning("alertmanager_repost_failed", error=str(exc), alerts=len(alerts))
            return 0
        NOTIFICATIONS.labels(Channel.alertmanager.value, "sent").inc()
        return len(alerts)

    # -- rules -----------------------------------------------------------------------

    @staticmethod
    def _scopes_of(
        agency_code: str, agencies: AgencyCatalog, start: date, end: date
    ) -> list[Scope]:
        """The agency and every aggregate scope it belongs to, with the members valid at
        some time in [start, end] (§4a.6)."""
        agency = agencies.get(agency_code)
        if agency is None:
            return []
        ids = [agency_code, f"group:{agency.group}", f"level:{agency.level}", "province"]
        return [parse_scope(i, agencies, start, end) for i in ids]

    async def on_update(self, agency_code: str, year: int) -> None:
        """Re-evaluate the threshold rules of an agency and the scopes it belongs to.

        Figures, values and targets come from the read model (``shared.readmodel.figures``): an
        indicator not evaluated for a scope raises nothing and resolves what was firing.
        """
        UPDATES.inc()
        now = self.clock()
        today = now.astimezone(LOCAL_TZ).date()
        if year != today.year:
            return  # targets judge the current year; a replay of past years is not news
        catalogs = await self.catalogs.current()
        ytd_period = Period(PeriodKind.year, date(year, 1, 1), today, str(year))
        scopes = self._scopes_of(agency_code, catalogs.agencies, ytd_period.start, today)
        if not scopes:
            return
        recent_start = max(date(year, 1, 1), today - timedelta(days=RECENT_DAYS - 1))
        recent_period = Period(
            PeriodKind.range, recent_start, today, f"{recent_start.isoformat()}..{today}"
        )
        ytd = await scope_figures(self.figures, catalogs, scopes, self.indicators, ytd_period)
        recent = await scope_figures(self.figures, catalogs, scopes, self.indicators, recent_period)
        recent_days = recent_period.days()
        remaining = (date(year, 12, 31) - today).days
        for scope in scopes:
            group = (
                scope.members[0].group.value
                if scope.kind == "agency"
                else (scope.id.removeprefix("group:") if scope.kind == "group" else None)
            )
            for ind in self.indicators:
                fig = ytd[scope.id][ind.indicator]
                rfig = recent[scope.id][ind.indicator]
                for target_set in [None, *self.settings.alerts_target_sets]:
                    reading = read(self.targets, ind.indicator, scope, year, fig, target_set)
                    if reading.target is None:
                        continue
                    period = str(year) if target_set is None else f"{year}:{target_set}"
                    projected = (
                        project_year_end(
                            (fig.numerator, fig.denominator),
                            (rfig.numerator, rfig.denominator),
                            recent_days,
                            remaining,
                        )
                        if reading.evaluated
                        else None
                    )
                    await self._judge(scope, ind, period, reading, projected, group)

    async def _judge(
        self,
        scope: Scope,
        ind: Indicator,
        period: str,
        reading: Reading,
        projected: float | None,
        group: str | None,
    ) -> None:
        """Breach and early warning of one reading (its target is set)."""
        target = reading.target
        if target is None:
            return
        fig = reading.figure
        s = self.settings
        key = alert_key(Rule.breach, scope.id, ind.indicator, period)
        prev = await self.store.get(key)
        breach = evaluate_breach(
            fig.numerator,
            fig.denominator,
            target.min_percent,
            min_denominator=s.alerts_min_denominator,
            margin=s.alerts_resolve_margin,
            was_firing=prev is not None and prev.state is AlertState.firing,
            evaluated=reading.evaluated,
        )
        await self.observe(
            Rule.breach,
            scope.id,
            self._name(scope),
            period,
            breach,
            previous=prev,
            indicator=ind,
            target_set=target.target_set,
            target_source=target.source,
            group=group,
        )
        pkey = alert_key(Rule.projection, scope.id, ind.indicator, period)
        pprev = await self.store.get(pkey)
        proj = evaluate_projection(
            projected,
            bool(breach and breach.firing),
            fig.denominator,
            target.min_percent,
            min_denominator=s.alerts_min_denominator,
            margin=s.alerts_resolve_margin,
            was_firing=pprev is not None and pprev.state is AlertState.firing,
            evaluated=reading.evaluated,
        )
        if proj is not None and reading.value is not None:
            proj = Observation(
                proj.firing, proj.severity, reading.value, proj.target, proj.projected
            )
        await self.observe(
            Rule.projection,
            scope.id,
            self._name(scope),
            period,
            proj,
            previous=pprev,
            indicator=ind,
            target_set=target.target_set,
            target_source=target.source,
            group=group,
        )

    @staticmethod
    def _name(scope: Scope) -> str:
        names = {
            "province": "Toàn tỉnh",
            "group:so_nganh": "Khối sở, ngành",
            "group:dia_phuong": "Khối địa phương",
            "level:tinh": "Cấp tỉnh",
            "level:huyen": "Cấp huyện",
            "level:xa": "Cấp xã",
        }
        agency = scope.agency
        return agency.name if agency else names.get(scope.id, scope.id)

    async def check_overdue(self) -> None:
        """Open dossiers past due_at (critical) and due within 24 hours (warning)."""
        now = self.clock()
        catalogs = await self.catalogs.current()
        codes = list(catalogs.agencies.agencies)
        counts = await self.figures.open_counts(codes, now)
        for code in codes:
            agency = catalogs.agencies.agencies[code]
            _, overdue, soon = counts[code]
            ids = await self.figures.overdue_dossiers(code, now, 50) if overdue else []
            await self.observe(
                Rule.overdue,
                code,
                agency.name,
                "open",
                evaluate_count(overdue, Severity.critical),
                details={"count": overdue, "dossier_ids": ids},
                group=agency.group.value,
            )
            await self.observe(
                Rule.due_soon,
                code,
                agency.name,
                "open",
                evaluate_count(soon, Severity.warning),
                details={"count": soon},
                group=agency.group.value,
            )

    async def check_pipeline(self) -> PipelineHealth:
        """Is the calculator keeping up? Measured here (consumer lag of its group, and how
        long its offsets have not moved while events wait), raising or resolving the one
        ``pipeline_behind`` alert. Not measurable (Kafka unreachable): state unchanged."""
        now = self.clock()
        try:
            reading = await self.pipeline()
        except Exception as exc:
            PIPELINE_LAG.set(-1)
            log.warning("pipeline_unmeasured", error=type(exc).__name__)
            return PipelineHealth(measured=False)
        stalled_s = await track_progress(self.redis, reading, now)
        key = alert_key(Rule.pipeline_behind, PIPELINE_SCOPE, None, "live")
        prev = await self.store.get(key)
        s = self.settings
        obs = evaluate_pipeline(
            reading.lag,
            stalled_s,
            max_lag=s.alerts_pipeline_max_lag,
            max_stall_s=s.alerts_pipeline_max_stall_s,
            was_firing=prev is not None and prev.state is AlertState.firing,
        )
        await self.observe(
            Rule.pipeline_behind,
            PIPELINE_SCOPE,
            PIPELINE_NAME,
            "live",
            obs,
            details={"lag": reading.lag, "stalled_s": round(stalled_s, 1)},
            previous=prev,
        )
        PIPELINE_LAG.set(reading.lag)
        PIPELINE_STALLED.set(stalled_s)
        PIPELINE_BEHIND.set(1 if obs.firing else 0)
        return PipelineHealth(True, obs.firing, reading.lag, stalled_s)

    async def check_silence(self) -> None:
        """Kết nối gián đoạn: sources and agencies that normally emit but fell silent.

        Judged against the events' own time (their newest ``occurred_at``, recorded by the
        calculator) and only while the pipeline keeps up: while it is behind, or cannot be
        measured, nothing new is raised or resolved here (``check_pipeline`` raised one
        ``pipeline_behind`` alert instead of one per source and agency)."""
        health = await self.check_pipeline()
        if not health.measured or health.behind:
            return
        now = self.clock()
        catalogs = await self.catalogs.current()
        valid_now = {
            a.agency_code for a in catalogs.agencies.valid_on(now.astimezone(LOCAL_TZ).date())
        }
        span = self.settings.alerts_silence_working_hours
        for hash_key, rule in (
            (LAST_SEEN_SOURCES, Rule.silent_source),
            (LAST_SEEN_AGENCIES, Rule.silent_agency),
        ):
            for raw_name, raw_ts in (await self.redis.hgetall(hash_key)).items():
                name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
                last = datetime.fromtimestamp(float(raw_ts), tz=LOCAL_TZ)
                key = alert_key(rule, name, None, "live")
                prev = await self.store.get(key)
                if now - last > NORMALLY_EMITS and prev is None:
                    continue  # not a source that normally emits
                hours = self.hours.hours_between(last, now)
                silent = hours >= span
                if rule is Rule.silent_agency and name not in valid_now:
                    if prev is None:
                        continue  # an agency not valid now (abolished, merged) is not silent
                    silent = False  # … and what fired while it was valid resolves
                obs = Observation(silent, Severity.critical if silent else None, round(hours, 2))
                agency = catalogs.agencies.get(name) if rule is Rule.silent_agency else None
                await self.observe(
                    rule,
                    name,
                    agency.name if agency else name,
                    "live",
                    obs,
                    details={"hours": hours, "last_seen": last.isoformat()},
                    group=agency.group.value if agency else None,
                    previous=prev,
                )

    async def send_digest(self) -> bool:
        """Once a day after ``alerts_digest_hour``: what is firing and the week's ranking."""
        now = self.clock()
        local = now.astimezone(LOCAL_TZ)
        if local.hour < self.settings.alerts_digest_hour:
            return False
        day = local.date().isoformat()
        if not await self.redis.set(f"digest:sent:{day}", 1, nx=True, ex=3 * 86400):
            return False
        catalogs = await self.catalogs.current()
        firing = await self.store.firing()
        ind = next(i for i in self.indicators if i.indicator == "full_online_rate")
        week = Period(
            PeriodKind.range,
            local.date() - timedelta(days=6),
            local.date(),
            f"{local.date() - timedelta(days=6)}..{local.date()}",
        )
        agencies = catalogs.agencies.valid_between(week.start, week.end)
        scopes = [agency_scope(a) for a in agencies]
        readings = await read_scopes(self.figures, catalogs, self.targets, scopes, [ind], week)
        names = {a.agency_code: a.name for a in agencies}
        week_readings = [(code, r[ind.indicator]) for code, r in readings.items()]
        ranked = sorted(
            ((r.value, code, r) for code, r in week_readings if r.value is not None),
            key=lambda x: (-x[0], x[1]),
        )
        not_evaluated = [
            names[code] for code, r in week_readings if not r.evaluated and r.figure.denominator > 0
        ]
        lines = [
            f"Bản tin egov-monitor ngày {local:%d/%m/%Y}",
            "",
            f"Cảnh báo đang hoạt động: {len(firing)}",
        ]
        lines += [f"  - {messages.subject(a)}" for a in firing[:50]]
        lines += ["", f"Xếp hạng 7 ngày qua — {ind.name_vi}:", "  Dẫn đầu:"]
        lines += [messages.ranked_line(names[c], r) for _, c, r in ranked[:5]]
        lines += ["  Cuối bảng:"]
        lines += [messages.ranked_line(names[c], r) for _, c, r in ranked[-5:][::-1]]
        if not_evaluated:
            lines += [f"  Không đánh giá (chỉ số không áp dụng): {', '.join(not_evaluated)}"]
        body = "\n".join(lines) + "\n"
        subject = f"[Bản tin] egov-monitor ngày {local:%d/%m/%Y}: {len(firing)} cảnh báo"
        notes = [
            Notification(
                id=_note_id("digest", day, email),
                channel=Channel.email,
                target=email,
                kind="digest",
                subject=subject,
                body=body,
                queued_at=now,
            )
            for email in self.settings.alerts_digest_emails
        ]
        block = AtomicBlock()
        for note in notes:
            queue_notification(block, note, now)
        await block.execute(self.redis)
        return True

    # -- delivery ----------------------------------------------------------------------

    async def deliver(self) -> int:
        """Send what is due; failures wait 1, 2, 4 … up to 300 s, then give up."""
        now = self.clock()
        sent = 0
        for note_id in await self.outbox.due(now):
            note = await self.outbox.claim(note_id, self.settings.alerts_outbox_lease_s)
            if note is None:
                continue
            try:
                await self.senders.send(note)
            except DeliveryError as exc:
                if note.attempts + 1 >= self.settings.alerts_max_attempts:
                    await self.outbox.give_up(note, str(exc))
                    NOTIFICATIONS.labels(note.channel.value, "failed").inc()
                else:
                    delay = min(300, 2**note.attempts)
                    await self.outbox.retry_later(note, now + timedelta(seconds=delay))
                    NOTIFICATIONS.labels(note.channel.value, "retried").inc()
                log.warning(
                    "delivery_failed",
                    channel=note.channel.value,
                    error=str(exc),
                    attempts=note.attempts + 1,
                )
                continue
            await self.outbox.done(note)
            NOTIFICATIONS.labels(note.channel.value, "sent").inc()
            sent += 1
        OUTBOX_DEPTH.set(await self.outbox.depth())
        return sent

    async def refresh_gauges(self) -> None:
        counts: dict[tuple[str, str], int] = {}
        for alert in await self.store.firing():
            label = (alert.rule.value, (alert.severity or Severity.warning).value)
            counts[label] = counts.get(label, 0) + 1
        for rule in Rule:
            for sev in Severity:
                FIRING.labels(rule.value, sev.value).set(counts.get((rule.value, sev.value), 0))
