"""The alert engine: the orchestration of the alerts service's rooms.

``evaluate`` and ``checks`` turn updates and timers into findings, ``receiver`` turns
Alertmanager's posts into findings; ``state`` (the one writer) applies them, with the
notifications ``routing`` gives each change; ``outbox`` delivers them through ``notify``;
``digest`` writes the daily digest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.alerts import checks, digest, receiver, routing
from services.alerts.evaluate import UpdateEvaluation
from services.alerts.evaluate766 import Index766Evaluation
from services.alerts.metrics import TRANSITIONS, UPDATES, refresh_firing
from services.alerts.model import Alert, Notification
from services.alerts.notify import Senders
from services.alerts.notify.alertmanager import repost
from services.alerts.outbox import Outbox, deliver_due
from services.alerts.pipeline import KafkaPipelineProbe, Measure, PipelineHealth
from services.alerts.state import AlertStore, Finding, Stored
from services.alerts.working_hours import WorkingHours
from shared.domain.calendar import local_date, now_utc
from shared.domain.indicators import Indicator, load_indicators
from shared.domain.targets import TargetBook, load_targets
from shared.platform.config import AlertsSettings
from shared.platform.logs import get_logger
from shared.store import alert_commands
from shared.store.catalogs import CatalogCache
from shared.store.client import RedisClient
from shared.store.indicator_store import IndicatorStore

log = get_logger("alerts.engine")

Publish = Callable[[Alert], Awaitable[None]]


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
        known_alerts: frozenset[str] | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.clock = clock
        self.publish = publish
        self.store = AlertStore(redis)
        self._pruned_at: datetime | None = None
        self.outbox = Outbox(redis)
        self.figures = IndicatorStore(redis)
        self.catalogs = CatalogCache(redis)
        self.targets: TargetBook = load_targets()
        self.indicators: list[Indicator] = [
            i for i in load_indicators().values() if i.source in ("dossier", "document")
        ]
        self.evaluation = UpdateEvaluation(settings, self.figures, self.targets, self.indicators)
        self.index766 = Index766Evaluation(settings, self.figures)
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
        self.known_alerts = known_alerts or receiver.alert_names(
            settings.alerts_prometheus_rules or [receiver.PROJECT_RULES]
        )

    # -- state changes -----------------------------------------------------------------

    async def apply(
        self, findings: Sequence[Finding], stored: dict[str, Stored] | None = None
    ) -> list[Alert | None]:
        """Apply findings through the one writer (``state``), with the notifications
        ``routing`` gives each change; publish the changes. Returns each finding's alert."""
        written = await self.store.apply(findings, stored, self.clock(), self._notifications)
        for alert, changed in written:
            if alert is not None and changed:
                await self._changed(alert)
        return [alert for alert, _ in written]

    def _notifications(self, alert: Alert, group: str | None, now: datetime) -> list[Notification]:
        if alert.silenced(now):
            return []
        return routing.notifications(alert, group, now, self.settings)

    async def _changed(self, alert: Alert) -> None:
        TRANSITIONS.labels(alert.rule.value, alert.state.value).inc()
        log.info(
            "alert_" + alert.state.value, key=alert.key, severity=alert.severity, value=alert.value
        )
        if self.publish is not None:
            await self.publish(alert)

    async def observe(self, finding: Finding) -> Alert | None:
        """Apply one finding."""
        return (await self.apply([finding]))[0]

    # -- rules -------------------------------------------------------------------------

    async def on_update(self, agency_code: str, year: int) -> None:
        """Re-evaluate the threshold rules of an agency and the scopes it belongs to, and
        the agency's Decision 766 rules (``evaluate766``)."""
        UPDATES.inc()
        now = self.clock()
        today = local_date(now)
        if year != today.year:
            return  # targets judge the current year; a replay of past years is not news
        findings, stored = await self.evaluation.findings(
            self.store, self.catalogs, agency_code, year, today
        )
        await self.apply(findings, stored)
        catalogs = await self.catalogs.current()
        findings, stored = await self.index766.findings(
            self.store, catalogs, agency_code, now, today
        )
        if findings:
            await self.apply(findings, stored)

    async def on_alertmanager(self, payload: dict[str, Any]) -> int:
        """Alertmanager's webhook: the project's Prometheus alerts become ``system`` alerts.
        Returns how many changed state."""
        findings = receiver.findings(payload, self.known_alerts)
        stored = await self.store.read([f.subject.key for f in findings])
        before = {k: s.firing for k, s in stored.items()}
        alerts = await self.apply(findings, stored)
        return sum(
            1
            for f, a in zip(findings, alerts, strict=True)
            if a is not None and f.obs.firing != before[f.subject.key]
        )

    async def prune(self) -> list[str]:
        """Resolved alerts older than the retention leave the alert list (at most once an
        hour: the scheduled checks run every half minute)."""
        now = self.clock()
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return []
        self._pruned_at = now
        before = now - timedelta(days=self.settings.alerts_retention_days)
        removed = await alert_commands.prune_resolved(self.redis, before)
        if removed:
            log.info("alerts_pruned", count=len(removed))
        return removed

    async def check_ended(self) -> None:
        """Threshold alerts of units that ended, or of aggregates left without a member
        valid now, resolve (:func:`checks.ended`)."""
        catalogs = await self.catalogs.current()
        findings = await checks.ended(self.store, catalogs, self.clock())
        if findings:
            await self.apply(findings)

    async def check_overdue(self) -> None:
        catalogs = await self.catalogs.current()
        await self.apply(await checks.overdue(self.figures, catalogs, self.clock()))

    async def check_pipeline(self) -> PipelineHealth:
        health, finding = await checks.pipeline(
            self.pipeline, self.redis, self.store, self.settings, self.clock()
        )
        if finding is not None:
            await self.observe(finding)
        return health

    async def check_silence(self) -> None:
        """Silent sources and agencies, judged only while the pipeline keeps up: while it is
        behind, or cannot be measured, nothing new is raised or resolved here (one
        ``pipeline_behind`` alert instead of one per source and agency)."""
        health = await self.check_pipeline()
        if not health.measured or health.behind:
            return
        catalogs = await self.catalogs.current()
        span = self.settings.alerts_silence_working_hours
        now = self.clock()
        await self.apply(
            await checks.silence(self.redis, self.store, catalogs, self.hours, span, now)
        )

    async def send_digest(self) -> bool:
        now = self.clock()
        if await digest.claim_day(self.redis, self.settings, now) is None:
            return False
        notes = await digest.digest_notifications(
            self.figures,
            await self.catalogs.current(),
            self.targets,
            self.indicators,
            await self.store.firing(),
            self.settings,
            now,
        )
        await self.outbox.queue(notes, now)
        return True

    # -- delivery ----------------------------------------------------------------------

    async def deliver(self) -> int:
        """Send what is due (retryable failures back off; final ones are given up)."""
        return await deliver_due(
            self.outbox,
            self.senders.send,
            self.clock(),
            lease_s=self.settings.alerts_outbox_lease_s,
            max_attempts=self.settings.alerts_max_attempts,
        )

    async def repost_alertmanager(self) -> int:
        """Re-post what fires to Alertmanager (``notify.alertmanager.repost``)."""
        url = self.settings.alertmanager_url
        if not url:
            return 0
        firing = await self.store.firing()
        ttl = timedelta(seconds=4 * self.settings.alerts_check_interval_s)
        return await repost(self.senders, url, firing, self.clock(), ttl, self.settings)

    async def refresh_gauges(self) -> None:
        refresh_firing(await self.store.firing())
