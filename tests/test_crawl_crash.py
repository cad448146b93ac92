"""SIGKILL during a crawl: closed WARCs stay valid, the torn .open file is repaired by
``check --repair``, and no catalogue row points at a missing record."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.helpers import (
    all_records,
    read_records,
    rows,
    run_cli,
    started_by,
    warc_files,
    write_config,
)

ROOT = Path(__file__).resolve().parent.parent


def _kill_mid_crawl(home: Path, url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "--home", str(home), "crawl",
         "--seeds", str(home / "seeds.toml")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            closed = warc_files(home)
            if len(closed) >= 2 and warc_files(home, "*.warc.gz.open"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the crawl never rotated a WARC file")
    finally:
        # everything at once, as a power cut would: the command, its crawl process and the
        # archive writer, which has a process group of its own
        for pid in started_by(process.pid):
            os.kill(pid, signal.SIGKILL)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_sigkill_then_check_repair(tmp_home, fresh_mockserver):
    write_config(tmp_home, warc_max_mb=0.1, concurrency=4)
    feed = fresh_mockserver.url("/articles-feed.xml?n=300")
    (tmp_home / "seeds.toml").write_text(
        f'[[source]]\nname = "bulk"\nkind = "feed"\nurl = "{feed}"\n', encoding="utf-8")
    _kill_mid_crawl(tmp_home, feed)

    for path in warc_files(tmp_home):          # closed files are whole and valid
        assert read_records(path)
    (open_file,) = warc_files(tmp_home, "*.warc.gz.open")
    # A SIGKILL rarely lands inside a write; cut the last record in half to be sure the repair
    # is exercised on a torn gzip member, as a kill mid-write leaves it.
    member = gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n" + os.urandom(4000))
    with open(open_file, "ab") as handle:
        handle.write(member[: len(member) // 2])

    check = run_cli(tmp_home, "check", expect=1)
    assert "unclosed" in check.output or "torn" in check.output

    run_cli(tmp_home, "check", "--repair", expect=0)
    assert not warc_files(tmp_home, "*.warc.gz.open")
    run_cli(tmp_home, "check", expect=0)

    records = {(r["file"], r["offset"]) for r in all_records(tmp_home)}
    captures = rows(tmp_home, "SELECT warc_filename, warc_offset FROM captures")
    assert captures
    assert all((c["warc_filename"], c["warc_offset"]) in records for c in captures)


def test_killed_command_stops_its_crawl_cleanly(tmp_home, fresh_mockserver):
    """SIGKILL of `memoryhole crawl` alone: the Scrapy process it started gets SIGTERM, stops
    cleanly and closes its WARC (no crawl left running, nothing left open)."""
    process = _long_crawl(tmp_home, fresh_mockserver)
    try:
        _wait_until_writing(tmp_home)
        crawlers = started_by(process.pid)
        assert crawlers, "no crawl process found"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 60
        while any(Path(f"/proc/{pid}").exists() for pid in crawlers):
            assert time.monotonic() < deadline, "the orphaned crawl kept running"
            time.sleep(0.1)
        assert not warc_files(tmp_home, "*.warc.gz.open")
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run_cli(tmp_home, "check", expect=0)


def test_the_run_lock_outlives_a_killed_command_until_its_crawl_is_gone(
        tmp_home, fresh_mockserver):
    """The command that took the run lock is killed while its crawl process and archive writer
    still run (stopped here, to hold them there): the lock stays held until both are gone, so
    no other run can start beside them."""
    from archive.home import Home
    from archive.lock import run_in_progress

    process = _long_crawl(tmp_home, fresh_mockserver)
    home = Home(tmp_home)
    children: list[int] = []
    try:
        _wait_until_writing(tmp_home)
        children = started_by(process.pid)
        assert len(children) >= 2, children          # the crawl process and the writer
        for pid in children:
            os.kill(pid, signal.SIGSTOP)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        assert run_in_progress(home) is not None, "the lock went with the command"
        for pid in children:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while _running(children):
            held = run_in_progress(home) is not None
            assert held or not _running(children), "released while the crawl still ran"
            assert time.monotonic() < deadline, "the orphaned crawl kept running"
            time.sleep(0.05)
        released = time.monotonic() + 5      # the kernel drops the lock as the last file closes
        while run_in_progress(home) is not None:
            assert time.monotonic() < released, "the lock outlived its crawl"
            time.sleep(0.05)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run_cli(tmp_home, "check", "--repair", expect=0)


def _running(pids: list[int]) -> bool:
    """Whether any thread of ``pids`` still runs. A zombie does not, but a process's first
    thread shows as a zombie while its other threads are still exiting, holding its files
    (and so the lock): each thread is looked at."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if state != "Z":
                return True
    return False


def _long_crawl(home: Path, server) -> subprocess.Popen:
    """`memoryhole crawl` of a 3,000-article feed, in a session of its own."""
    write_config(home, concurrency=2)
    feed = server.url("/articles-feed.xml?n=3000")
    (home / "seeds.toml").write_text(
        f'[[source]]\nname = "bulk"\nkind = "feed"\nurl = "{feed}"\n', encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "--home", str(home), "crawl",
         "--seeds", str(home / "seeds.toml")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_until_writing(home: Path) -> None:
    deadline = time.monotonic() + 60
    while not warc_files(home, "*.warc.gz.open"):
        assert time.monotonic() < deadline, "the crawl never started writing"
        time.sleep(0.05)
