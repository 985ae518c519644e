"""What every API route needs, built once per app and reached through ``request.app.state``."""

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from fastapi import Depends, Request

from services.api import gc_pauses
from services.api.errors import bad_parameter
from services.api.reports.index766 import Totals
from services.api.reports.score_windows import ScoreWindows
from services.api.response_cache import ResponseCache
from shared.domain.exceptions import PeriodError, ScopeError
from shared.domain.index766 import IndexScore
from shared.domain.indicators import Indicator, load_indicators
from shared.domain.periods import Period, parse_period
from shared.domain.scopes import Scope, parse_scope, scope_on
from shared.domain.targets import TargetBook, load_targets
from shared.platform.auth import FailureLimiter, RateLimiter, authorize
from shared.platform.config import ApiSettings, token_book
from shared.platform.tokens import TokenBook
from shared.store.catalog_log import CatalogHistory, CatalogLog
from shared.store.catalogs import CatalogCache, Catalogs
from shared.store.client import RedisClient, redis_from_url
from shared.store.indicator_store import IndicatorStore


@dataclass
class ApiContext:
    settings: ApiSettings
    redis: RedisClient
    store: IndicatorStore
    catalogs: CatalogCache
    indicators: dict[str, Indicator]
    targets: TargetBook
    tokens: TokenBook
    limiter: RateLimiter
    responses: ResponseCache
    failures: FailureLimiter
    # the catalog log, summarised (GET /v1/catalog/history); None: the log is off
    catalog_history: CatalogHistory | None = None
    # Decision 766 scores of a running period, for as long as their inputs hold
    index766_scores: ScoreWindows[IndexScore] = field(default_factory=ScoreWindows)
    index766_totals: ScoreWindows[dict[str, Totals]] = field(default_factory=ScoreWindows)

    @classmethod
    def create(cls, settings: ApiSettings) -> "ApiContext":
        redis = redis_from_url(settings.redis_url, settings=settings)
        store = IndicatorStore(redis)
        return cls(
            settings,
            redis,
            store,
            CatalogCache(
                redis,
                log=CatalogLog(settings.kafka_bootstrap, settings.topics.catalog)
                if settings.catalog_log_enabled
                else None,
                on_load=gc_pauses.freeze_long_lived,
            ),
            load_indicators(),
            load_targets(),
            token_book(settings),
            RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
            ResponseCache(store, stale_s=settings.api_stale_ms / 1000),
            FailureLimiter(settings.auth_failures_per_minute),
            CatalogHistory(settings.kafka_bootstrap, settings.topics.catalog)
            if settings.catalog_log_enabled
            else None,
        )

    def indicator(self, name: str) -> Indicator:
        found = self.indicators.get(name)
        if found is None:
            raise bad_parameter(
                "indicator", f"unknown indicator {name!r}; allowed: " + ", ".join(self.indicators)
            )
        return found

    def period(self, text: str) -> Period:
        try:
            return parse_period(text)
        except PeriodError as exc:
            raise bad_parameter("period", str(exc)) from None

    def scope(
        self,
        text: str,
        catalogs: Catalogs,
        period: Period | None = None,
        *,
        on: date | None = None,
    ) -> Scope:
        """The scope for ``period`` (aggregates: the agencies valid at some time in it), or
        as it stands on the day ``on`` (a "now" view passes today), or — with neither —
        every agency of the catalog (§4a.6)."""
        try:
            if period is not None:
                return parse_scope(text, catalogs.agencies, period.start, period.end)
            if on is not None:
                return scope_on(text, catalogs.agencies, on)
            return parse_scope(text, catalogs.agencies)
        except ScopeError as exc:
            raise bad_parameter("scope", str(exc)) from None

    def target_set(self, name: str | None) -> str | None:
        chosen = name or self.settings.default_target_set
        if chosen is not None and chosen not in self.targets.sets:
            raise bad_parameter(
                "target_set",
                f"unknown target set {chosen!r}; allowed: " + ", ".join(sorted(self.targets.sets)),
            )
        return chosen


# The dependencies are coroutines: FastAPI runs a plain ``def`` dependency in its thread
# pool, two thread hand-overs per request (a sixth of a cached response's CPU time). They
# only compare a SHA-256 and count: nothing here blocks.


async def get_context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def reader(request: Request) -> str:
    """Read access (read or admin scope); the token's name, for the record."""
    ctx: ApiContext = request.app.state.ctx
    return authorize(request, ctx.tokens, "read", ctx.limiter, ctx.failures).name


async def operator(request: Request) -> str:
    """Acknowledge and silence alerts (operate or admin scope; read is not enough)."""
    ctx: ApiContext = request.app.state.ctx
    return authorize(request, ctx.tokens, "operate", ctx.limiter, ctx.failures).name


async def admin(request: Request) -> str:
    ctx: ApiContext = request.app.state.ctx
    return authorize(request, ctx.tokens, "admin", ctx.limiter, ctx.failures).name


Ctx = Annotated[ApiContext, Depends(get_context)]
Reader = Annotated[str, Depends(reader)]
Operator = Annotated[str, Depends(operator)]
Admin = Annotated[str, Depends(admin)]
