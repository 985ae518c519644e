"""Settings of every service, read from environment variables prefixed ``EGOV_``.

Defaults are the local stack's (loopback, fixed dev ports); a deployment overrides them,
e.g. ``EGOV_KAFKA_BOOTSTRAP=kafka:9092``. The dev tokens and the dev webhook secret exist
only in development (``EGOV_ENV``, the default) and only while no ``EGOV_TOKENS`` are
issued; production refuses them (``shared/safety.py``). An empty variable means unset.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.tokens import TokenBook, TokenSpec, digest

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

    dossier: str = "egov.dossier.v1"
    document: str = "egov.document.v1"
    deadletter: str = "egov.deadletter.v1"
    indicator_updates: str = "egov.indicator-updates.v1"
    alerts: str = "egov.alerts.v1"
    # Every catalog replacement, in order (shared/catalog_log.py); kept forever.
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

    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Seconds a Redis command may wait for its reply, and a connection for Redis to accept,
    # before the client gives up (a hung Redis or a dead link must not hang a service).
    redis_socket_timeout_s: float = 10.0
    redis_connect_timeout_s: float = 5.0

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8081
    api_host: str = "127.0.0.1"
    api_port: int = 8082
    calculator_host: str = "127.0.0.1"
    calculator_port: int = 8083
    alerts_host: str = "127.0.0.1"
    alerts_port: int = 8084

    # Bearer tokens. Ingest tokens map an emitting source id to its token and agencies; the
    # source is stamped on events that carry none. Unset: the dev tokens in development
    # while no EGOV_TOKENS are issued, none otherwise.
    ingest_tokens: dict[str, IngestToken] = Field(default_factory=dict)
    read_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    # Issued tokens with scopes, digests only (see shared/tokens.py); added to the above.
    tokens: list[TokenSpec] = Field(default_factory=list)
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 200
    # Failed authentications (missing or unknown token, board cookie without a session) in
    # a minute: this many of one token from one address, and that token gets 429 +
    # Retry-After there; this many different failing tokens from one address (guessing),
    # and every token not already used from there gets 429 (shared/auth.py).
    auth_failures_per_minute: int = 10
    # Proxies in front of the services, whose X-Forwarded-For / X-Forwarded-Proto are
    # believed (addresses or CIDR networks, e.g. ["10.0.0.2"]; "*": every peer). The client
    # address (failure limits) and the scheme (the board cookie's Secure flag) then come
    # from them. Empty (default): no forwarded header is believed, from anyone.
    trusted_proxies: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    api_max_body_bytes: int = 1024 * 1024

    ingest_max_body_bytes: int = 5 * 1024 * 1024
    ingest_max_events: int = 10_000
    ingest_produce_timeout_s: float = 10.0
    ingest_retry_after_s: int = 5

    topic_partitions: int = 6
    # Replicas of the topics a service creates itself (the calculator's leader-election
    # topic): 1 on one broker; 3 on three (compose, `egov up --kafka-brokers 3`).
    topic_replication: int = 1
    # Publish catalog replacements on the catalog topic before they take effect (tests of
    # the API without a broker turn it off).
    catalog_log_enabled: bool = True
    # Periodic snapshots of Redis for `egov restore` (unset: none): directory, interval, how
    # many to keep. One calculator takes each (a Redis lock elects it).
    snapshot_dir: str | None = None
    snapshot_interval_s: float = 3600.0
    snapshot_keep: int = 24
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
    calculator_group: str = "egov-calculator"
    alerts_group: str = "egov-alerts"
    # Seconds between coalesced publications of changed indicators.
    calculator_publish_interval_s: float = 1.0
    # Seconds between exports of business metrics and consumer lag.
    metrics_interval_s: float = 10.0

    alerts_min_denominator: int = 30
    # A breach resolves only once the value is back above target + this margin (points).
    alerts_resolve_margin: float = 1.0
    # Target sets evaluated besides the targets in force (e.g. an evaluation set).
    alerts_target_sets: list[str] = Field(default_factory=list)
    alerts_check_interval_s: float = 30.0
    alerts_outbox_interval_s: float = 1.0
    alerts_max_attempts: int = 20
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
    alerts_working_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    alerts_working_start_hour: int = 7
    alerts_working_end_hour: int = 17
    alerts_digest_hour: int = 7
    alerts_routes: list[AlertRoute] = Field(
        default_factory=lambda: [AlertRoute(emails=["cntt@egov-monitor.local"])]
    )
    alerts_digest_emails: list[str] = Field(default_factory=lambda: ["cntt@egov-monitor.local"])
    dashboard_url: str = "http://127.0.0.1:3000/d/egov-overview"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "egov-monitor <canhbao@egov-monitor.local>"
    smtp_timeout_s: float = 10.0
    # HMAC key of the webhook signatures (unset: the dev secret in development).
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = 5.0
    alertmanager_url: str | None = None
    default_target_set: str | None = None

    # What people see (services/api/routes_public.py, routes_board.py): who may embed the
    # public results page in a frame (CSP frame-ancestors sources, e.g. the portal's origin),
    # the Prometheus the board links to, and the local mail sink's store the board lists.
    public_frame_ancestors: list[str] = Field(default_factory=lambda: ["'self'"])
    prometheus_url: str = "http://127.0.0.1:9090"
    mail_dir: str | None = None
    board_poll_s: float = 1.0
    # Seconds a board sign-in lasts (its server-side session and the cookie naming it).
    board_session_ttl_s: int = 12 * 3600
    # Live-board streams (/board/events) open at once per API process; beyond: 503 +
    # Retry-After (each open stream holds a connection and a queue).
    board_max_streams: int = 100

    # Where Faust workers keep their local state (nothing durable: state lives in Redis).
    faust_data_dir: str = ".run/faust"

    timezone: str = "Asia/Ho_Chi_Minh"
    log_level: str = "INFO"

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
