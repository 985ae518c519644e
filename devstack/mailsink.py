"""The local stack's mail sink: an SMTP server (aiosmtpd) on loopback that accepts every
message and stores it under the run directory (``.run/mail/``: ``.eml`` files and
``index.jsonl``, see ``shared/platform/mailbox.py``), so the alert mails of ``make run``
can be read.

``python -m devstack.mailsink --port PORT --dir DIR`` (what ``make up`` starts); nothing
leaves the machine: it relays nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.paths import REPO
from devstack.ports import free_port, port_open
from devstack.processes import ManagedProcess, wait_until
from shared.platform.config import ENV_PREFIX
from shared.platform.mailbox import store_message


class StoreHandler:
    """aiosmtpd handler: every message is accepted and stored."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        await asyncio.to_thread(
            store_message, self.directory, str(envelope.mail_from), list(envelope.rcpt_tos), data
        )
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    from aiosmtpd.smtp import SMTP

    directory.mkdir(parents=True, exist_ok=True)
    handler = StoreHandler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, enable_SMTPUTF8=True, hostname="egov-mailsink.local"),
        host=host,
        port=port,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"mail sink on {host}:{port}, storing in {directory}", flush=True)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.dir))


@dataclass(frozen=True)
class LocalMail:
    """The running sink of the local stack: where the alerts service sends, where it stores."""

    port: int
    directory: Path
    process: ManagedProcess

    def service_settings(self) -> dict[str, object]:
        """Settings of the stack's services: the alerts service sends to the sink (unless
        ``EGOV_SMTP_HOST`` names another relay), the API's board lists what it stored."""
        out: dict[str, object] = {"mail_dir": str(self.directory)}
        if f"{ENV_PREFIX}SMTP_HOST" not in os.environ:
            out |= {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_starttls": False}
        return out


def start_local_mail(run_dir: Path, log_dir: Path, pid_file: Path | None = None) -> LocalMail:
    """The stack's sink on a free loopback port, storing under ``<run dir>/mail``."""
    port = free_port()
    directory = run_dir / "mail"
    return LocalMail(port, directory, start_mail_sink(port, directory, log_dir, pid_file))


def start_mail_sink(
    port: int, directory: Path, log_dir: Path, pid_file: Path | None = None
) -> ManagedProcess:
    """Start the sink as a process of the stack; return once it accepts connections."""
    process = ManagedProcess(
        "mail",
        [sys.executable, "-m", "devstack.mailsink", "--port", str(port), "--dir", str(directory)],
        log_dir / "mail.log",
        cwd=REPO,
        pid_file=pid_file,
    )
    process.start()
    try:
        wait_until(lambda: port_open(port), 20.0, f"mail sink on 127.0.0.1:{port}", process)
    except BaseException:
        process.stop()
        raise
    return process


if __name__ == "__main__":
    main()
