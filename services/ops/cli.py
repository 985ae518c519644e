"""`egov`: production operations on the live data — rebuild figures from Kafka, snapshot
and restore Redis, replace catalogs, import the national portal's 766 export. In a
development checkout the local stack's commands (devstack) are added to the same command."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import importlib
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from services.ops.exceptions import (
    RebuildRefused,
    RestoreRefused,
    YearArchiveFileError,
    YearsRefused,
)
from services.ops.rebuild import rebuild
from services.ops.snapshots import restore
from services.ops.years import ArchiveReport, RestoreYearReport, archive_year, restore_year
from shared.domain.catalog import PACKAGED_AGENCIES, packaged_agencies_text, parse_agencies_csv
from shared.domain.exceptions import CatalogFileError, PeriodError, PortalFileError
from shared.domain.periods import parse_period
from shared.domain.procedures import ProcedureCatalog
from shared.platform.config import OpsSettings, load
from shared.platform.version import VERSION
from shared.readmodel.portal766 import ImportOutcome, import_export
from shared.store.archived_years import read_archived_years
from shared.store.catalog_log import CatalogLog
from shared.store.catalogs import CatalogStore
from shared.store.client import redis_from_url
from shared.store.exceptions import (
    CatalogLogError,
    DroppedAgenciesError,
    DroppedProceduresError,
    SnapshotRefused,
)
from shared.store.indicator_store import IndicatorStore
from shared.store.relink import RelinkReport, changed_units, relink_units, reshare_moved
from shared.store.snapshots import take_snapshot

console = Console()
app = typer.Typer(
    help="egov-monitor — giám sát chỉ tiêu chính quyền điện tử.", no_args_is_help=True
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"egov-monitor {VERSION}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the release (CHANGELOG.md) and exit.",
        ),
    ] = False,
) -> None:
    """egov-monitor — giám sát chỉ tiêu chính quyền điện tử."""


catalog_app = typer.Typer(
    help="Danh mục — load catalogs into the running system.", no_args_is_help=True
)

years_app = typer.Typer(
    help="Năm đã đóng — archive a closed year's entity states to a file, restore them.",
    no_args_is_help=True,
)


def rebuild_command(
    keep_state: Annotated[bool, typer.Option(help="Apply on top of the current state")] = False,
) -> None:
    """Re-derive every figure from the event topics, from offset 0 (stop the calculator first)."""
    try:
        report = asyncio.run(rebuild(load(OpsSettings), flush=not keep_state))
    except RebuildRefused as exc:
        console.print(f"[red]rebuild refused[/red]: {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"rebuild: {report.records} records, {report.applied} applied, "
        f"{report.duplicates} duplicates, {report.invalid} invalid, "
        f"{report.deleted_keys} keys deleted, {report.seconds:.1f} s "
        f"({report.records / max(report.seconds, 1e-9):,.0f} records/s)"
        + (
            f"; the previous keyspace {report.kept_keyspace} kept (a replica did not "
            "acknowledge the switch in time; the next rebuild deletes it)"
            if report.kept_keyspace
            else ""
        )
    )


def snapshot_command(
    directory: Annotated[
        Path | None, typer.Option(help="Where to write it (default EGOV_SNAPSHOT_DIR)")
    ] = None,
) -> None:
    """Write a consistent snapshot of Redis (figures, applied offsets, catalogs, alerts)."""
    settings = load(OpsSettings)
    target = directory or (Path(settings.snapshot_dir) if settings.snapshot_dir else None)
    if target is None:
        console.print("[red]no directory[/red]: pass --directory or set EGOV_SNAPSHOT_DIR")
        raise typer.Exit(2)
    try:
        path = take_snapshot(settings.redis_url, target, settings.snapshot_keep)
    except SnapshotRefused as exc:
        console.print(f"[red]snapshot refused[/red]: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(f"snapshot: {path} ({path.stat().st_size:,} bytes)")


def restore_command(
    snapshot: Annotated[
        Path | None, typer.Option(help="Snapshot file (default: the latest in EGOV_SNAPSHOT_DIR)")
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite a Redis that is not empty")] = False,
) -> None:
    """Restore Redis: latest snapshot + catalogs from the catalog topic + replay of the
    event log's tail (stop the calculator first)."""
    try:
        report = asyncio.run(restore(load(OpsSettings), snapshot, force=force))
    except RestoreRefused as exc:
        console.print(f"[red]restore refused[/red]: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(
        f"restore: {report.snapshot or 'no snapshot (full replay)'}; {report.keys:,} keys in "
        f"{report.load_seconds:.1f} s; {report.catalogs_restored} catalogs; tail "
        f"{report.tail_records:,} records ({report.tail_applied:,} applied) in "
        f"{report.tail_seconds:.1f} s; total {report.seconds:.1f} s"
    )


