"""What a closed year keeps: `egov years archive YEAR --out FILE` and `egov years restore
FILE` (docs/operating.md, "Years").

A year's figures (counters, period sets, publications) stay in Redis for ever. Its entity
states are what grows (~330 MB a simulated year): archiving moves the states of the
dossiers and petitions whose cohort (first receipt, local day) is in YEAR and that are
closed (resolved, withdrawn or intake rejected) to a file (``services.ops.year_archive``),
then removes them from Redis. Open ones stay: their later events (a resolution in January
of the next year) apply to them as before. Documents, work files and procedures (a few
percent of the states, no cohort) stay too.

The order makes it safe with calculators running: the year is marked archived first
(``years:archived``), so every calculator dead-letters events dated in it
(``shared.store.archived_years``); after :data:`SETTLE_S` (their caches refreshed) the
states are read and written to the file, the file is read back whole, and each state is
removed only if it is still byte for byte what the file holds (a compare-and-delete
script). The running year and the previous one (figures published + a full year, the
policy) are refused; the previous one is allowed with ``force``.

Restore puts the file's states back where no state exists now (HSETNX: idempotent) and,
when the file is the one the mark names (its sha256), removes the mark: the year's late
events are counted again from then on (those dead-lettered meanwhile stay in the
dead-letter topic).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from services.ops.exceptions import YearsRefused
from services.ops.year_archive import (
    ArchivedState,
    ArchiveHeader,
    ArchiveWriter,
    file_sha256,
    read_states,
    verify,
)
from shared.domain.calendar import LOCAL_TZ, now_utc, today_local
from shared.domain.lifecycle import Dossier, local_month
from shared.store import keys as redis_keys
from shared.store.archived_years import (
    SETTLE_S,
    ArchivedYear,
    mark_archived,
    read_archived_years,
    unmark_archived,
)
from shared.store.client import LuaScript, RedisClient
from shared.store.indicator_store import IndicatorStore

# the entity families archived: dossiers and petitions (a lifecycle with a cohort)
ARCHIVED_FAMILIES = {"d": False, "pk": True}  # family -> petition
# fields per compare-and-delete call, calls per pipeline
_CHUNK = 200
_PIPELINE = 50

# KEYS[1] a bucket; ARGV field, value pairs: each field deleted only while it still holds
# that value (an event applied since the read keeps its state). Returns how many.
_DELETE_UNCHANGED = LuaScript(
    "local n = 0 "
    "for i = 1, #ARGV, 2 do "
    "if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then "
    "redis.call('HDEL', KEYS[1], ARGV[i]) n = n + 1 end end "
    "return n"
)


@dataclass
class ArchiveReport:
    year: int
    file: Path
    sha256: str = ""
    states: int = 0  # written to the file
    removed: int = 0  # removed from Redis (the others changed since they were read)
    kept_open: int = 0  # of the year's cohort, still open: kept
    file_bytes: int = 0
    memory_before: int = 0  # Redis used_memory (one server; 0 on a cluster)
    memory_after: int = 0


@dataclass
class RestoreYearReport:
    year: int
    states: int = 0  # in the file
    restored: int = 0  # put back
    present: int = 0  # a state was there already: left as it is
    unmarked: bool = False


def closed_year(today: date, year: int, force: bool) -> str | None:
    """Why ``year`` may not be archived on ``today`` (``None``: it may)."""
    if year >= today.year:
        return f"{year} is not closed (today is {today.isoformat()})"
    if year == today.year - 1 and not force:
        return (
            f"{year} closed less than a year ago: its late events are still de-duplicated "
            "against its states (the policy keeps them until published + a year); "
            "--force to archive it anyway"
        )
    return None


def _bucket(key: str, ks: str) -> tuple[str, str] | None:
    """(agency, family) of an entity bucket ``{ks}ent:{agency}:<family><n>``."""
    rest = key[len(ks) + len("ent:") :]
    close = rest.find("}:")
    if not rest.startswith("{") or close < 0:
        return None
    return rest[1:close], rest[close + 2 :].rstrip("0123456789")


def archivable(value: bytes, ident: bytes, agency: bytes, petition: bool, year: int) -> str:
    """``"archive"``: closed, cohort in ``year``; ``"open"``: cohort in ``year``, open;
    ``""``: another cohort (or no receipt)."""
    st = Dossier.decode(value, ident, agency, petition)
    if st.rday is None or int(local_month(st.rday)[:4]) != year:
        return ""
    closed = bool(st.flags & 3) or st.decided[0] is not None
    return "archive" if closed else "open"


def _bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode()


async def _year_states(
    redis: RedisClient, ks: str, year: int, report: ArchiveReport
) -> AsyncIterator[ArchivedState]:
    async for raw_key in redis.scan_iter(f"{ks}ent:*", count=1000):
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        found = _bucket(key, ks)
        if found is None or found[1] not in ARCHIVED_FAMILIES:
            continue
        agency, family = found
        petition = ARCHIVED_FAMILIES[family]
        for raw_field, raw_value in (await redis.hgetall(key)).items():
            field, value = _bytes(raw_field), _bytes(raw_value)
            verdict = archivable(value, field, agency.encode(), petition, year)
            if verdict == "archive":
                yield ArchivedState(key[len(ks) :], field, value)
            elif verdict == "open":
                report.kept_open += 1


async def _used_memory(redis: RedisClient) -> int:
    info = await redis.info("memory")
    used = info.get("used_memory") if isinstance(info, dict) else None
    return int(used) if isinstance(used, int | str) else 0


async def _delete_unchanged(redis: RedisClient, ks: str, path: Path) -> int:
    removed = 0
    calls: list[tuple[list[str], list[bytes]]] = []

    async def flush() -> None:
        nonlocal removed
        if calls:
            removed += sum(int(n) for n in await _DELETE_UNCHANGED.run_many(redis, calls))
            calls.clear()

    key = ""
    args: list[bytes] = []
    for state in read_states(path):
        if state.key != key or len(args) >= 2 * _CHUNK:
            if args:
                calls.append(([ks + key], args))
            key, args = state.key, []
            if len(calls) >= _PIPELINE:
                await flush()
        args += [state.field, state.value]
    if args:
        calls.append(([ks + key], args))
    await flush()
    return removed


async def archive_year(
    redis: RedisClient,
    year: int,
    out: Path,
    *,
    force: bool = False,
    today: date | None = None,
    settle_s: float = SETTLE_S,
) -> ArchiveReport:
    """Archive ``year``'s closed entity states to ``out`` (the module's docstring)."""
    refused = closed_year(today or today_local(), year, force)
    if refused:
        raise YearsRefused(refused)
    archived = await read_archived_years(redis)
    # a mark without a digest: an archive that did not finish (it may have removed states
    # already, saved in its file): run again, to a new file, and keep both
    resumed = year in archived
    if resumed and archived[year].sha256:
        raise YearsRefused(f"{year} is archived already (to {archived[year].file})")
    if out.exists():
        raise YearsRefused(f"{out} exists: an archive is never overwritten")
    store = IndicatorStore(redis)
    ks = await store.keyspace()
    layout = await store.layout() or redis_keys.LAYOUT_VERSION
    report = ArchiveReport(year=year, file=out, memory_before=await _used_memory(redis))
    stamp = now_utc().astimezone(LOCAL_TZ).isoformat(timespec="seconds")
    # marked first: from here on no calculator applies an event of the year
    await mark_archived(
        redis, ArchivedYear(year=year, file=out.name, sha256="", states=0, archived_at=stamp)
    )
    removing = False
    try:
        await asyncio.sleep(settle_s)
        header = ArchiveHeader(year=year, layout=layout, created_at=stamp)
        with ArchiveWriter(out, header) as writer:
            async for state in _year_states(redis, ks, year, report):
                writer.add(state)
        _, report.states = verify(out)
        report.sha256, report.file_bytes = writer.sha256, out.stat().st_size
        removing = True
        report.removed = await _delete_unchanged(redis, ks, out)
    except BaseException:
        if not removing and not resumed:  # nothing removed: the year is as it was
            await unmark_archived(redis, year)
        raise
    await mark_archived(
        redis,
        ArchivedYear(
            year=year, file=out.name, sha256=report.sha256, states=report.states, archived_at=stamp
        ),
    )
    report.memory_after = await _used_memory(redis)
    return report


async def restore_year(redis: RedisClient, path: Path) -> RestoreYearReport:
    """Put ``path``'s states back where none exists now; unmark its year when the file is
    the one the mark names."""
    header, count = verify(path)
    store = IndicatorStore(redis)
    layout = await store.layout() or redis_keys.LAYOUT_VERSION
    if header.layout != layout:
        raise YearsRefused(
            f"{path} holds states of layout {header.layout}, Redis is at layout {layout}: "
            "they cannot be read back (the year's figures were re-derived by a rebuild)"
        )
    ks = await store.keyspace()
    report = RestoreYearReport(year=header.year, states=count)
    batch: list[ArchivedState] = []

    async def flush() -> None:
        pipe = redis.pipeline(transaction=False)
        for state in batch:
            pipe.hsetnx(ks + state.key, state.field, state.value)
        put = sum(int(n) for n in await pipe.execute())
        report.restored += put
        report.present += len(batch) - put
        batch.clear()

    for state in read_states(path):
        batch.append(state)
        if len(batch) >= 1000:
            await flush()
    if batch:
        await flush()
    mark = (await read_archived_years(redis)).get(header.year)
    if mark is not None and mark.sha256 == file_sha256(path):
        await unmark_archived(redis, header.year)
        report.unmarked = True
    return report
