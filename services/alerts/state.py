"""The one writer of alert state.

An observation of a rule (:class:`Finding`) becomes the alert's next document
(:func:`next_alert`); documents are read in one MGET and written in one pipeline of
compare-and-set blocks (``shared.store.alert_commands``), each with its history entry and the
notifications its change causes — all or nothing. A block whose alert changed since it was
read (an operator acknowledged or silenced it meanwhile) is not applied: the alert is read
again and its next document computed afresh, so neither write is lost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from services.alerts.model import Alert, AlertState, Notification, alert_key
from services.alerts.outbox import queue_notification
from services.alerts.rules import Observation
from shared.domain.alerts import Rule
from shared.domain.indicators import Indicator
from shared.platform.logs import get_logger
from shared.store import alert_commands
from shared.store.alert_commands import GuardedBlock, save_alert, write_guarded
from shared.store.client import RedisClient
from shared.store.exceptions import AlertConflict

log = get_logger("alerts.state")

WRITE_ROUNDS = 3  # compare-and-set rounds of one batch (acknowledgements raced it)
Route = Callable[[Alert, str | None, datetime], list[Notification]]


@dataclass(frozen=True)
class Subject:
    """What an alert is about: the parts of its key, how it is named, how it is routed."""

    rule: Rule
    scope: str
    scope_name: str
    period: str
    indicator: Indicator | None = None
    target_set: str | None = None
    target_source: str | None = None
    group: str | None = None
    metric: tuple[str, str] | None = None  # a 766 metric (code, Vietnamese name), not an indicator

    @property
    def indicator_code(self) -> str | None:
        if self.indicator is not None:
            return self.indicator.indicator
        return self.metric[0] if self.metric else None

    @property
    def indicator_name(self) -> str | None:
        if self.indicator is not None:
            return self.indicator.name_vi
        return self.metric[1] if self.metric else None

    @property
    def key(self) -> str:
        # one band warning per unit and year: the metric it names may change meanwhile
        keyed = None if self.rule is Rule.index766_band else self.indicator_code
        return alert_key(self.rule, self.scope, keyed, self.period)


@dataclass(frozen=True)
class Finding:
    """One rule's observation of a subject, with what the message should say."""

    subject: Subject
    obs: Observation
    details: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Stored:
    """An alert document as read: the bytes (what a compare-and-set compares) and the alert."""

    raw: bytes | None = None

    @property
    def alert(self) -> Alert | None:
        return None if self.raw is None else Alert.model_validate_json(self.raw)

    @property
    def firing(self) -> bool:
        alert = self.alert
        return alert is not None and alert.state is AlertState.firing


def next_alert(prev: Alert | None, finding: Finding, now: datetime) -> tuple[Alert | None, bool]:
    """The alert after ``finding`` and whether its state changed; None when nothing fires
    and nothing fired before."""
    s, obs = finding.subject, finding.obs
    if prev is None and not obs.firing:
        return None, False
    was_firing = prev is not None and prev.state is AlertState.firing
    changed = was_firing != obs.firing
    alert = Alert(
        key=s.key,
        rule=s.rule,
        scope=s.scope,
        scope_name=s.scope_name,
        indicator=s.indicator_code,
        indicator_name=s.indicator_name,
        period=s.period,
        target_set=s.target_set,
        state=AlertState.firing if obs.firing else AlertState.resolved,
        severity=obs.severity if obs.firing else (prev.severity if prev else None),
        value=obs.value,
        target=obs.target,
        target_source=s.target_source,
        projected=obs.projected,
        details=dict(finding.details),
        first_seen=now if (changed and obs.firing) or prev is None else prev.first_seen,
        last_seen=now,
        resolved_at=now
        if changed and not obs.firing
        else (prev.resolved_at if prev and not obs.firing else None),
        acknowledged_by=None if changed else (prev.acknowledged_by if prev else None),
        acknowledged_at=None if changed else (prev.acknowledged_at if prev else None),
        silenced_until=prev.silenced_until if prev else None,
    )
    return alert, changed


@dataclass(frozen=True)
class Write:
    """One alert's next document, written only over ``expected``."""

    alert: Alert
    changed: bool
    notifications: Sequence[Notification]
    expected: bytes | None

    def block(self) -> GuardedBlock:
        block = save_alert(
            GuardedBlock(self.alert.key, self.expected), self.alert, history=self.changed
        )
        for note in self.notifications:
            queue_notification(block, note, note.queued_at)
        return block


class AlertStore:
    """Alert state: read here by the service (and through ``shared.store.alert_commands`` by the
    API); written only by :meth:`write`."""

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def read(self, keys: Sequence[str]) -> dict[str, Stored]:
        """The documents of ``keys`` in one round trip (MGET)."""
        raws = await alert_commands.read_raw(self.redis, keys)
        return {k: Stored(r) for k, r in raws.items()}

    async def write(self, writes: Sequence[Write]) -> list[bool]:
        """Every write in one pipeline; which were applied (False: changed since read)."""
        return await write_guarded(self.redis, [w.block() for w in writes])

    async def apply(
        self,
        findings: Sequence[Finding],
        stored: dict[str, Stored] | None,
        now: datetime,
        route: Route,
    ) -> list[tuple[Alert | None, bool]]:
        """Each finding's next alert (None: nothing fires nor fired) and whether its state
        changed, written in one pipeline with the notifications ``route`` gives a change.
        ``stored``: the alerts as read (else read now, one MGET). An alert written since it
        was read is read again and recomputed, up to ``WRITE_ROUNDS`` times."""
        out: list[tuple[Alert | None, bool]] = [(None, False)] * len(findings)
        if stored is None:
            stored = await self.read([f.subject.key for f in findings])
        pending = list(range(len(findings)))
        for _ in range(WRITE_ROUNDS):
            writes: list[tuple[int, Write]] = []
            for i in pending:
                f = findings[i]
                prev = stored.get(f.subject.key, Stored())
                alert, changed = next_alert(prev.alert, f, now)
                if alert is not None:
                    notes = route(alert, f.subject.group, now) if changed else []
                    writes.append((i, Write(alert, changed, notes, prev.raw)))
            applied = await self.write([w for _, w in writes])
            pending = [i for (i, _), ok in zip(writes, applied, strict=True) if not ok]
            for (i, w), ok in zip(writes, applied, strict=True):
                if ok:
                    out[i] = (w.alert, w.changed)
            if not pending:
                return out
            stored = {**stored, **await self.read([findings[i].subject.key for i in pending])}
        for i in pending:
            log.warning("alert_write_conflict", key=findings[i].subject.key)
        return out

    async def save(self, alert: Alert, *, changed: bool = False) -> None:
        """Write one alert document over whatever is stored (seeding, tools, tests)."""
        for _ in range(alert_commands.ATTEMPTS):
            current = (await self.read([alert.key]))[alert.key]
            if (await self.write([Write(alert, changed, (), current.raw)]))[0]:
                return
        raise AlertConflict(alert.key, None)

    async def get(self, key: str) -> Alert | None:
        return await alert_commands.get_alert(self.redis, key)

    async def all(self) -> list[Alert]:
        return await alert_commands.all_alerts(self.redis)

    async def firing(self) -> list[Alert]:
        return await alert_commands.firing_alerts(self.redis)

    async def history(self, key: str | None = None, count: int = 100) -> list[Alert]:
        return await alert_commands.alert_history(self.redis, key, count)
