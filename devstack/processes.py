"""Processes the stack starts: own process group, log file, pid file, clean stop."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path


class ManagedProcess:
    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.alive:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = {**os.environ, **(self.env or {})}
        self._proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group, SIGKILL what is left after ``timeout``."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._proc.wait(10)
        self._signal_group(signal.SIGKILL)  # stray children of the group

    def kill(self) -> None:
        """SIGKILL, no chance to clean up (crash tests)."""
        self._signal_group(signal.SIGKILL)
        if self._proc is not None:
            self._proc.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def write_pid(pid_dir: Path, name: str, pid: int, argv: list[str]) -> None:
    pid_dir.mkdir(parents=True, exist_ok=True)
    (pid_dir / f"{name}.pid").write_text(f"{pid}\n{argv[0]}\n")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def stop_pid_file(path: Path, timeout: float = 15.0) -> bool:
    """Stop the process group recorded in ``path`` if it is still the same program."""
    try:
        pid_text, program = path.read_text().splitlines()[:2]
        pid = int(pid_text)
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return False
    stopped = False
    if program and program in _cmdline(pid):
        try:
            os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _cmdline(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _cmdline(pid):
                os.killpg(pid, signal.SIGKILL)
            stopped = True
        except ProcessLookupError:
            pass
    path.unlink(missing_ok=True)
    return stopped
