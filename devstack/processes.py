"""Processes the stack starts: own process group, output to a log file, clean stop.

A process started by ``egov up`` outlives the command, so ``egov down`` finds it again
through a pid file. Before signalling, the pid is checked against ``/proc/<pid>``: same
start time (pids are reused, start times are not) and same command line. ``down`` never
touches a process it did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import BaseModel, ValidationError

from devstack.ports import port_open


class ProcessDied(RuntimeError):
    """A process exited while we were waiting for it to become ready."""


class ManagedProcess:
    """One command in its own process group (session), stdout and stderr to ``log_path``.

    ``start()`` again after ``stop()`` or ``kill()`` starts a fresh process with the same
    command. With ``pid_file``, the pid is recorded as soon as the process exists.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        *,
        pid_file: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env or {})
        self.cwd = cwd
        self.pid_file = pid_file
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, alive={self.alive})"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        """Start the command; a no-op while it is running."""
        if self.alive:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"--- {stamp} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,  # own group: stop() reaches the children too
            )
        if self.pid_file is not None:
            write_pid_file(self.pid_file, self.name, self._proc.pid, self.argv)

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    def terminate(self) -> None:
        """SIGTERM the whole group, without waiting (several servers stopping together)."""
        if self.alive:
            self._signal_group(signal.SIGTERM)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group; SIGKILL it if the leader is still there after ``timeout``."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._proc.wait(10)
        self._signal_group(signal.SIGKILL)  # children left behind by the leader
        self._forget_pid_file()

    def kill(self) -> None:
        """SIGKILL the whole group: no chance to clean up (crash tests)."""
        if self._proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self._proc.wait(10)
        self._forget_pid_file()

    def _forget_pid_file(self) -> None:
        if self.pid_file is not None:
            record = read_pid_file(self.pid_file)
            if record is None or record.pid == self.pid:
                self.pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# --- readiness ---------------------------------------------------------------------------


class ServerProcess:
    """What the stack's servers (Kafka, Redis, Prometheus) share: one ``ManagedProcess``,
    launched and waited for, stopped again when it does not come up; stop, kill, alive."""

    stop_timeout = 15.0
    process: ManagedProcess | None
    pid_file: Path | None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.alive

    def _launch(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        wait_ready: Callable[[ManagedProcess], None],
    ) -> None:
        """Start (the same command again after a stop) and wait; nothing left on failure,
        Ctrl-C included."""
        if self.process is None:
            self.process = ManagedProcess(name, argv, log_path, pid_file=self.pid_file)
        self.process.start()
        try:
            wait_ready(self.process)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM (the server's own clean shutdown), SIGKILL after the timeout."""
        if self.process is not None:
            self.process.stop(self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()


def wait_until(
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    process: ManagedProcess | None = None,
    interval: float = 0.2,
) -> None:
    """Poll ``ready`` until true. Fails early, with its log, if ``process`` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if process is not None and not process.alive:
            raise ProcessDied(
                f"{process.name} exited (code {process.returncode}) before {what}; "
                f"log {process.log_path}:\n{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            tail = f"; log {process.log_path}:\n{process.log_tail()}" if process else ""
            raise TimeoutError(f"{what}: not after {timeout:.0f}s{tail}")
        time.sleep(interval)


def wait_for_port(
    host: str, port: int, timeout: float, process: ManagedProcess | None = None
) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    wait_until(lambda: port_open(port, host), timeout, f"listening on {host}:{port}", process)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_http(url: str, timeout: float, process: ManagedProcess | None = None) -> None:
    """Wait until ``GET url`` answers 200."""
    wait_until(lambda: http_ok(url), timeout, f"200 from {url}", process)


# --- pid files ---------------------------------------------------------------------------


class PidRecord(BaseModel):
    name: str
    pid: int
    start_time: int  # clock ticks after boot, field 22 of /proc/<pid>/stat
    argv: list[str]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid …": comm may hold spaces and parentheses; split after the last ')'
    return raw[raw.rindex(")") + 2 :].split()


def proc_start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None  # field 22 overall, 20th after comm


def proc_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (reaping it if it is our child)."""
    fields = _stat_fields(pid)
    if fields is None:
        return False
    if fields[0] in ("Z", "X"):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def proc_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.rstrip(b"\0").decode(errors="replace").split("\0") if raw else []


def write_pid_file(path: Path, name: str, pid: int, argv: Sequence[str]) -> None:
    start_time = proc_start_time(pid)
    if start_time is None:  # already gone: nothing to record
        return
    record = PidRecord(name=name, pid=pid, start_time=start_time, argv=list(argv))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(record.model_dump_json() + "\n")
    tmp.replace(path)


def read_pid_file(path: Path) -> PidRecord | None:
    try:
        return PidRecord.model_validate(json.loads(path.read_text()))
    except (OSError, ValueError, ValidationError):
        return None


def owns(record: PidRecord) -> bool:
    """Whether ``record.pid`` is still the process that was recorded.

    Same start time, and the same command line, or — for programs that rewrite their
    title, as redis-server does ("redis-server 127.0.0.1:6379") — the same program name.
    """
    if not proc_running(record.pid) or proc_start_time(record.pid) != record.start_time:
        return False
    cmdline = proc_cmdline(record.pid)
    if not cmdline:
        return False
    if cmdline == record.argv:
        return True
    program = Path(record.argv[0]).name
    return Path(cmdline[0].split(" ", 1)[0]).name == program


def stop_pid_files(paths: Iterable[Path], timeout: float = 15.0) -> list[str]:
    """Stop, together, the process groups recorded in ``paths`` that are still ours.

    SIGTERM to every group, wait up to ``timeout`` for the leaders, SIGKILL what is left.
    The pid files are removed (also stale ones). Returns the names of the stopped ones.
    """
    records: list[PidRecord] = []
    for path in paths:
        record = read_pid_file(path)
        if record is not None and owns(record):
            records.append(record)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGTERM)
        path.unlink(missing_ok=True)
    deadline = time.monotonic() + timeout
    while any(proc_running(r.pid) for r in records) and time.monotonic() < deadline:
        time.sleep(0.1)
    for record in records:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(record.pid, signal.SIGKILL)  # a stuck leader, or its children
    return [r.name for r in records]


def stop_pid_file(path: Path, timeout: float = 15.0) -> bool:
    """Stop the process group recorded in ``path`` if it is still ours."""
    return bool(stop_pid_files([path], timeout))
