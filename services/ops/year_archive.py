"""The file of `egov years archive` (services/ops/years.py): gzip-compressed NDJSON.

Line 1, the header: ``{"format": "egov-year-archive", "version": 1, "year": …, "layout":
…, "created_at": …}`` (``layout``: the Redis layout the states are encoded in,
``shared/store/keys.py`` ``LAYOUT_VERSION``). Then one line per entity state: ``{"k":
bucket key without the keyspace prefix, "f": base64 field (the entity id), "v": base64
state}``, the bytes exactly as Redis held them. Last, the trailer ``{"end": true,
"states": n}``: a file without it, or with another count, is truncated and refused."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

import orjson
from pydantic import BaseModel, ValidationError

from services.ops.exceptions import YearArchiveFileError

FORMAT: Literal["egov-year-archive"] = "egov-year-archive"


class ArchiveHeader(BaseModel):
    format: Literal["egov-year-archive"] = FORMAT
    version: Literal[1] = 1
    year: int
    layout: int
    created_at: str


@dataclass(frozen=True)
class ArchivedState:
    """One entity state: its bucket hash (without the keyspace prefix), field and value."""

    key: str
    field: bytes
    value: bytes


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ArchiveWriter:
    """Writes the file under a temporary name, renamed to ``path`` only once whole
    (trailer written, flushed and synced); ``states`` and ``sha256`` are set then."""

    def __init__(self, path: Path, header: ArchiveHeader) -> None:
        self.path = path
        self._tmp = path.with_name(path.name + ".partial")
        # closed by close() or abort() (the context manager's exit)
        self._out = gzip.GzipFile(self._tmp, "wb")
        self._out.write(header.model_dump_json().encode() + b"\n")
        self.states = 0
        self.sha256 = ""

    def add(self, state: ArchivedState) -> None:
        line = {
            "k": state.key,
            "f": base64.b64encode(state.field).decode(),
            "v": base64.b64encode(state.value).decode(),
        }
        self._out.write(orjson.dumps(line) + b"\n")
        self.states += 1

    def close(self) -> None:
        self._out.write(orjson.dumps({"end": True, "states": self.states}) + b"\n")
        self._out.close()
        with self._tmp.open("rb") as done:
            os.fsync(done.fileno())
        self._tmp.replace(self.path)
        self.sha256 = file_sha256(self.path)

    def abort(self) -> None:
        self._out.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def read_header(path: Path) -> ArchiveHeader:
    try:
        with gzip.open(path, "rb") as src:
            return ArchiveHeader.model_validate_json(src.readline())
    except (OSError, EOFError, ValidationError) as exc:
        raise YearArchiveFileError(f"{path}: not a year archive ({exc})") from None


def read_states(path: Path) -> Iterator[ArchivedState]:
    """The states in file order; raises :class:`YearArchiveFileError` at the end when the
    trailer is missing or counts otherwise (a truncated file), or on a bad line."""
    read_header(path)
    n = 0
    try:
        with gzip.open(path, "rb") as src:
            src.readline()
            for number, line in enumerate(src, start=2):
                row = orjson.loads(line)
                if not isinstance(row, dict):
                    raise YearArchiveFileError(f"{path}:{number}: not a state")
                if row.get("end") is True:
                    if row.get("states") != n:
                        raise YearArchiveFileError(
                            f"{path}: the trailer counts {row.get('states')} states, "
                            f"the file holds {n}"
                        )
                    return
                try:
                    yield ArchivedState(
                        key=row["k"],
                        field=base64.b64decode(row["f"], validate=True),
                        value=base64.b64decode(row["v"], validate=True),
                    )
                except (KeyError, TypeError, ValueError) as exc:
                    raise YearArchiveFileError(f"{path}:{number}: bad state ({exc})") from None
                n += 1
    except (OSError, EOFError, orjson.JSONDecodeError) as exc:
        raise YearArchiveFileError(f"{path}: unreadable after {n} states ({exc})") from None
    raise YearArchiveFileError(f"{path}: truncated after {n} states (no trailer)")


def verify(path: Path) -> tuple[ArchiveHeader, int]:
    """Read the whole file: its header and number of states, or :class:`YearArchiveFileError`."""
    header = read_header(path)
    return header, sum(1 for _ in read_states(path))
