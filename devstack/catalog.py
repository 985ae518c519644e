"""The local stack's agency catalog: the packaged one, An Giang in time
(``shared/domain/data/agencies-an-giang.csv``).

A fresh stack gets it when a service first reads the catalog (Redis is seeded with the
packaged file). A stack whose Redis was seeded by an earlier release holds the 31 units of
2024 without dates: the demo's events of the merged province (``H01.…``) would all be
refused. ``up`` then loads the packaged catalog, through the catalog log like
``egov catalog load-agencies`` does — unless that would drop a code with figures (a catalog
of one's own, e.g. one loaded by hand): that one is kept, and said so.
"""

from __future__ import annotations

import asyncio

from shared.domain.catalog import PACKAGED_AGENCIES, load_agencies
from shared.platform.config import Settings
from shared.store.catalog_log import CatalogLog
from shared.store.catalogs import CatalogStore
from shared.store.client import redis_from_url
from shared.store.exceptions import DroppedAgenciesError


async def _ensure(redis_url: str, settings: Settings) -> str:
    packaged = load_agencies()
    redis = redis_from_url(redis_url, settings=settings)
    log = CatalogLog(settings.kafka_bootstrap, settings.topics.catalog)
    store = CatalogStore(redis, log if settings.catalog_log_enabled else None)
    try:
        current = (await store.load()).agencies
        missing = packaged.codes - current.codes
        if not missing:
            return f"{len(current)} agencies, every unit of {PACKAGED_AGENCIES} among them"
        try:
            rows = await store.replace_agencies(packaged.agencies.values())
        except DroppedAgenciesError as exc:
            return (
                f"kept the catalog in Redis ({len(current)} agencies; {len(missing)} units of "
                f"{PACKAGED_AGENCIES} missing, demo events of those refused): {exc}"
            )
        return f"{PACKAGED_AGENCIES} loaded ({rows} rows; {len(missing)} units were missing)"
    finally:
        log.close()
        await redis.aclose()


def ensure_packaged_catalog(redis_url: str, settings: Settings) -> str:
    """Load the packaged agency catalog into the stack's Redis when units of it are missing
    there; returns what was done, for the start-up report."""
    return asyncio.run(_ensure(redis_url, settings))
