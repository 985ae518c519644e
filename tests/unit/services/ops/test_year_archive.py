"""The year archive's file (services/ops/year_archive.py) and the policy of what a closed
year may give up (services/ops/years.py)."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from services.ops.exceptions import YearArchiveFileError
from services.ops.year_archive import (
    ArchivedState,
    ArchiveHeader,
    ArchiveWriter,
    file_sha256,
    read_header,
    read_states,
    verify,
)
from services.ops.years import archivable, closed_year
from shared.domain.lifecycle import Dossier

# binary states as Redis holds them: NUL, newline, bytes that are no UTF-8
STATES = [
    ArchivedState("ent:{so-tttt}:d17", b"hs-0001", b"\x00\x04\n\xff\xfe" + bytes(range(256))),
    ArchivedState("ent:{so-tttt}:d17", b"hs-\xc3\xa9", b""),
    ArchivedState("ent:{xa-an-phu}:pk3", b"pa-9", b'\r\n{}"\\'),
]


def write(path: Path, states: list[ArchivedState]) -> ArchiveWriter:
    header = ArchiveHeader(year=2024, layout=5, created_at="2026-03-01T08:00:00+07:00")
    with ArchiveWriter(path, header) as writer:
        for state in states:
            writer.add(state)
    return writer


def test_states_read_back_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "2024.ndjson.gz"
    writer = write(path, STATES)
    assert list(read_states(path)) == STATES
    header, count = verify(path)
    assert (header.year, header.layout, count) == (2024, 5, 3)
    assert writer.states == 3 and writer.sha256 == file_sha256(path)
    assert not path.with_name(path.name + ".partial").exists()
    with gzip.open(path, "rb") as raw:  # gzip NDJSON: a header, a line a state, a trailer
        assert len(raw.read().splitlines()) == 5


def test_a_truncated_or_miscounted_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.gz"
    write(path, STATES)
    with gzip.open(path, "rb") as raw:
        lines = raw.read().splitlines(keepends=True)
    cut = tmp_path / "cut.gz"
    with gzip.open(cut, "wb") as out:
        out.write(b"".join(lines[:-1]))  # no trailer
    with pytest.raises(YearArchiveFileError, match="truncated after 3 states"):
        verify(cut)
    lied = tmp_path / "lied.gz"
    with gzip.open(lied, "wb") as out:
        out.write(b"".join(lines[:2] + lines[-1:]))  # one state, the trailer counts 3
    with pytest.raises(YearArchiveFileError, match="trailer counts 3"):
        verify(lied)
    other = tmp_path / "other.gz"
    with gzip.open(other, "wb") as out:
        out.write(b'{"format": "something-else"}\n')
    with pytest.raises(YearArchiveFileError, match="not a year archive"):
        read_header(other)


def test_a_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "b.gz"
    header = ArchiveHeader(year=2024, layout=5, created_at="x")
    with pytest.raises(RuntimeError), ArchiveWriter(path, header) as writer:
        writer.add(STATES[0])
        raise RuntimeError("scan failed")
    assert list(tmp_path.iterdir()) == []


def test_the_running_and_the_previous_year_are_not_archived() -> None:
    today = date(2026, 3, 1)
    assert closed_year(today, 2026, force=True) is not None  # never the running year
    assert closed_year(today, 2027, force=True) is not None
    assert "--force" in (closed_year(today, 2025, force=False) or "")
    assert closed_year(today, 2025, force=True) is None
    assert closed_year(today, 2024, force=False) is None


def _state(day: date, flags: int = 0, resolved: bool = False, petition: bool = False) -> bytes:
    st = Dossier(petition)
    st.rday = (day - date(1970, 1, 1)).days
    st.flags = flags
    if resolved:
        st.decided[0] = (1_717_200_000_000, b"r-hs-1", True)
        st.fix_pre(b"hs-1")
    st.ids = b"\x01\x02\x03\x04"
    return st.encode(b"hs-1", b"so-tttt")


def test_only_closed_dossiers_of_the_year_are_archived() -> None:
    june = date(2024, 6, 1)

    def verdict(raw: bytes, petition: bool = False) -> str:
        return archivable(raw, b"hs-1", b"so-tttt", petition, 2024)

    assert verdict(_state(june, resolved=True)) == "archive"
    assert verdict(_state(june, flags=1)) == "archive"  # withdrawn
    assert verdict(_state(june, flags=2)) == "archive"  # intake rejected
    assert verdict(_state(june, resolved=True, petition=True), petition=True) == "archive"
    assert verdict(_state(june)) == "open"
    assert verdict(_state(june, petition=True), petition=True) == "open"
    # the cohort is the first receipt's local day: 31 Dec 2024 is 2024, 1 Jan 2025 is not
    assert verdict(_state(date(2024, 12, 31), resolved=True)) == "archive"
    assert verdict(_state(date(2025, 1, 1), resolved=True)) == ""
    assert verdict(_state(date(2023, 12, 31), resolved=True)) == ""
