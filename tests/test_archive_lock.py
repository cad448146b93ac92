"""archive.lock: one run and one scheduler per home, held by real processes; a killed holder
leaves no stale lock; the crawl command refuses while another run works."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import cli.crawl as cli_crawl
from archive import lock
from archive.home import Home
from archive.lock import HomeBusy, run_in_progress, run_lock, scheduler_lock
from tests.support.helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from archive.home import Home
from archive.lock import run_lock, scheduler_lock
home = Home(Path(sys.argv[1]))
held = scheduler_lock(home) if sys.argv[2] == "scheduler" else run_lock(home, sys.argv[2])
with held:
    print("locked", flush=True)
    time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def hold(tmp_home: Path) -> Iterator:
    """Start a process holding a lock of ``kind`` for ``seconds``; yields a starter."""
    procs: list[subprocess.Popen[str]] = []

    def start(kind: str, seconds: float = 60) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER.format(root=str(ROOT)), str(tmp_home), kind,
             str(seconds)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_holder_is_written_and_cleared(tmp_home):
    home = Home(tmp_home)
    with run_lock(home, "crawl", wait=0):
        data = json.loads((tmp_home / "run.lock").read_text())
        assert data["pid"] == os.getpid() and data["kind"] == "crawl"
        assert data["since"].endswith("Z")
    assert (tmp_home / "run.lock").read_text() == ""
    with run_lock(home, "recheck", wait=0):  # released: a second run gets it at once
        pass


def test_second_run_is_refused_with_who_holds_it(tmp_home, hold):
    holder = hold("crawl")
    started = time.monotonic()
    with pytest.raises(HomeBusy) as info, run_lock(Home(tmp_home), "recheck", wait=0):
        pass
    # refused while the holder still held it (it holds for a minute): no waiting for it
    assert holder.poll() is None and time.monotonic() - started < 30
    message = str(info.value)
    assert message.startswith(f"another run is in progress in {tmp_home} (pid {holder.pid}, "
                              "kind crawl, since ")
    assert message.endswith("); try again later")
    assert info.value.holder.pid == holder.pid
    assert run_in_progress(Home(tmp_home)).kind == "crawl"


def test_a_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_home, hold):
    hold("crawl", seconds=1)
    started = time.monotonic()
    with run_lock(Home(tmp_home), "recheck", wait=20):
        waited = time.monotonic() - started
        assert json.loads((tmp_home / "run.lock").read_text())["kind"] == "recheck"
    assert waited > 0.3                 # it waited for the holder (the wait=20 bounds it)


def test_killed_holder_leaves_no_stale_lock(tmp_home, hold):
    for kind in ("crawl", "scheduler"):
        holder = hold(kind)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        # the file still names the dead holder, but the kernel released its lock
        assert json.loads((tmp_home / f"{'scheduler' if kind == 'scheduler' else 'run'}.lock")
                          .read_text())["pid"] == holder.pid
    assert run_in_progress(Home(tmp_home)) is None
    with run_lock(Home(tmp_home), "crawl", wait=0), scheduler_lock(Home(tmp_home)):
        pass


def test_second_scheduler_is_refused_at_once(tmp_home, hold):
    holder = hold("scheduler")
    started = time.monotonic()
    with pytest.raises(HomeBusy) as info, scheduler_lock(Home(tmp_home)):
        pass
    assert holder.poll() is None and time.monotonic() - started < 30   # at once, not waiting
    assert str(info.value).startswith(
        f"another scheduler is running for {tmp_home} (pid {holder.pid}, since ")
    # the run lock is a different lock: a crawl may run while the scheduler lives
    with run_lock(Home(tmp_home), "crawl", wait=0):
        pass


def test_run_in_progress_without_a_lock_file(tmp_home):
    assert run_in_progress(Home(tmp_home)) is None


def test_crawl_command_exits_1_while_another_run_works(tmp_home, hold, monkeypatch):
    holder = hold("recheck")
    monkeypatch.setattr(cli_crawl, "run_lock", functools.partial(lock.run_lock, wait=0))
    result = run_cli(tmp_home, "crawl", "http://127.0.0.1:9/", expect=1)
    assert (f"another run is in progress in {tmp_home} (pid {holder.pid}, kind recheck"
            in result.output)
    assert not (tmp_home / "memoryhole.db").exists()  # refused before doing anything
