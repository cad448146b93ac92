"""SIGKILL the archive writer at 22 points of a run (RELIABILITY.md points 1, 4, 6, 26).

Each test runs the same work through a writer process that kills itself at one point
(tests.support.faults): pages that fill several small WARC files, batches of rows, index merges,
and two missing checks that would confirm a deletion at the end of the run. Then it counts.

What must hold, at every point:

- before any repair, every committed ``captures`` row points at a whole record (records are
  fsynced before their rows commit) and every closed file is whole (``gzip -t``);
- ``check --repair`` deletes no row, and after it every whole record in the WARCs has exactly
  one row and every row its record, whose digests verify (nothing archived is lost);
- no deletion is confirmed by the killed run, and the catalogue passes ``integrity_check``;
- ``check`` is clean afterwards.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from base64 import b32encode
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from archive.home import Home
from archive.jobs import CheckJob, PageJob, WriterSettings
from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.warc.scan import scan_warc
from archive.writer.client import ArchiveWriter, read_frame, write_frame
from tests.support.helpers import rows, run_cli, warc_files

ROOT = Path(__file__).resolve().parent.parent
WATCHED = "http://127.0.0.1:9/news/watched"
SETTINGS = WriterSettings(recheck_offsets=("5m",), max_bytes=12_000, commit_rows=4)

KILLS = [("open", 1), ("open", 3), ("member", 1), ("member", 4), ("member", 17),
         ("member", 40), ("synced", 1), ("synced", 3), ("committed", 1), ("committed", 4),
         ("rename", 1), ("rename", 3), ("renamed", 1), ("renamed", 2), ("index-write", 1),
         ("index-write", 3), ("index-replaced", 1), ("index-replaced", 2), ("finish", 1),
         ("committed", 2), ("rename", 3), ("index-write", 3)]
# kills after the run's last commit (its deletion is confirmed and committed, then the WARC is
# closed and indexed): the deletion must be whole; before it, no deletion may exist
AFTER_LAST_COMMIT = {"rename:3", "index-write:3"}


def _body(n: int) -> bytes:
    noise = hashlib.sha256(str(n).encode()).hexdigest().encode() * 40
    return (b"<html><head><title>Steppe news %d</title></head><body><!-- " % n + noise
            + b" --><article><p>" + b"Almaty reports a record harvest. " * 30
            + b"</p></article></body></html>")


def _exchange(url: str, status: int, body: bytes, when: Any) -> HttpExchange:
    return HttpExchange(url=url, status=status, body=body, date=when,
                        response_headers=[("Content-Type", "text/html; charset=utf-8")],
                        request_headers=[("Host", "127.0.0.1:9")])


def _baseline(home: Home) -> Any:
    """A first, whole run: the watched page, alive an hour ago."""
    first = utcnow() - timedelta(hours=1)
    writer = ArchiveWriter(home, SETTINGS)
    writer.start()
    record_id = writer.submit_exchange(_exchange(WATCHED, 200, _body(-1), first))
    writer.submit_page(PageJob(record_id=record_id, url=WATCHED, status=200, body=_body(-1),
                               content_type="text/html"))
    writer.close()
    return first


def _work(home: Home, first: Any) -> list[tuple[Any, ...]]:
    """The killed run's items: 30 pages, then two missing checks of the watched page."""
    items: list[tuple[Any, ...]] = []
    for n in range(30):
        url = f"http://127.0.0.1:9/news/{n}"
        record_id = f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"
        items.append(("exchange", _exchange(url, 200, _body(n), utcnow()), record_id, "http"))
        items.append(("page", PageJob(record_id=record_id, url=url, status=200, body=_body(n),
                                      content_type="text/html")))
    (url_id,) = [r["id"] for r in rows(home.root, "SELECT id FROM urls")]
    for minutes in (10, 20):
        when = first + timedelta(minutes=minutes)
        record_id = f"<urn:uuid:00000000-0000-4000-9000-0000000000{minutes}>"
        items.append(("exchange", _exchange(WATCHED, 404, b"<h1>Not found</h1>", when),
                      record_id, "http"))
        items.append(("check", CheckJob(url_id=url_id, url=WATCHED, checked_at=when,
                                        outcome="missing", reason="gone", rule="news/http@2",
                                        detail="404 Not Found", http_status=404,
                                        record_id=record_id)))
    return items


