"""The store's errors: catalog log, catalog replacement, snapshots."""

from __future__ import annotations

from redis.exceptions import ConnectionError as RedisConnectionError

from shared.domain.alerts import Alert
from shared.exceptions import EgovError


class CatalogLogError(EgovError, RuntimeError):
    """The catalog topic could not take the new catalog: nothing was changed."""


class CatalogHistoryUnavailable(EgovError, RuntimeError):
    """The catalog topic could not be read (``GET /v1/catalog/history``)."""


class DroppedAgenciesError(EgovError, ValueError):
    """A new agency catalog leaves out codes that have figures."""

    def __init__(self, codes: list[str]) -> None:
        self.codes = codes
        super().__init__(
            f"agency code(s) {', '.join(codes)} have figures but are not in the new catalog: "
            "end them with valid_to (and successor_code) instead of removing them; "
            "replacing the catalog never rewrites the past"
        )


class DroppedProceduresError(EgovError, ValueError):
    """A new procedure catalog leaves out procedures counted in figures: ``dropped`` holds
    (procedure code, its agency, the years whose figures count it)."""

    def __init__(self, dropped: list[tuple[str, str, list[int]]]) -> None:
        self.dropped = dropped
        self.codes = [code for code, _, _ in dropped]
        named = ", ".join(
            f"{code} ({agency}: {', '.join(str(y) for y in years)})"
            for code, agency, years in dropped
        )
        super().__init__(
            f"procedure(s) {named} are counted in the figures of those years (their agency has "
            "dossiers counted while the procedure was in the catalog) but are not in the new "
            "catalog under that agency: end them with valid_to instead of removing them; "
            "replacing the catalog never rewrites the past"
        )


class SnapshotRefused(EgovError, RuntimeError):
    """Snapshots are of one Redis server; a Redis Cluster has none."""


class AlertNotFound(EgovError, LookupError):
    """No alert has this key."""


class AlertConflict(EgovError, RuntimeError):
    """The alert changed state while the command was applied (or not to the state the
    caller expected): nothing was written."""

    def __init__(self, key: str, current: Alert | None) -> None:
        super().__init__(f"alert {key!r} changed state")
        self.key = key
        self.current = current


class CatalogUnavailable(EgovError, RedisConnectionError):
    """Redis does not answer and no catalog was read from it yet (a Redis error: the API
    answers 503 ``redis_unavailable``, ingest 503 ``catalog_unavailable``)."""


class RestoreInProgress(EgovError, RuntimeError):
    """``egov restore`` holds the fence (``restore:fence``): nothing may be applied now."""
