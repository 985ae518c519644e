"""Operator commands on the live data: rebuild figures from Kafka, replace catalogs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from redis.asyncio import Redis
from rich.console import Console

from services.calculator.rebuild import rebuild
from shared.catalog import AgencyCatalog
from shared.catalog_store import CatalogStore
from shared.config import get_settings
from shared.procedures import ProcedureCatalog

console = Console()
catalog_app = typer.Typer(
    help="Danh mục — load catalogs into the running system.", no_args_is_help=True
)


def rebuild_command(
    keep_state: Annotated[bool, typer.Option(help="Apply on top of the current state")] = False,
) -> None:
    """Re-derive every figure from the event topics, from offset 0 (stop the calculator first)."""
    report = asyncio.run(rebuild(get_settings(), flush=not keep_state))
    console.print(
        f"rebuild: {report.records} records, {report.applied} applied, "
        f"{report.duplicates} duplicates, {report.invalid} invalid, "
        f"{report.deleted_keys} keys deleted, {report.seconds:.1f} s "
        f"({report.records / max(report.seconds, 1e-9):,.0f} records/s)"
    )


async def _load(kind: str, path: Path) -> int:
    redis = Redis.from_url(get_settings().redis_url)
    store = CatalogStore(redis)
    text = path.read_text(encoding="utf-8-sig")
    try:
        if kind == "procedures":
            return await store.replace_procedures(
                ProcedureCatalog.from_csv_text(text).procedures.values()
            )
        return await store.replace_agencies(AgencyCatalog.from_csv_text(text).agencies.values())
    finally:
        await redis.aclose()


@catalog_app.command("load-procedures")
def load_procedures(path: Path) -> None:
    """Replace the procedure catalog with a CSV file (services pick it up within seconds)."""
    console.print(f"procedures: {asyncio.run(_load('procedures', path))} rows loaded")


@catalog_app.command("load-agencies")
def load_agencies_command(path: Path) -> None:
    """Replace the agency catalog with a CSV file (services pick it up within seconds)."""
    console.print(f"agencies: {asyncio.run(_load('agencies', path))} rows loaded")
