"""Settings of every service, read from environment variables prefixed ``EGOV_``.

Defaults are the local stack's (loopback, fixed dev ports); a deployment overrides them,
e.g. ``EGOV_KAFKA_BOOTSTRAP=kafka:9092``. The dev tokens and the dev webhook secret exist
only in development (``EGOV_ENV``, the default) and only while no ``EGOV_TOKENS`` are
issued; production refuses them (``shared/platform/safety.py``). An empty variable means unset.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

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

    dossier: str = Field("egov.dossier.v1", description="Topic of dossier events.")
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    # development (default): dev tokens and secret; production: refuses them at start.
    env: Environment = "development"

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        description="Kafka bootstrap servers, `host:port[,host:port…]`.",
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description=(
            "Redis: `redis://host:port/db` (one server) or "
            "`redis+cluster://host:port,host:port,…` (a Redis Cluster)."
        ),
    )

    ingest_host: str = Field("127.0.0.1", description="Address the ingest service listens on.")
    ingest_port: int = Field(
        8081,
        description="Port of the ingest service (`POST /v1/events`, /metrics).",
    )
    api_host: str = Field("127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(
        8082,
        description="Port of the API (query API, public page, board, /metrics).",
    )
    calculator_host: str = Field(
        "127.0.0.1",
        description="Address the calculator's web page (/healthz, /metrics) listens on.",
    )
    calculator_port: int = Field(
        8083,
        description="Port of the calculator's /healthz and /metrics.",
    )
    alerts_host: str = Field(
        "127.0.0.1",
        description="Address the alerts service's web page listens on.",
    )
    alerts_port: int = Field(
        8084,
        description="Port of the alerts service's /healthz, /metrics and Alertmanager webhook.",
    )

    # Bearer tokens. Ingest tokens map an emitting source id to its token and agencies; the
    # source is stamped on events that carry none. Unset: the dev tokens in development
    # while no EGOV_TOKENS are issued, none otherwise.
    ingest_tokens: dict[str, IngestToken] = Field(default_factory=dict)
    read_token: SecretStr | None = Field(
        None,
        description=(
            "Plain read token (hashed at start): every `GET /v1/...` and the board. Unset: "
            "`dev-read-token` in development while EGOV_TOKENS is empty."
        ),
    )
    admin_token: SecretStr | None = Field(
        None,
        description=(
            "Plain admin token (hashed at start): catalog changes, reconciliations, "
            "ack/silence, reads. Unset: `dev-admin-token` in development while EGOV_TOKENS is "
            "empty."
        ),
    )
    # Issued tokens with scopes, digests only (see shared/platform/tokens.py); added to the above.
    tokens: list[TokenSpec] = Field(default_factory=list)
    rate_limit_per_s: float = Field(
        50.0,
        description=(
            "Requests per second each token may make (token bucket); above it 429 + Retry-After."
        ),
    )
    rate_limit_burst: int = Field(200, description="Burst size of the per-token rate limit.")
    # Failed authentications (missing or unknown token) per client address per minute
    # before it gets 429 + Retry-After.
    auth_failures_per_minute: int = 10
    cors_origins: list[str] = Field(
        default_factory=list,
        description=(
            "Origins allowed to call the API from a browser (CORS allow-list); empty: none."
        ),
    )
    api_max_body_bytes: int = Field(
        1024 * 1024,
        description=(
            "Largest request body the API accepts (413 above; catalog uploads have their own "
            "limit)."
        ),
    )

    ingest_max_body_bytes: int = Field(
        5 * 1024 * 1024,
        description="Largest `POST /v1/events` body (413 above).",
    )
    ingest_max_events: int = Field(
        10_000,
        description="Most events in one `POST /v1/events` (413 above).",
    )
    ingest_produce_timeout_s: float = Field(
        10.0,
        description=(
            "Seconds ingest waits for Kafka to acknowledge a request's events before answering 503."
        ),
    )
    ingest_retry_after_s: int = Field(
        5,
        description="Retry-After (seconds) of ingest's 503 when Kafka is unreachable.",
    )

    topic_partitions: int = Field(
        6,
        description="Partitions of the dossier and document topics when created.",
    )
    # Replicas of the topics a service creates itself (the calculator's leader-election
    # topic): 1 on one broker; 3 on three (compose, `egov up --kafka-brokers 3`).
    topic_replication: int = 1
    # Publish catalog replacements on the catalog topic before they take effect (tests of
    # the API without a broker turn it off).
    catalog_log_enabled: bool = True
    # Periodic snapshots of Redis for `egov restore` (unset: none): directory, interval, how
    # many to keep. One calculator takes each (a Redis lock elects it).
    snapshot_dir: str | None = None
    snapshot_interval_s: float = Field(
        3600.0,
        description="Seconds between snapshots of Redis (with EGOV_SNAPSHOT_DIR).",
    )
    snapshot_keep: int = Field(
        24,
        description="Snapshots kept in EGOV_SNAPSHOT_DIR; older ones are deleted.",
    )
    # Seconds a stopping calculator lets its batch in flight finish before exiting unacked.
    calculator_stop_grace_s: float = 5.0
    # Seconds without heartbeats before a Faust worker's partitions go to the others.
    kafka_session_timeout_s: float = 10.0
    # Seconds between checks that Redis still holds every record this calculator applied.
    calculator_gap_check_interval_s: float = 2.0
    # Bytes of an invalid record's value kept in its dead-letter entry (base64 adds a third;
    # the broker's default message limit is 1 MB): larger values are truncated, by reference.
    deadletter_max_value_bytes: int = 256 * 1024
    # Seconds a starting service waits for Kafka before it gives up checking its topics.
    topic_check_wait_s: float = 60.0
    calculator_group: str = Field(
        "egov-calculator",
        description=(
            "Kafka consumer group of the calculators (`egov rebuild`/`restore` refuse while it "
            "has live members)."
        ),
    )
    alerts_group: str = Field(
        "egov-alerts",
        description="Kafka consumer group of the alerts service.",
    )
    # Seconds between coalesced publications of changed indicators.
    calculator_publish_interval_s: float = 1.0
    # Seconds between exports of business metrics and consumer lag.
    metrics_interval_s: float = 10.0

    alerts_min_denominator: int = Field(
        30,
        description="A breach is judged only once the year-to-date denominator reaches this many.",
    )
    # A breach resolves only once the value is back above target + this margin (points).
    alerts_resolve_margin: float = 1.0
    # Target sets evaluated besides the targets in force (e.g. an evaluation set).
    alerts_target_sets: list[str] = Field(default_factory=list)
    alerts_check_interval_s: float = Field(
        30.0,
        description=(
            "Seconds between the alerts service's timed checks (overdue, silence, pipeline, "
            "re-posting to Alertmanager)."
        ),
    )
    alerts_outbox_interval_s: float = Field(
        1.0,
        description="Seconds between passes over the notification outbox.",
    )
    alerts_max_attempts: int = Field(
        20,
        description="Delivery attempts of one notification before it is given up (failed).",
    )
    # A notification being sent is leased this long; a sender that died mid-send (after the
    # receiver accepted, before marking it done) is retried after the lease, same ids.
    alerts_outbox_lease_s: float = 60.0
    # The pipeline is behind (one pipeline_behind alert, no silence alerts) while the
    # calculator's consumer lag, measured by the alerts service, reaches this many events …
    alerts_pipeline_max_lag: int = 1000
    # … or events wait and its committed offsets have not moved for this many seconds.
    alerts_pipeline_max_stall_s: float = 120.0
    # Silence: no events for this many working hours (Mon–Fri 07:00–17:00 local).
    alerts_silence_working_hours: float = 2.0
    alerts_working_days: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4],
        description="Working days for silence (0 = Monday … 6 = Sunday).",
    )
    alerts_working_start_hour: int = Field(
        7,
        description="Start of the working day (local hour) for silence.",
    )
    alerts_working_end_hour: int = Field(
        17,
        description="End of the working day (local hour) for silence.",
    )
    alerts_digest_hour: int = Field(
        7,
        description="Local hour after which the daily digest email is sent (once a day).",
    )
    alerts_routes: list[AlertRoute] = Field(
        default_factory=lambda: [AlertRoute(emails=["cntt@egov-monitor.local"])],
        description=(
            'Who hears about which alerts: JSON list of `{"groups": [...], "severities": '
            '[...], "rules": [...], "emails": [...], "webhooks": [...]}`; empty match lists '
            "match everything."
        ),
    )
    alerts_digest_emails: list[str] = Field(
        default_factory=lambda: ["cntt@egov-monitor.local"],
        description="Recipients of the daily digest.",
    )
    dashboard_url: str = Field(
        "http://127.0.0.1:3000/d/egov-overview",
        description="Grafana dashboard linked from alert messages and the board.",
    )

    smtp_host: str = Field(
        "127.0.0.1",
        description="SMTP relay for alert mail (the local stack's mail sink by default).",
    )
    smtp_port: int = Field(2525, description="Port of the SMTP relay.")
    smtp_starttls: bool = Field(False, description="Use STARTTLS with the SMTP relay.")
    smtp_username: str | None = Field(None, description="SMTP login (unset: no authentication).")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_from: str = Field(
        "egov-monitor <canhbao@egov-monitor.local>",
        description="From address of alert mail (also the domain of its Message-ID).",
    )
    smtp_timeout_s: float = Field(
        10.0,
        description="Seconds before an SMTP delivery attempt is abandoned (and retried).",
    )
    # HMAC key of the webhook signatures (unset: the dev secret in development).
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = Field(
        5.0,
        description="Seconds before a webhook delivery attempt is abandoned (and retried).",
    )
    alertmanager_url: str | None = Field(
        None,
        description="Alertmanager the alerts service posts its alerts to (v2 API); unset: none.",
    )
    default_target_set: str | None = Field(
        None,
        description=(
            "Target set the API judges against when a request names none (unset: the targets "
            "in force)."
        ),
    )

    # What people see (services/api/routes/public.py, routes_board.py): who may embed the
    # public results page in a frame (CSP frame-ancestors sources, e.g. the portal's origin),
    # the Prometheus the board links to, and the local mail sink's store the board lists.
    public_frame_ancestors: list[str] = Field(
        default_factory=lambda: ["'self'"],
        description=(
            "Who may embed the public results page in a frame: CSP frame-ancestors sources "
            "of `/public/ket-qua/embed` (e.g. the portal's origin); the full page never."
        ),
    )
    prometheus_url: str = Field(
        "http://127.0.0.1:9090",
        description="Prometheus the board links to.",
    )
    mail_dir: str | None = Field(
        None,
        description=(
            "The local mail sink's store (`.eml` files and `index.jsonl`) the board lists; "
            "unset: no mail panel."
        ),
    )
    board_poll_s: float = Field(
        1.0,
        description=(
            "Seconds between the board's checks for changed figures, alerts and mail while a "
            "board is open."
        ),
    )

    # Where Faust workers keep their local state (nothing durable: state lives in Redis).
    faust_data_dir: str = ".run/faust"

    timezone: str = Field(
        "Asia/Ho_Chi_Minh",
        description=(
            "Time zone of the province. Informational: periods and working hours are always "
            "computed in Asia/Ho_Chi_Minh (shared/domain/calendar.py)."
        ),
    )
    log_level: str = Field(
        "INFO",
        description="Log level of the JSON logs (DEBUG, INFO, WARNING, ERROR).",
    )

    topics: Topics = Field(default_factory=Topics)

    @field_validator(
        "smtp_username", "smtp_password", "alertmanager_url", "default_target_set", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """An empty variable (compose's ``${EGOV_SMTP_USERNAME:-}``) means not set."""
        return None if value == "" else value

    @field_validator("ingest_tokens", mode="before")
    @classmethod
    def _bare_ingest_tokens(cls, value: object) -> object:
        """``{"source": "token"}`` (no agency list) is accepted as well as the full form."""
        if isinstance(value, dict):
            bare = (str, SecretStr)
            return {k: {"token": v} if isinstance(v, bare) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _development_defaults(self) -> Settings:
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


def dev_secret(value: SecretStr | None) -> bool:
    return value is not None and value.get_secret_value() in DEV_TOKENS


def token_book(settings: Settings) -> TokenBook:
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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
