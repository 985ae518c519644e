"""A directory of received mail: one ``.eml`` file per message and ``index.jsonl`` (one JSON
line per message, appended after its file is complete). The local stack's mail sink
(``devstack/mailsink.py``) writes it; the ICT board lists the last messages from it."""

from __future__ import annotations

import os
import re
import threading
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from pydantic import BaseModel

from shared.domain.calendar import now_utc

INDEX = "index.jsonl"
FILE_NAME = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9]{6}\.eml$")
_lock = threading.Lock()


class MailEntry(BaseModel):
    file: str
    received_at: datetime
    mail_from: str
    to: list[str]
    subject: str
    notification_id: str | None = None
    size: int


def store_message(directory: Path, mail_from: str, rcpt_tos: list[str], data: bytes) -> MailEntry:
    """Write the message as ``<time>-<seq>.eml`` and add it to the index."""
    directory.mkdir(parents=True, exist_ok=True)
    msg = message_from_bytes(data, policy=policy.default)
    received = now_utc()
    with _lock:
        index = directory / INDEX
        seq = sum(1 for _ in index.open("rb")) + 1 if index.exists() else 1
        name = f"{received:%Y%m%dT%H%M%S}-{seq:06d}.eml"
        tmp = directory / f".{name}.tmp"
        tmp.write_bytes(data)
        tmp.replace(directory / name)
        entry = MailEntry(
            file=name,
            received_at=received,
            mail_from=mail_from,
            to=list(rcpt_tos),
            subject=str(msg.get("Subject", "")),
            notification_id=msg.get("X-Egov-Notification-Id"),
            size=len(data),
        )
        with index.open("a", encoding="utf-8") as f:
            f.write(entry.model_dump_json() + "\n")
    return entry


def index_stamp(directory: Path | None) -> tuple[int, int]:
    """(size, mtime) of the index: changes whenever a message arrives."""
    if directory is None:
        return (0, 0)
    try:
        st = os.stat(directory / INDEX)
    except OSError:
        return (0, 0)
    return (st.st_size, st.st_mtime_ns)


def recent(directory: Path | None, count: int = 10) -> list[MailEntry]:
    """The last ``count`` messages, newest first."""
    if directory is None:
        return []
    index = directory / INDEX
    try:
        with index.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            lines = f.read().splitlines()
    except OSError:
        return []
    out: list[MailEntry] = []
    for line in reversed(lines):
        if len(out) >= count:
            break
        try:
            out.append(MailEntry.model_validate_json(line))
        except ValueError:
            continue  # the first, cut line of the tail
    return out


def read_message(directory: Path | None, name: str) -> EmailMessage | None:
    """The stored message ``name`` (a file name of the index), or None."""
    if directory is None or not FILE_NAME.match(name):
        return None
    try:
        data = (directory / name).read_bytes()
    except OSError:
        return None
    msg = message_from_bytes(data, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    return content if isinstance(content, str) else ""
