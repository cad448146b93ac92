"""``check --repair`` beside runs: it holds the run lock, waits for a run in progress, and never
deletes a row written after its scan began; plain ``check`` says when a run is in progress."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from archive.catalogue.db import open_catalogue
from archive.home import Home
from archive.integrity.repair import repair_home
from archive.jobs import PageJob, WriterSettings
from archive.lock import run_lock
from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.writer.client import ArchiveWriter
from tests.support.helpers import all_records, rows, run_cli, warc_files, write_config

ROOT = Path(__file__).resolve().parent.parent


def _archive_page(home: Home, n: int) -> None:
    """What a crawl does for one page: its record, then its rows (through the writer)."""
    url = f"http://127.0.0.1:9/news/{n}"
    body = b"<html><body><article><p>" + b"Harvest report %d. " % n * 80 + b"</p></article>"
    writer = ArchiveWriter(home, WriterSettings())
    writer.start()
    record_id = writer.submit_exchange(HttpExchange(
        url=url, status=200, body=body, date=utcnow(),
        response_headers=[("Content-Type", "text/html")], request_headers=[("Host", "x")]))
    writer.submit_page(PageJob(record_id=record_id, url=url, status=200, body=body,
                               content_type="text/html"))
    writer.close()


def test_rows_written_after_the_scan_began_are_kept(tmp_path: Path) -> None:
    """A writer that does not take the run lock archives a page while the repair scans (here:
    when the scan reports its last file): its row is not deleted."""
    home = Home(tmp_path / "home")
    for n in range(3):
        _archive_page(home, n)
    db = open_catalogue(home.db_path)
    wrote: list[int] = []

    def progress(what: str, done: int, total: int) -> None:
        if done == total and not wrote:
            wrote.append(1)
            _archive_page(home, 99)

    report = repair_home(home, db, progress=progress, wait=0)
    assert wrote
    assert not any("deleted capture" in action for action in report.repaired), report.summary()
    assert len(rows(home.root, "SELECT id FROM captures")) == 4
    assert any("after the scan began" in action for action in report.repaired)
    again = repair_home(home, db, wait=0)                  # the next repair finds it in place
    assert again.ok and again.repaired == []


def test_repair_waits_for_the_run_lock_and_check_says_a_run_is_in_progress(
        tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    _archive_page(home, 1)
    with run_lock(home, "crawl"):
        busy = run_cli(home.root, "check", "--repair", "--wait", "0.5", expect=1)
        assert "another run is in progress" in busy.output and "kind crawl" in busy.output
        plain = run_cli(home.root, "check", expect=0)
        assert "a run is in progress" in plain.output

    released = threading.Event()

    def hold() -> None:
        with run_lock(home, "crawl"):
            started.set()
            time.sleep(1.0)
        released.set()

    started = threading.Event()
    holder = threading.Thread(target=hold)
    holder.start()
    started.wait(10)
    done = run_cli(home.root, "check", "--repair", "--wait", "30", expect=0)
    assert released.is_set(), "the repair ran while the run held the lock"
    assert "a run is in progress" not in done.output
    holder.join()


def test_a_repair_during_a_real_crawl_waits_and_loses_nothing(tmp_home: Path,
                                                              fresh_mockserver: Any) -> None:
    write_config(tmp_home, warc_max_mb=0.05, concurrency=4)
    feed = fresh_mockserver.url("/articles-feed.xml?n=120")
    (tmp_home / "seeds.toml").write_text(
        f'[[source]]\nname = "bulk"\nkind = "feed"\nurl = "{feed}"\n', encoding="utf-8")
    crawl = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "--home", str(tmp_home),
         "crawl", "--seeds", str(tmp_home / "seeds.toml")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not warc_files(tmp_home, "*.warc.gz.open"):
            assert time.monotonic() < deadline, "the crawl never started writing"
            time.sleep(0.02)
        repair = run_cli(tmp_home, "check", "--repair", "--wait", "120", expect=0)
        # the crawl's run row is finished inside its run lock: the repair got the lock after it
        # (the command itself may still be printing its summary)
        (run,) = rows(tmp_home, "SELECT status FROM runs WHERE kind = 'crawl'")
        assert run["status"] != "running", "the repair did not wait for the crawl"
    finally:
        crawl.wait(timeout=120)
    assert crawl.returncode == 0
    assert "deleted capture" not in repair.output and "repaired" not in repair.output
    records = {(r["file"], r["offset"]) for r in all_records(tmp_home)
               if r["type"] in ("response", "revisit")}
    captures = {(c["warc_filename"], c["warc_offset"])
                for c in rows(tmp_home, "SELECT warc_filename, warc_offset FROM captures")}
    assert len(captures) > 100 and captures == records
