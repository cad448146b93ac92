"""The writer's worker process on its own: a crawl process that dies (its input ends without a
stop) loses nothing it sent, and a cut-short run confirms no deletion; SIGINT and SIGTERM do not
stop it (its input does)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from archive.home import Home
from archive.jobs import CheckJob, PageJob, WriterSettings
from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.writer.client import ArchiveWriter, launch_writer, read_frame, write_frame
from tests.support.helpers import all_records, rows, warc_files

ROOT = Path(__file__).resolve().parent.parent
URL = "http://127.0.0.1:9/news/1"
BODY = (b"<html><head><title>Steppe news</title></head><body><article><p>"
        + b"Almaty reports a record harvest this year. " * 100 + b"</p></article></body></html>")


def _exchange(status: int, body: bytes, when: Any) -> HttpExchange:
    return HttpExchange(url=URL, status=status, body=body, date=when,
                        response_headers=[("Content-Type", "text/html; charset=utf-8")],
                        request_headers=[("Host", "127.0.0.1:9")])


def _captured(home: Home, settings: WriterSettings) -> Any:
    """A first crawl through the writer as the crawler uses it: one good capture of URL."""
    writer = ArchiveWriter(home, settings)
    writer.start()
    when = utcnow() - timedelta(hours=1)
    record_id = writer.submit_exchange(_exchange(200, BODY, when))
    writer.submit_page(PageJob(record_id=record_id, url=URL, status=200, body=BODY,
                             content_type="text/html"))
    writer.close()
    return when


def _run_worker(home: Home, settings: WriterSettings, items: list[Any], *, stop: bool,
                signals: bool = False) -> dict[str, Any]:
    """Feed the worker process directly; without ``stop`` its input just ends, as when the
    crawl process is killed. Returns its last answer's counters."""
    worker = subprocess.Popen([sys.executable, "-m", "archive.writer.process"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert worker.stdin is not None and worker.stdout is not None
    write_frame(worker.stdin, ("open", home, settings, None))
    for item in items:
        write_frame(worker.stdin, item)
    if signals:                     # once it is writing, SIGINT and SIGTERM do not stop it
        deadline = time.monotonic() + 30
        while not warc_files(home.root, "*.warc.gz.open"):
            assert time.monotonic() < deadline, "the worker never started writing"
            time.sleep(0.01)
        worker.send_signal(signal.SIGINT)
        worker.send_signal(signal.SIGTERM)
    if stop:
        write_frame(worker.stdin, ("stop",))
    worker.stdin.close()
    answers = []
    while (message := read_frame(worker.stdout)) is not None:
        answers.append(message)
    assert worker.wait(timeout=60) == 0
    assert answers and answers[-1][0] == "done" and answers[-1][2] is None, answers
    return answers[-1][1]


def _missing_checks(home: Home, first: Any) -> list[Any]:
    (url_id,) = [r["id"] for r in rows(home.root, "SELECT id FROM urls")]
    items: list[Any] = []
    for minutes in (10, 20):       # two missing checks, far enough apart to confirm
        when = first + timedelta(minutes=minutes)
        record_id = f"<urn:uuid:00000000-0000-4000-8000-0000000000{minutes}>"
        items.append(("exchange", _exchange(404, b"<h1>Not found</h1>", when), record_id,
                      "http"))
        items.append(("check", CheckJob(url_id=url_id, url=URL, checked_at=when,
                                        outcome="missing", reason="gone", rule="news/http@2",
                                        detail="404 Not Found", http_status=404,
                                        record_id=record_id)))
    return items


@pytest.mark.parametrize("stop", [True, False])
def test_a_cut_short_run_keeps_what_it_got_and_confirms_nothing(tmp_path: Path,
                                                                stop: bool) -> None:
    home = Home(tmp_path / "home")
    settings = WriterSettings(recheck_offsets=("5m",))
    first = _captured(home, settings)
    stats = _run_worker(home, settings, _missing_checks(home, first), stop=stop,
                        signals=not stop)

    assert not warc_files(home.root, "*.warc.gz.open")           # closed and renamed
    answers = [(r["type"], r["http"].get_statuscode()) for r in all_records(home.root)
               if r["type"] in ("response", "revisit")]
    assert answers == [("response", "200"), ("response", "404"), ("revisit", "404")]
    checks = rows(home.root, "SELECT outcome, capture_id FROM checks")
    assert [c["outcome"] for c in checks] == ["missing", "missing"]
    assert all(c["capture_id"] for c in checks)                  # rows point at their records
    deletions = rows(home.root, "SELECT reason FROM deletions")
    (url,) = rows(home.root, "SELECT state FROM urls")
    if stop:
        assert [d["reason"] for d in deletions] == ["gone"] and url["state"] == "deleted"
        assert "interrupted" not in stats
    else:
        assert deletions == [] and url["state"] == "missing"     # a later run confirms it
        assert stats["interrupted"] == 1 and stats["checks"] == 2


def test_worker_refuses_to_start_without_an_opening(tmp_path: Path) -> None:
    frame = io.BytesIO()
    write_frame(frame, ("stop",))
    done = subprocess.run([sys.executable, "-m", "archive.writer.process"], cwd=ROOT,
                          input=frame.getvalue(), capture_output=True, timeout=60)
    assert done.returncode == 2
    assert b"started by memoryhole's crawl process" in done.stderr


def test_a_worker_launched_and_never_opened_exits_quietly(tmp_path: Path) -> None:
    """crawlers.runner launches the writer before Scrapy is set up; if the crawl never starts,
    its input just closes."""
    worker = launch_writer()
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdin.close()
    assert worker.wait(timeout=60) == 0
    assert worker.stdout.read() == b""


def test_crawl_process_failing_to_start_leaves_no_writer(tmp_path: Path, monkeypatch) -> None:
    """A crawl that fails while Scrapy sets up (here: a log level Python does not know) ends
    the writer it had launched."""
    from crawlers import runner

    launched = []

    def launch() -> subprocess.Popen[bytes]:
        launched.append(launch_writer())
        return launched[-1]

    monkeypatch.setattr(runner, "launch_writer", launch)
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"settings": {"ARCHIVE_HOME": str(tmp_path / "home"),
                                            "LOG_LEVEL": "NO-SUCH-LEVEL"},
                               "sources": [], "urls": []}))
    with pytest.raises(ValueError):
        runner.main([str(job)])
    [worker] = launched
    assert worker.poll() == 0


