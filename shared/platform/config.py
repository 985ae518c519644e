"""Settings, read from environment variables prefixed ``EGOV_``, in sections: every process
reads ``PlatformSettings``; ingest, the API and alerts add ``AuthSettings`` (tokens); each
service loads only its own section (``load(IngestSettings)`` …), so a variable of another
service is never read, validated or needed. ``Settings`` is every section at once, for the
local stack and the tests. Every field carries its meaning: docs/configuration.md and
.env.example are generated from these models.

Defaults are the local stack's (loopback, fixed dev ports); a deployment overrides them,
e.g. ``EGOV_KAFKA_BOOTSTRAP=kafka:9092``. The dev tokens and the dev webhook secret exist
only in development (``EGOV_ENV``, the default) and only while no ``EGOV_TOKENS`` are
issued; production refuses them (``shared/platform/safety.py``). An empty variable means unset.
"""

from __future__ import annotations

from typing import Any, Literal, Self, TypeVar, cast

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.platform.tokens import TokenBook, TokenSpec, digest

ENV_PREFIX = "EGOV_"

Environment = Literal["development", "production"]
# The local development secrets: valid only in development, refused in production.
DEV_INGEST_TOKEN = "dev-ingest-token"
DEV_READ_TOKEN = "dev-read-token"
DEV_ADMIN_TOKEN = "dev-admin-token"
DEV_WEBHOOK_SECRET = "dev-webhook-secret"
DEV_TOKENS = frozenset({DEV_INGEST_TOKEN, DEV_READ_TOKEN, DEV_ADMIN_TOKEN})


class Topics(BaseSettings):
    """Kafka topic names (env ``EGOV_TOPIC_<NAME>``)."""

    model_config = SettingsConfigDict(env_prefix=f"{ENV_PREFIX}TOPIC_", extra="ignore")

    dossier: str = Field(
        "egov.dossier.v1",
        description="Topic of dossier events (and petitions and procedure publications).",
    )
    document: str = Field("egov.document.v1", description="Topic of document events.")
    deadletter: str = Field(
        "egov.deadletter.v1",
        description="Topic of records the calculator could not apply.",
    )
    indicator_updates: str = Field(
        "egov.indicator-updates.v1",
        description=(
            "Topic of the calculator's coalesced indicator updates (read by the alerts service)."
        ),
    )
    alerts: str = Field(
        "egov.alerts.v1",
        description="Topic where every alert change is published.",
    )
    # Every catalog replacement, in order (shared/store/catalog_log.py); kept forever.
    catalog: str = "egov.catalog.v1"


class AlertRoute(BaseModel):
    """Who hears about which alerts. Empty match lists match everything."""

    groups: list[str] = Field(default_factory=list, description="agency groups, e.g. so_nganh")
    severities: list[str] = Field(default_factory=list, description="warning, critical")
    rules: list[str] = Field(default_factory=list, description="breach, projection, overdue, …")
    emails: list[str] = Field(default_factory=list)
    webhooks: list[str] = Field(default_factory=list)


class IngestToken(BaseModel):
    """One source of ``EGOV_INGEST_TOKENS``: ``{"source": {"token": "…", "agencies":
    ["so-y-te"]}}``; ``"agencies": ["*"]`` = every agency; a bare ``"source": "token"``
    has no agency list (development only)."""

    token: SecretStr
    agencies: list[str] = Field(default_factory=list)


_CONFIG = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)


def D(default: Any, description: str) -> Any:
    """A setting's default and meaning (the configuration reference is generated from it)."""
    if callable(default):
        return Field(default_factory=default, description=description)
    return Field(default, description=description)