async def _load(kind: str, text: str) -> int:
    rows, _ = await _load_reporting(kind, text)
    return rows


async def _load_reporting(kind: str, text: str) -> tuple[int, RelinkReport | None]:
    """The rows loaded and, for an agency catalog that changes which unit continues which,
    the relink of the dossiers already counted (``services/ops/relink.py``)."""
    # parse and check the file before touching Redis
    procedures = ProcedureCatalog.from_csv_text(text) if kind == "procedures" else None
    agencies = parse_agencies_csv(text) if procedures is None else None
    settings = load(OpsSettings)
    redis = redis_from_url(settings.redis_url, settings=settings)
    log = CatalogLog(settings.kafka_bootstrap, settings.topics.catalog)
    store = CatalogStore(redis, log)
    try:
        if procedures is not None:
            return await store.replace_procedures(procedures.procedures.values()), None
        assert agencies is not None
        before = (await store.load()).agencies
        rows = await store.replace_agencies(agencies.agencies.values())
        units = changed_units(before, agencies)
        if not units:
            return rows, None
        return rows, await relink_units(redis, units, catalog=agencies)
    finally:
        log.close()
        await redis.aclose()


async def _relink(units: list[str] | None) -> tuple[RelinkReport, RelinkReport]:
    settings = load(OpsSettings)
    redis = redis_from_url(settings.redis_url, settings=settings)
    try:
        # the catalog is in force already: no settling wait
        linked = await relink_units(redis, units, settle_s=0.0)
        return linked, await reshare_moved(IndicatorStore(redis), units)
    finally:
        await redis.aclose()


def _print_relink(report: RelinkReport) -> None:
    console.print(
        f"relink: {report.records:,} dossier records of {len(report.units)} units looked at "
        f"({', '.join(report.units)}); {report.written:,} records joined to their dossier's "
        "records at the units they continue",
        highlight=False,
        soft_wrap=True,
    )


