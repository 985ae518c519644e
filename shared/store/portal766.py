"""The national portal's Decision 766 exports as imported (``PUT /v1/index766/portal/…``,
``egov portal-import``): one JSON document per period in the hash
``index766:{portal}:exports`` (field = the period's label), with the import time, who
imported it and the file's SHA-256 digest. A re-import of a period replaces its document
(one HSET); the figures are a reference for the analysts' reconciliation, never an input
to the score."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.domain.portal766 import FileFormat, PortalRow
from shared.store.client import RedisClient

EXPORTS_KEY = "index766:{portal}:exports"


class ImportedExport(BaseModel):
    """What an import recorded, without the rows."""

    period: str = Field(examples=["2026-10"])
    imported_at: datetime
    imported_by: str = Field(description="the admin token's name, or `egov` and the user")
    digest: str = Field(description="sha256 of the file as received", examples=["sha256:…"])
    format: FileFormat
    filename: str | None = None
    version: str = Field(description="the scoring version whose group maxima checked it")
    rows: int


class StoredExport(ImportedExport):
    units: list[PortalRow]


class PortalExports:
    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis

    async def replace(self, export: StoredExport) -> None:
        await self.redis.hset(EXPORTS_KEY, export.period, export.model_dump_json())

    async def get(self, period: str) -> StoredExport | None:
        raw = await self.redis.hget(EXPORTS_KEY, period)
        return None if raw is None else StoredExport.model_validate_json(raw)

    async def imported(self) -> list[ImportedExport]:
        """Every period imported, latest period first."""
        docs = [StoredExport.model_validate_json(v) for v in (await self.redis.hvals(EXPORTS_KEY))]
        return [
            ImportedExport.model_validate(d.model_dump(exclude={"units"}))
            for d in sorted(docs, key=lambda d: d.period, reverse=True)
        ]