def _run_killed(home: Home, items: list[tuple[Any, ...]], fault: str) -> int:
    worker = subprocess.Popen(
        [sys.executable, "-c", "from tests.support.faults import main; main()"], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, "MEMORYHOLE_FAULT": fault})
    assert worker.stdin is not None and worker.stdout is not None
    try:
        write_frame(worker.stdin, ("open", home, SETTINGS, None))
        for item in items:
            write_frame(worker.stdin, item)
        write_frame(worker.stdin, ("stop",))
        worker.stdin.close()
    except BrokenPipeError:
        pass
    while read_frame(worker.stdout) is not None:
        pass
    return worker.wait(timeout=60)


def _whole_records(home: Home) -> dict[tuple[str, int], str]:
    """(file, offset) -> record id of every whole response/revisit record in the WARCs."""
    found: dict[tuple[str, int], str] = {}
    for path in warc_files(home.root, "*.warc.gz*"):
        if ".torn-" in path.name:
            continue
        scan = scan_warc(path)
        for rec in scan.records:
            if rec.record_type in ("response", "revisit"):
                found[(scan.final_name, rec.offset)] = rec.record_id
    return found


def _captures(home: Home) -> dict[int, tuple[str, int]]:
    return {r["id"]: (r["warc_filename"], r["warc_offset"]) for r in rows(
        home.root, "SELECT id, warc_filename, warc_offset FROM captures")}


def _digests_verify(home: Home) -> int:
    """Read every catalogued record back with warcio and check its payload digest."""
    archive = home.archive_dir("main")
    checked = 0
    for row in rows(home.root, "SELECT warc_filename, warc_offset, payload_digest, is_revisit "
                    "FROM captures"):
        with open(archive / row["warc_filename"], "rb") as fh:
            fh.seek(row["warc_offset"])
            record = next(iter(ArchiveIterator(fh)))
            body = record.content_stream().read()
            stored = record.rec_headers.get_header("WARC-Payload-Digest")
            assert stored == row["payload_digest"]
            if record.rec_type == "response":
                algo, _, value = stored.partition(":")
                assert algo == "sha256"
                computed = b32encode(hashlib.sha256(body).digest()).decode()
                assert value in (computed, hashlib.sha256(body).hexdigest()), row
            checked += 1
    return checked


@pytest.mark.parametrize("fault", [f"{point}:{n}" for point, n in KILLS])
def test_a_writer_killed_at_any_point_loses_nothing(tmp_path: Path, fault: str) -> None:
    home = Home(tmp_path / "home")
    first = _baseline(home)
    assert _run_killed(home, _work(home, first), fault) == -9, f"{fault} was never reached"

    closed = warc_files(home.root)
    for path in closed:
        assert subprocess.run(["gzip", "-t", str(path)]).returncode == 0, path
        assert scan_warc(path).torn_at is None, path
    whole = _whole_records(home)
    before = _captures(home)
    assert set(before.values()) <= set(whole), "a committed row points at a torn record"
    deletions = rows(home.root, "SELECT id FROM deletions")
    assert len(deletions) == (1 if fault in AFTER_LAST_COMMIT else 0)

    repair = run_cli(home.root, "check", "--repair", expect=0)
    assert "deleted capture" not in repair.output, repair.output
    after = _captures(home)
    assert all(after.get(cid) == where for cid, where in before.items())
    assert sorted(after.values()) == sorted(whole), "a whole record lacks its row, or has two"
    assert _digests_verify(home) == len(whole)
    with sqlite3.connect(home.db_path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        evidence = conn.execute("SELECT COUNT(*) FROM deletions WHERE evidence_capture_id "
                                "NOT IN (SELECT id FROM captures)").fetchone()
        assert evidence == (0,)
    run_cli(home.root, "check", expect=0)
    assert not list(home.indexes_dir("main").glob(".*.tmp")), "a half-written index was left"