def relink_command(
    unit: Annotated[
        list[str] | None,
        typer.Option(help="A unit to relink (repeatable; default: every unit continuing another)"),
    ] = None,
) -> None:
    """Link dossiers already counted across the catalog's successor chains, as the
    calculator links them when an event comes (after a successor_code was added or
    changed; `egov catalog load-agencies` does it by itself), and bring every moved
    dossier's records to their join again (the repair after a Redis that lost writes: a
    failover, an AOF cut). Safe with calculators running; idempotent."""
    try:
        linked, moved = asyncio.run(_relink(unit))
    except ValueError as exc:
        console.print(f"[red]relink refused[/red]: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    _print_relink(linked)
    console.print(
        f"moved dossiers: {moved.records:,} dossier records of {len(moved.units)} agencies "
        f"looked at; {moved.written:,} records brought to their dossier's join",
        highlight=False,
        soft_wrap=True,
    )


@catalog_app.command("load-procedures")
def load_procedures(path: Path) -> None:
    """Replace the procedure catalog with a CSV file (services pick it up within seconds).

    Columns: procedure_code,agency_code,name,service_level,eligible_full_online,fee_required
    (required), citizen_data_connected,certified_copy (default false), valid_from,valid_to
    (dates YYYY-MM-DD inclusive, empty = open-ended). A procedure counted in figures is
    ended with valid_to: a file that drops it is refused.
    """
    try:
        rows = asyncio.run(_load("procedures", path.read_text(encoding="utf-8-sig")))
    except CatalogFileError as exc:
        for error in exc.errors:
            console.print(f"[red]{path}:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except (DroppedProceduresError, CatalogLogError) as exc:
        console.print(f"[red]refused:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"procedures: {rows} rows loaded")


@catalog_app.command("load-agencies")
def load_agencies_command(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="Catalog CSV file (default: the packaged catalog, An Giang in time, "
            "shared/domain/data/agencies-an-giang.csv)"
        ),
    ] = None,
) -> None:
    """Replace the agency catalog with a CSV file (services pick it up within seconds);
    without a file, with the packaged catalog: An Giang in time (the 2024 units ending on
    2025-02-28 or 2025-06-30, the departments of March–June 2025, the 117 units of the
    merged province from 2025-07-01 under their portal codes H01.…).

    Columns: agency_code,name,group,level,parent_code,valid_from,valid_to,successor_code,
    gso_code,source (dates YYYY-MM-DD inclusive, empty = open-ended; ``#`` lines are
    comments). A reorganisation ends agencies with valid_to (and successor_code); a file
    that drops a code which has figures is refused.
    """
    name = str(path) if path is not None else PACKAGED_AGENCIES
    try:
        text = (
            path.read_text(encoding="utf-8-sig") if path is not None else packaged_agencies_text()
        )
        rows, relinked = asyncio.run(_load_reporting("agencies", text))
    except CatalogFileError as exc:
        for error in exc.errors:
            console.print(f"[red]{name}:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    except (DroppedAgenciesError, CatalogLogError) as exc:
        console.print(f"[red]refused:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(f"agencies: {rows} rows loaded from {name}")
    if relinked is not None:  # a successor_code added or changed
        _print_relink(relinked)


async def _years_archive(year: int, out: Path, force: bool) -> ArchiveReport:
    settings = load(OpsSettings)
    redis = redis_from_url(settings.redis_url, settings=settings)
    try:
        return await archive_year(redis, year, out, force=force)
    finally:
        await redis.aclose()


async def _years_restore(path: Path) -> RestoreYearReport:
    settings = load(OpsSettings)
    redis = redis_from_url(settings.redis_url, settings=settings)
    try:
        return await restore_year(redis, path)
    finally:
        await redis.aclose()


@years_app.command("archive")
def years_archive_command(
    year: Annotated[int, typer.Argument(help="A closed year (local calendar)")],
    out: Annotated[Path, typer.Option("--out", help="The archive to write (gzip NDJSON)")],
    force: Annotated[
        bool, typer.Option(help="Archive the previous year too (never the running one)")
    ] = False,
) -> None:
    """Move the entity states of YEAR's closed dossiers and petitions (cohort: first receipt
    in YEAR; resolved, withdrawn or rejected) to a file, and remove them from Redis; the
    year's figures stay. Its late events are dead-lettered (year_archived) from then on.
    Refuses the running year, and the previous one without --force."""
    try:
        report = asyncio.run(_years_archive(year, out, force))
    except (YearsRefused, YearArchiveFileError) as exc:
        console.print(f"[red]archive refused[/red]: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(
        f"years archive {report.year}: {report.states:,} states to {report.file} "
        f"({report.file_bytes:,} bytes, sha256 {report.sha256}); {report.removed:,} removed "
        f"from Redis, {report.states - report.removed:,} changed meanwhile and kept, "
        f"{report.kept_open:,} open kept; Redis used_memory {report.memory_before:,} → "
        f"{report.memory_after:,} bytes",
        highlight=False,
        soft_wrap=True,
    )


@years_app.command("restore")
def years_restore_command(
    path: Annotated[Path, typer.Argument(help="A file of egov years archive")],
) -> None:
    """Put an archive's entity states back where no state exists now (idempotent); when it
    is the file the year's mark names, the year is open to late events again."""
    try:
        report = asyncio.run(_years_restore(path))
    except (YearsRefused, YearArchiveFileError) as exc:
        console.print(f"[red]restore refused[/red]: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    console.print(
        f"years restore {report.year}: {report.states:,} states in the file, "
        f"{report.restored:,} restored, {report.present:,} already present; "
        + ("year unmarked" if report.unmarked else "the year's mark names another file: kept"),
        highlight=False,
        soft_wrap=True,
    )


async def _years_list() -> dict[int, str]:
    settings = load(OpsSettings)
    redis = redis_from_url(settings.redis_url, settings=settings)
    try:
        archived = await read_archived_years(redis)
    finally:
        await redis.aclose()
    return {
        year: f"{rec.file} sha256 {rec.sha256 or '(being written)'}, {rec.states:,} states, "
        f"{rec.archived_at}"
        for year, rec in sorted(archived.items())
    }


@years_app.command("list")
def years_list_command() -> None:
    """The archived years, their files and digests."""
    for year, text in asyncio.run(_years_list()).items():
        console.print(f"{year}: {text}", highlight=False, soft_wrap=True)


async def _portal_import(path: Path, period: str) -> ImportOutcome:
    settings = load(OpsSettings)
    redis = redis_from_url(settings.redis_url, settings=settings)
    try:
        catalogs = await CatalogStore(redis).load()
        return await import_export(
            redis,
            catalogs,
            parse_period(period),
            path.read_bytes(),
            imported_by=f"egov:{getpass.getuser()}",
            now_s=time.time(),
            filename=path.name,
        )
    finally:
        await redis.aclose()


def portal_import_command(
    path: Annotated[Path, typer.Argument(help="The portal's export, XLSX or CSV (UTF-8)")],
    period: Annotated[str, typer.Option(help="The export's period: YYYY-MM (or YYYY-Qn, YYYY)")],
) -> None:
    """Import the national portal's Decision 766 export of a period (columns MA_COQUAN, TEN,
    TDGQ, MDHL, MDSH, TTTT, CLGQ, CKMB, TONG_SCORE), replacing an earlier import of it: the
    analysts' reconciliation (/board/doi-chieu-766) sets it beside egov-monitor's scores.
    Codes not in the catalog in force for the period are listed, never matched by name."""
    try:
        out = asyncio.run(_portal_import(path, period))
    except PeriodError as exc:
        console.print(f"[red]--period:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except PortalFileError as exc:
        for error in exc.errors:
            console.print(f"[red]{path}:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(
        f"portal {out.period}: {out.rows} rows ({out.format}, {out.digest}), {out.matched} "
        f"units matched, {len(out.unknown_codes)} unknown codes, {out.missing} units of the "
        "catalog missing from the file",
        highlight=False,
        soft_wrap=True,
    )
    for unknown in out.unknown_codes:
        console.print(
            f"[yellow]unknown code[/yellow] line {unknown.line}: {unknown.code} ({unknown.name})",
            highlight=False,
            soft_wrap=True,
        )


app.command("rebuild")(rebuild_command)
app.command("snapshot")(snapshot_command)
app.command("restore")(restore_command)
app.command("portal-import")(portal_import_command)
app.command("relink")(relink_command)
app.add_typer(catalog_app, name="catalog")
app.add_typer(years_app, name="years")


def main() -> None:
    """The `egov` entry point: production commands, plus the local stack's when devstack is
    installed."""
    # a service image has no devstack: production commands only
    with contextlib.suppress(ImportError):
        importlib.import_module("devstack.cli")  # registers its commands on ``app``
    app()