class PlatformSettings(BaseSettings):
    """What every process reads: environment, Kafka, Redis, topics, logs."""

    model_config = _CONFIG

    env: Environment = D(
        "development",
        "development: the dev tokens and webhook secret work; production: the services "
        "refuse them and other unsafe values at start (exit 78)",
    )
    kafka_bootstrap: str = D("127.0.0.1:9092", "Kafka bootstrap servers, comma-separated")
    redis_url: str = D(
        "redis://127.0.0.1:6379/0",
        "Redis URL: redis://[:password@]host:port/db for one server, "
        "redis+cluster://host:port,… for a Redis Cluster",
    )
    redis_socket_timeout_s: float = D(
        10.0,
        "seconds a Redis command may wait for its reply before the client gives up (a hung "
        "Redis or a dead link must not hang a service)",
    )
    redis_connect_timeout_s: float = D(5.0, "seconds a connection may wait for Redis to accept")
    topics: Topics = D(Topics, "topic names: EGOV_TOPIC_<ROLE> (see the topics table)")
    topic_partitions: int = D(6, "partitions of the topics a service creates itself")
    topic_replication: int = D(
        1,
        "replicas of the topics a service creates itself and the replication the start-up "
        "check expects (1 on one broker; 3 on three: compose, `egov up --kafka-brokers 3`)",
    )
    topic_check_wait_s: float = D(
        60.0, "seconds a starting service waits for Kafka before it gives up checking topics"
    )
    catalog_log_enabled: bool = D(
        True,
        "publish catalog replacements on the catalog topic before they take effect (tests "
        "of the API without a broker turn it off)",
    )
    calculator_group: str = D(
        "egov-calculator",
        "the calculators' consumer group (the alerts service and `egov rebuild` watch it)",
    )
    kafka_session_timeout_s: float = D(
        10.0, "seconds without heartbeats before a Faust worker's partitions go to the others"
    )
    metrics_interval_s: float = D(
        10.0, "seconds between exports of business metrics and consumer lag"
    )
    faust_data_dir: str = D(
        ".run/faust",
        "where Faust workers keep local state (nothing durable: state lives in Redis)",
    )
    timezone: str = D(
        "Asia/Ho_Chi_Minh",
        "the province's time zone (informational: the calendar is fixed at +07:00)",
    )
    log_level: str = D("INFO", "log level of the JSON logs: DEBUG, INFO, WARNING, ERROR")


