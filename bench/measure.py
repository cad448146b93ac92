"""Run one command and account for its whole process tree: wall, CPU and memory.

CPU and the largest single RSS come from ``os.wait4`` on the direct child. On Linux the rusage
``wait4`` returns covers the child *and every descendant it waited for* (the kernel folds a
reaped child's times and max RSS into its parent's "children" totals), so the memoryhole CLI,
which waits for its Scrapy process, is measured with that process included. ``maxrss`` is the
largest single process of the tree, not the sum of processes alive together, so a sampler
thread also reads ``/proc`` every ``interval`` seconds and keeps the peak of the summed RSS of
the child and its descendants (``tree_rss``). That sampled figure is the one to report: Linux
carries a process's high-water RSS across ``exec``, and a child forked (or vforked) from this
Python starts with this Python's RSS as its ``maxrss`` floor, so a 5 MB wget shows 60 MB there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass(frozen=True)
class Measurement:
    returncode: int
    wall_s: float
    cpu_user_s: float
    cpu_sys_s: float
    maxrss_mb: float          # the largest single process of the tree (rusage; see below)
    tree_rss_mb: float        # peak of the sampled sum over the live tree

    @property
    def cpu_s(self) -> float:
        return self.cpu_user_s + self.cpu_sys_s


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_KB
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_kb(root: int) -> int:
    """Summed resident memory of ``root`` and all its live descendants, in KiB."""
    children = _children_map()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack.extend(children.get(pid, ()))
    return total


class _Sampler(threading.Thread):
    def __init__(self, pid: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.peak_kb = max(self.peak_kb, tree_rss_kb(self.pid))


def _kill_group(pid: int) -> None:
    """Kill the session the measured command leads (it and everything it started)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def measure(argv: list[str], *, log_path: Path, cwd: Path | None = None,
            env: dict[str, str] | None = None, interval: float = 0.2,
            timeout: float = 3600.0) -> Measurement:
    """Run ``argv`` (stdout and stderr to ``log_path``) and measure it and its descendants."""
    with open(log_path, "wb") as log:
        began = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        sampler = _Sampler(process.pid, interval)
        sampler.start()
        killer = threading.Timer(timeout, _kill_group, (process.pid,))
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            _kill_group(process.pid)
            os.wait4(process.pid, 0)
            raise
        finally:
            killer.cancel()
            sampler.done.set()
            sampler.join()
        wall = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)   # reaped: keep Popen from waiting
    return Measurement(
        returncode=process.returncode, wall_s=wall, cpu_user_s=usage.ru_utime,
        cpu_sys_s=usage.ru_stime, maxrss_mb=usage.ru_maxrss / 1024,
        tree_rss_mb=(sampler.peak_kb or usage.ru_maxrss) / 1024,
    )
