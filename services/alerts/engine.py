"""The alert engine: evaluates rules, moves alerts between firing and resolved, queues the
notifications each change causes, and delivers the outbox with retries and backoff."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from services.alerts import messages
from services.alerts.model import Alert, AlertState, Channel, Notification, alert_key
from services.alerts.rules import (
    Observation,
    Rule,
    Severity,
    evaluate_breach,
    evaluate_count,
    evaluate_projection,
    project_year_end,
)
from services.alerts.senders import DeliveryError, Senders
from services.alerts.store import AlertStore, Outbox
from services.alerts.working_hours import WorkingHours
from shared.catalog import AgencyCatalog
from shared.catalog_store import CatalogCache
from shared.config import Settings
from shared.figures import Reading, read, read_scopes, scope_figures
from shared.indicators import Indicator, load_indicators
from shared.last_seen import LAST_SEEN_AGENCIES, LAST_SEEN_SOURCES
from shared.logs import get_logger
from shared.periods import Period, PeriodKind
from shared.scopes import Scope, parse_scope
from shared.store import IndicatorStore
from shared.targets import TargetBook, load_targets
from shared.timeutil import LOCAL_TZ, now_utc

log = get_logger("alerts.engine")

FIRING = Gauge("egov_alerts_firing", "Alerts firing", ["rule", "severity"])
TRANSITIONS = Counter("egov_alerts_transitions_total", "Alert state changes", ["rule", "state"])
NOTIFICATIONS = Counter(
    "egov_alerts_notifications_total", "Notification deliveries", ["channel", "outcome"]
)
OUTBOX_DEPTH = Gauge("egov_alerts_outbox_depth", "Notifications waiting in the outbox")
UPDATES = Counter("egov_alerts_updates_consumed_total", "Indicator updates evaluated")
for _rule in Rule:
    for _sev in Severity:
        FIRING.labels(_rule.value, _sev.value)
for _channel in Channel:
    for _outcome in ("sent", "retried", "failed"):
        NOTIFICATIONS.labels(_channel.value, _outcome)

NORMALLY_EMITS = timedelta(days=7)
RECENT_DAYS = 30

Publish = Callable[[Alert], Awaitable[None]]


def _note_id(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:24]


class AlertEngine:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        *,
        clock: Callable[[], datetime] = now_utc,
        publish: Publish | None = None,
        senders: Senders | None = None,
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
        stamp = now.isoformat()
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
        if self.settings.alertmanager_url:
            labels = {
                "alertname": alert.rule.value,
                "scope": alert.scope,
                "indicator": alert.indicator or "",
                "severity": alert.severity or "",
            }
            am: dict[str, object] = {
                "labels": labels,
                "annotations": {"summary": subject, "description": body},
                "startsAt": alert.first_seen.isoformat(),
            }
            if alert.resolved_at:
                am["endsAt"] = alert.resolved_at.isoformat()
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

        Figures, values and targets come from the read model (``shared.figures``): an
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

    async def check_silence(self) -> None:
        """Kết nối gián đoạn: sources and agencies that normally emit but fell silent."""
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
        scopes = [Scope(a.agency_code, "agency", (a,)) for a in agencies]
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
        pipe = self.redis.pipeline(transaction=True)
        for note in notes:
            pipe.set(f"outbox:item:{note.id}", note.model_dump_json(), nx=True)
            pipe.zadd("outbox:queue", {note.id: now.timestamp()}, nx=True)
        await pipe.execute()
        return True

    # -- delivery ----------------------------------------------------------------------

    async def deliver(self) -> int:
        """Send what is due; failures wait 1, 2, 4 … up to 300 s, then give up."""
        now = self.clock()
        sent = 0
        for note_id in await self.outbox.due(now):
            note = await self.outbox.claim(note_id)
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