class AuthSettings(PlatformSettings):
    """Bearer tokens and their limits, for the services that check them (ingest, API,
    alerts)."""

    ingest_tokens: dict[str, IngestToken] = D(
        dict,
        'emitting sources and their tokens: {"source": {"token": "…", "agencies": [...]}} '
        "(the source is stamped on events that carry none); unset: the dev token in "
        "development while no EGOV_TOKENS are issued",
    )
    read_token: SecretStr | None = D(None, "token of the read scope (query API, pages)")
    admin_token: SecretStr | None = D(
        None, "token of the admin scope (implies read and operate: catalogs, alerts)"
    )
    tokens: list[TokenSpec] = D(
        list,
        "issued tokens with scopes, SHA-256 digests only (JSON list of {name, sha256, "
        "scopes, sources, agencies}); added to the tokens above",
    )
    rate_limit_per_s: float = D(50.0, "requests per second allowed to one token")
    rate_limit_burst: int = D(200, "burst of requests allowed to one token")
    auth_failures_per_minute: int = D(
        10,
        "failed authentications (missing or unknown token, board cookie without a session) "
        "in a minute: this many of one token from one address and that token gets 429 + "
        "Retry-After there; this many different failing tokens from one address (guessing) "
        "and every token not already used from there gets 429",
    )
    trusted_proxies: list[str] = D(
        list,
        "proxies in front of the services whose X-Forwarded-For / X-Forwarded-Proto are "
        'believed (addresses or CIDR networks, e.g. ["10.0.0.2"]; "*": every peer); the '
        "client address (failure limits) and scheme (the board cookie's Secure flag) then "
        "come from them; empty: no forwarded header is believed",
    )
    webhook_secret: SecretStr | None = D(
        None,
        "HMAC key of the webhook signatures; unset: the dev secret in development, "
        "required in production by the alerts service",
    )

    @field_validator("ingest_tokens", mode="before")
    @classmethod
    def _bare_ingest_tokens(cls, value: object) -> object:
        """``{"source": "token"}`` (no agency list) is accepted as well as the full form."""
        if isinstance(value, dict):
            bare = (str, SecretStr)
            return {k: {"token": v} if isinstance(v, bare) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _development_defaults(self) -> Self:
        """The dev tokens and webhook secret, in development only; the dev tokens only while
        no tokens are issued (EGOV_TOKENS)."""
        if self.env != "development":
            return self
        if not self.tokens:
            if "ingest_tokens" not in self.model_fields_set:
                self.ingest_tokens = {
                    "demo-source": IngestToken(token=SecretStr(DEV_INGEST_TOKEN), agencies=["*"])
                }
            if "read_token" not in self.model_fields_set:
                self.read_token = SecretStr(DEV_READ_TOKEN)
            if "admin_token" not in self.model_fields_set:
                self.admin_token = SecretStr(DEV_ADMIN_TOKEN)
        if "webhook_secret" not in self.model_fields_set:
            self.webhook_secret = SecretStr(DEV_WEBHOOK_SECRET)
        return self


class ReportingSettings(BaseSettings):
    """Links and defaults shared by what people read (API pages, alert messages)."""

    model_config = _CONFIG

    dashboard_url: str = D(
        "http://127.0.0.1:3000/d/egov-overview", "the Grafana dashboard linked from pages and mail"
    )
    default_target_set: str | None = D(
        None, "target set evaluated when a request names none (unset: the targets in force)"
    )

    @field_validator("default_target_set", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


class IngestSettings(AuthSettings):
    """The ingest service: HTTP → validated events → Kafka."""

    ingest_host: str = D("127.0.0.1", "address the ingest service listens on")
    ingest_port: int = D(8081, "port of the ingest service")
    ingest_max_body_bytes: int = D(5 * 1024 * 1024, "largest request body ingest reads")
    ingest_max_events: int = D(10_000, "most events in one request")
    ingest_produce_timeout_s: float = D(
        10.0, "seconds ingest waits for Kafka to acknowledge a batch before answering 503"
    )
    ingest_retry_after_s: int = D(5, "Retry-After of ingest's 503 answers")


class ApiSettings(AuthSettings, ReportingSettings):
    """The query API, the public pages and the ICT board."""

    api_host: str = D("127.0.0.1", "address the API listens on")
    api_port: int = D(8082, "port of the API")
    cors_origins: list[str] = D(list, "origins allowed to call the API from a browser")
    api_max_body_bytes: int = D(1024 * 1024, "largest request body the API reads")
    public_frame_ancestors: list[str] = D(
        lambda: ["'self'"],
        "who may embed the public results page in a frame (CSP frame-ancestors sources, "
        "e.g. the portal's origin)",
    )
    public_min_denominator: int = D(
        30,
        "fewest dossiers (documents, payments, ratings: the denominator of an event-counted "
        "indicator) for a verdict on the public page and the board: below it a unit's figure "
        "is shown with 'Chưa đủ số liệu' instead of Đạt / Chưa đạt (0: every verdict shown)",
    )
    prometheus_url: str = D("http://127.0.0.1:9090", "the Prometheus the board links to")
    mail_dir: str | None = D(None, "the local mail sink's store the board lists (dev stack)")
    api_stale_ms: int = D(
        500,
        "milliseconds a cached query response may answer after its figures changed, while "
        "its new computation runs in the background (the response still holds every write "
        "older than this); 0: every request after a change waits for the new figures",
    )
    board_poll_s: float = D(1.0, "seconds between the board's fragment refreshes")
    board_session_ttl_s: int = D(
        12 * 3600, "seconds a board sign-in lasts (its server-side session and cookie)"
    )
    board_max_streams: int = D(
        100,
        "live-board streams (/board/events) open at once per API process; beyond: 503 + "
        "Retry-After",
    )
    index766_recon_threshold: float = D(
        1.0,
        "points apart (egov-monitor's Decision 766 score against the national portal's "
        "export, total or one group) above which the reconciliation flags a unit",
    )

    @field_validator("public_min_denominator", "api_stale_ms")
    @classmethod
    def _not_negative(cls, value: int) -> int:
        if value < 0:
            raise ValueError("must be 0 or more")
        return value


class SnapshotSettings(BaseSettings):
    """Where Redis snapshots go (taken by a calculator, written and read by `egov`)."""

    model_config = _CONFIG

    snapshot_dir: str | None = D(
        None,
        "directory of Redis snapshots for `egov restore` (unset: the calculators take none)",
    )
    snapshot_interval_s: float = D(3600.0, "seconds between the calculators' snapshots")
    snapshot_keep: int = D(24, "snapshots kept")


class CalculatorSettings(PlatformSettings, SnapshotSettings):
    """The calculator: events → per-agency state and counters in Redis."""

    calculator_host: str = D("127.0.0.1", "address of the calculator's web page (/metrics)")
    calculator_port: int = D(8083, "port of the calculator's web page")
    calculator_stop_grace_s: float = D(
        5.0, "seconds a stopping calculator lets its batches in flight finish"
    )
    calculator_gap_check_interval_s: float = D(
        2.0, "seconds between checks that Redis still holds every record this calculator applied"
    )
    calculator_gc_interval_s: float = D(
        5.0,
        "seconds between the calculator's garbage collections (its automatic collection is "
        "off: services/calculator/garbage.py)",
    )
    calculator_fetch_wait_ms: int = D(
        100,
        "longest a fetch of the event topics waits at the broker for new records (Faust asks "
        "1,500 ms; a fetch can miss the partitions still buffered when it was sent, so an "
        "event after a burst waited up to that long)",
    )
    calculator_known_states: int = D(
        100_000,
        "entity states the calculator keeps of what it wrote last, to apply the next events "
        "of those entities without reading them first (~250 bytes each; 0: read every one but "
        "those of the batches in flight; "
        "the write still checks each state in Redis)",
    )
    calculator_publish_interval_s: float = D(
        1.0, "seconds between coalesced publications of changed indicators"
    )
    deadletter_max_value_bytes: int = D(
        256 * 1024,
        "bytes of an invalid record's value kept in its dead-letter entry (larger values are "
        "truncated, by reference)",
    )


class AlertsSettings(AuthSettings, ReportingSettings):
    """The alerts service: threshold breaches → notifications to the ICT department."""

    alerts_host: str = D("127.0.0.1", "address of the alerts service (/metrics, webhook)")
    alerts_port: int = D(8084, "port of the alerts service")
    alerts_group: str = D("egov-alerts", "the alerts service's consumer group")
    alerts_min_denominator: int = D(30, "no breach alert on fewer dossiers than this in the period")
    alerts_resolve_margin: float = D(
        1.0, "a breach resolves only once the value is back above target + this many points"
    )
    alerts_766_floor: float = D(
        70.0,
        "Decision 766: warn when a unit's year-to-date score, projected (judged now, its open "
        "overdue dossiers counted late), is below this band floor (70: Khá)",
    )
    alerts_766_resolve_margin: float = D(
        0.5, "Decision 766: that warning resolves only at the floor + this many points"
    )
    alerts_766_drop_points: float = D(
        2.0, "Decision 766: warn when a metric's points fall this much, last 7 days vs the 7 before"
    )
    alerts_766_drop_ratio: float = D(
        10.0,
        "Decision 766: … or when its ratio falls this many percentage points, week over week",
    )
    alerts_target_sets: list[str] = D(
        list, "target sets evaluated besides the targets in force (e.g. an evaluation set)"
    )
    alerts_check_interval_s: float = D(30.0, "seconds between timed checks (overdue, silence)")
    alerts_outbox_interval_s: float = D(1.0, "seconds between passes over the outbox")
    alerts_retention_days: int = D(
        400, "resolved alerts older than this many days leave the alert list (history stays)"
    )
    alerts_max_attempts: int = D(20, "attempts of a notification before it is given up")
    alerts_outbox_lease_s: float = D(
        60.0,
        "seconds a notification being sent is leased; a sender that died mid-send is "
        "retried after it, same ids",
    )
    alerts_pipeline_max_lag: int = D(
        1000,
        "the pipeline is behind (one pipeline_behind alert, no silence alerts) while the "
        "calculator's consumer lag reaches this many events",
    )
    alerts_pipeline_max_stall_s: float = D(
        120.0, "… or events wait and its committed offsets have not moved for this many seconds"
    )
    alerts_silence_working_hours: float = D(
        2.0, "silence alert after this many working hours without events"
    )
    alerts_working_days: list[int] = D(
        lambda: [0, 1, 2, 3, 4], "working days (0 = Monday) of the silence clock"
    )
    alerts_working_start_hour: int = D(7, "start of working hours (local)")
    alerts_working_end_hour: int = D(17, "end of working hours (local)")
    alerts_digest_hour: int = D(7, "local hour of the daily digest")
    alerts_routes: list[AlertRoute] = D(
        lambda: [AlertRoute(emails=["cntt@egov-monitor.local"])],
        "who hears about which alerts: JSON list of {groups, severities, rules, emails, "
        "webhooks} (empty match lists match everything)",
    )
    alerts_digest_emails: list[str] = D(
        lambda: ["cntt@egov-monitor.local"], "recipients of the daily digest"
    )
    alerts_prometheus_rules: list[str] = D(
        list,
        "Prometheus rules files (or directories of *.yml) whose alert names the alerts "
        "service accepts from Alertmanager; empty: the repository's prometheus/rules; "
        "other names are ignored",
    )
    smtp_host: str = D("127.0.0.1", "the province's mail relay")
    smtp_port: int = D(2525, "port of the mail relay")
    smtp_starttls: bool = D(False, "STARTTLS to the mail relay")
    smtp_username: str | None = D(None, "mail relay user (unset: no login)")
    smtp_password: SecretStr | None = D(None, "mail relay password")
    smtp_from: str = D("egov-monitor <canhbao@egov-monitor.local>", "From of alert mail")
    smtp_timeout_s: float = D(10.0, "seconds per SMTP operation")
    webhook_timeout_s: float = D(5.0, "seconds per webhook call")
    alertmanager_url: str | None = D(None, "an Alertmanager to forward alerts to (unset: none)")

    @field_validator("smtp_username", "smtp_password", "alertmanager_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (compose's ``${EGOV_SMTP_USERNAME:-}``) means not set."""
        return None if value == "" else value


class OpsSettings(PlatformSettings, SnapshotSettings):
    """Production operations (`egov rebuild | snapshot | restore | catalog`)."""


class Settings(IngestSettings, ApiSettings, CalculatorSettings, AlertsSettings, OpsSettings):
    """Every section at once: the local stack and the tests configure all services from
    one object; a service loads only its own section (:func:`load`)."""


SECTIONS: tuple[type[PlatformSettings], ...] = (
    PlatformSettings,
    AuthSettings,
    IngestSettings,
    ApiSettings,
    CalculatorSettings,
    AlertsSettings,
    OpsSettings,
)


def dev_secret(value: SecretStr | None) -> bool:
    return value is not None and value.get_secret_value() in DEV_TOKENS


def token_book(settings: AuthSettings) -> TokenBook:
    """Issued tokens plus the configured plain ones (hashed here, kept only as digests).

    Dev token values count only in development while no tokens are issued (``EGOV_TOKENS``);
    empty tokens never count."""
    dev_ok = settings.env == "development" and not settings.tokens

    def usable(value: SecretStr | None) -> str | None:
        if value is None or not value.get_secret_value():
            return None
        if dev_secret(value) and not dev_ok:
            return None
        return value.get_secret_value()

    specs = list(settings.tokens)
    for source, ingest in settings.ingest_tokens.items():
        if (plain := usable(ingest.token)) is not None:
            specs.append(
                TokenSpec(
                    name=source,
                    sha256=digest(plain),
                    scopes=["ingest"],
                    sources=[source],
                    agencies=ingest.agencies,
                )
            )
    if (plain := usable(settings.read_token)) is not None:
        specs.append(TokenSpec(name="read", sha256=digest(plain), scopes=["read"]))
    if (plain := usable(settings.admin_token)) is not None:
        specs.append(
            TokenSpec(name="admin", sha256=digest(plain), scopes=["read", "operate", "admin"])
        )
    return TokenBook(specs)


SectionT = TypeVar("SectionT", bound=PlatformSettings)


_LOADED: dict[type[PlatformSettings], PlatformSettings] = {}


def load(section: type[SectionT]) -> SectionT:
    """A service's settings: its own section only, read once from the environment."""
    found = _LOADED.get(section)
    if found is None:
        found = _LOADED[section] = section()
    return cast(SectionT, found)


def forget_loaded() -> None:
    """Read every section from the environment again on the next ``load`` (tests that
    change the environment; a service reads its settings once)."""
    _LOADED.clear()


def get_settings() -> Settings:
    """Every section (the local stack, tools and tests)."""
    return load(Settings)