def test_a_dead_crawl_process_loses_no_rows(tmp_path: Path) -> None:
    """The crawl process is gone (nobody reads the worker's answers, its input just ends): the
    worker still writes and commits every page it was sent, progress reports or not."""
    home = Home(tmp_path / "home")
    settings = WriterSettings()
    worker = subprocess.Popen([sys.executable, "-m", "archive.writer.process"], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert worker.stdin is not None and worker.stdout is not None
    worker.stdout.close()                           # its answers go nowhere from the start
    write_frame(worker.stdin, ("open", home, settings, None))
    for n in range(40):                             # well past a progress report
        url = f"http://127.0.0.1:9/news/{n}"
        record_id = f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"
        body = BODY.replace(b"record harvest", f"record harvest {n}".encode())
        write_frame(worker.stdin, ("exchange", HttpExchange(
            url=url, status=200, body=body, date=utcnow(),
            response_headers=[("Content-Type", "text/html; charset=utf-8")]), record_id, "http"))
        write_frame(worker.stdin, ("page", PageJob(record_id=record_id, url=url, status=200,
                                                   body=body, content_type="text/html")))
    worker.stdin.close()
    assert worker.wait(timeout=60) == 0
    assert not warc_files(home.root, "*.warc.gz.open")
    assert len(rows(home.root, "SELECT id FROM captures WHERE text IS NOT NULL")) == 40
    assert len(rows(home.root, "SELECT id FROM urls")) == 40
