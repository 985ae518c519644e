"""CPU seconds and RSS of a process (and its children) from /proc."""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / TICKS


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (a wrapper script and its JVM)."""
    total = 0.0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
            todo += _children(current)
        except OSError:
            continue
    return total


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_reference_s() -> float:
    """CPU seconds of a fixed pure-Python loop (10 million multiply-adds): how fast this
    machine runs today, printed beside the figures so runs on different days compare. On
    2026-12-02: 0.92 s on the idle machine, 2.1–2.25 s while a benchmark or the tests kept
    both cores busy (the two vCPUs do not run at full speed together)."""
    started = time.process_time()
    total = 0
    for i in range(10_000_000):
        total += i * i
    assert total > 0
    return time.process_time() - started
