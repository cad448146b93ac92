"""A full disk while the archive writer writes (RELIABILITY.md points 5 and 6).

The WARC folder, the catalogue or the index folder fills up mid-run. Whatever fills: the run
ends with one clear line naming ``check --repair``; the WARC being written stays ``.open`` (never
renamed with a torn record inside); the rows of every whole record are kept, and no row points
at a record that is not whole; no deletion is confirmed; once space is freed, ``check --repair``
loses nothing that was archived and deletes no row.

The disk is a small tmpfs where this process may mount one (root), else a file-size limit on
the writer process (tests.support.fulldisk).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from archive.home import Home
from archive.jobs import CheckJob, PageJob, WriterSettings
from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.warc.scan import scan_warc
from archive.writer.client import ArchiveWriter, WriterError, launch_writer
from tests.support.fulldisk import can_mount, file_size_limit, grow_tmpfs, small_tmpfs
from tests.support.helpers import rows, run_cli, warc_files, write_config

ROOT = Path(__file__).resolve().parent.parent

# MEMORYHOLE_TEST_NO_MOUNT=1 runs the file-size-limit variant where a tmpfs could be mounted
MOUNT = can_mount() and not os.environ.get("MEMORYHOLE_TEST_NO_MOUNT")


def _page(n: int, size: int) -> tuple[str, bytes]:
    """An article of about ``size`` bytes that gzip cannot shrink (so the disk fills)."""
    url = f"http://127.0.0.1:9/news/{n}"
    noise = os.urandom(size // 2).hex().encode()
    return url, (b"<html><head><title>Steppe news %d</title></head><body><!-- " % n + noise
                 + b" --><article><p>" + b"Almaty reports a record harvest. " * 20
                 + b"</p></article></body></html>")


def _exchange(url: str, status: int, body: bytes, when: Any = None) -> HttpExchange:
    return HttpExchange(url=url, status=status, body=body, date=when or utcnow(),
                        response_headers=[("Content-Type", "text/html; charset=utf-8")],
                        request_headers=[("Host", "127.0.0.1:9")])


@contextmanager
def _full(home: Home, where: str, kib: int) -> Iterator[Path | None]:
    """The folder ``where`` (``archive``, ``indexes`` or ``home``) holds only ``kib`` KiB;
    yields the tmpfs mount point, or None when a file-size limit stands in for it."""
    folder = {"archive": home.archive_dir("main"), "indexes": home.indexes_dir("main"),
              "home": home.root}[where]
    if MOUNT:
        with small_tmpfs(folder, kib) as mounted:
            yield mounted
    else:
        yield None


def _start(home: Home, settings: WriterSettings, limit: int | None) -> ArchiveWriter:
    writer = ArchiveWriter(home, settings)
    with file_size_limit(limit) if limit is not None and not MOUNT else nullcontext():
        process = launch_writer()
    writer.start(process)
    return writer


def _feed(writer: ArchiveWriter, pages: int, size: int) -> int:
    """Submit pages until the writer fails; returns how many were submitted."""
    for n in range(pages):
        url, body = _page(n, size)
        try:
            record_id = writer.submit_exchange(_exchange(url, 200, body))
            writer.submit_page(PageJob(record_id=record_id, url=url, status=200, body=body,
                                       content_type="text/html"))
        except WriterError:
            return n
    return pages


def _whole_responses(home: Home) -> set[tuple[str, int]]:
    """(file, offset) of every whole response record in the home's WARC files."""
    found = set()
    for path in warc_files(home.root, "*.warc.gz*"):
        if ".torn-" in path.name:
            continue
        scan = scan_warc(path)
        found |= {(scan.final_name, r.offset) for r in scan.records
                  if r.record_type in ("response", "revisit")}
    return found


def _catalogued(home: Home) -> set[tuple[str, int]]:
    return {(r["warc_filename"], r["warc_offset"])
            for r in rows(home.root, "SELECT warc_filename, warc_offset FROM captures")}


def _failed_line(writer: ArchiveWriter) -> str:
    with pytest.raises(WriterError) as failure:
        writer.close()
    return str(failure.value)


def test_a_full_warc_disk_leaves_the_file_open_and_keeps_every_whole_records_rows(
        tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.ensure("main")
    with _full(home, "archive", 640) as mounted:
        writer = _start(home, WriterSettings(), limit=640 * 1024)
        _feed(writer, 60, 48 * 1024)
        line = _failed_line(writer)
        assert "check --repair" in line and ("space" in line or "too large" in line), line
        assert "\n" not in line

        assert not warc_files(home.root), "a file with a torn record was marked closed"
        (open_file,) = warc_files(home.root, "*.warc.gz.open")
        assert scan_warc(open_file).torn_at is not None
        whole = _whole_responses(home)
        assert len(whole) >= 5
        assert _catalogued(home) == whole          # every whole record kept its row, no more

        if mounted is not None:
            grow_tmpfs(mounted, 64 * 1024)
        repair = run_cli(home.root, "check", "--repair", expect=0)
        assert "deleted capture" not in repair.output
        assert "cut" in repair.output and "closed" in repair.output
        assert _catalogued(home) == whole == _whole_responses(home)
        run_cli(home.root, "check", expect=0)


@pytest.mark.skipif(not MOUNT, reason="needs a tmpfs over the index folder (mount, as root): a "
                    "file-size limit would hit the catalogue first")
def test_a_full_index_folder_fails_the_run_clearly_and_repair_rebuilds_the_index(
        tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.ensure("main")
    settings = WriterSettings(max_bytes=16 * 1024)          # files close (and merge) often
    with _full(home, "indexes", 8) as mounted:
        writer = _start(home, settings, limit=8 * 1024)
        _feed(writer, 200, 4 * 1024)
        line = _failed_line(writer)
        assert "check --repair" in line and "\n" not in line, line
        assert not list(home.indexes_dir("main").glob(".*.tmp")), "a temporary index was left"
        closed = warc_files(home.root)
        assert closed and all(scan_warc(p).torn_at is None for p in closed)
        whole = _whole_responses(home)
        assert _catalogued(home) == whole

        if mounted is not None:
            grow_tmpfs(mounted, 64 * 1024)
        run_cli(home.root, "check", "--repair", expect=0)
        assert _catalogued(home) == whole == _whole_responses(home)
        run_cli(home.root, "check", expect=0)


def test_a_full_home_confirms_no_deletion_and_repair_loses_nothing(tmp_path: Path) -> None:
    """The whole home fills (catalogue and WARC together) during a run that would confirm a
    deletion: nothing is confirmed, and what reached the WARC is catalogued after repair."""
    home = Home(tmp_path / "home")
    with _full(home, "home", 2048) as mounted:
        home.ensure("main")
        settings = WriterSettings(recheck_offsets=("5m",))
        url, body = _page(0, 1024)
        first = utcnow() - timedelta(hours=1)
        writer = _start(home, settings, limit=2048 * 1024)
        record_id = writer.submit_exchange(_exchange(url, 200, body, first))
        writer.submit_page(PageJob(record_id=record_id, url=url, status=200, body=body,
                                   content_type="text/html"))
        writer.close()
        (url_id,) = [r["id"] for r in rows(home.root, "SELECT id FROM urls")]

        writer = _start(home, settings, limit=2048 * 1024)
        try:
            for minutes in (10, 20):
                when = first + timedelta(minutes=minutes)
                rid = writer.submit_exchange(_exchange(url, 404, b"<h1>Not found</h1>", when))
                writer.submit_check(CheckJob(url_id=url_id, url=url, checked_at=when,
                                             outcome="missing", reason="gone",
                                             rule="news/http@2", detail="404 Not Found",
                                             http_status=404, record_id=rid))
            _feed(writer, 200, 48 * 1024)
        except WriterError:
            pass
        line = _failed_line(writer)
        assert "check --repair" in line, line
        assert rows(home.root, "SELECT id FROM deletions") == []

        if mounted is not None:
            grow_tmpfs(mounted, 256 * 1024)
        run_cli(home.root, "check", "--repair", expect=0)
        assert _catalogued(home) == _whole_responses(home)
        assert rows(home.root, "SELECT id FROM deletions") == []
        run_cli(home.root, "check", expect=0)


def test_a_crawl_on_a_full_disk_ends_with_one_clear_line(tmp_home: Path,
                                                         fresh_mockserver: Any) -> None:
    """`memoryhole crawl` as a user runs it: exit 1, one line naming the fix, no traceback, and
    after repair every whole record has its row. (Under a file-size limit instead of a tmpfs,
    the catalogue's journal reaches the limit first: the same one line, for the catalogue.)"""
    write_config(tmp_home, concurrency=4)
    feed = fresh_mockserver.url("/articles-feed.xml?n=400")
    (tmp_home / "seeds.toml").write_text(
        f'[[source]]\nname = "bulk"\nkind = "feed"\nurl = "{feed}"\n', encoding="utf-8")
    home = Home(tmp_home)
    home.ensure("main")
    with _full(home, "archive", 256) as mounted:
        with file_size_limit(256 * 1024) if not MOUNT else nullcontext():
            crawl = subprocess.run(
                [sys.executable, "-c", "from cli import main; main()", "--home",
                 str(tmp_home), "crawl", "--seeds", str(tmp_home / "seeds.toml")],
                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert crawl.returncode == 1, crawl.stderr[-2000:]
        said = crawl.stdout + crawl.stderr
        assert "Traceback" not in said
        lines = [line for line in said.splitlines() if "check --repair" in line]
        assert len(lines) == 1, said[-3000:]
        assert lines[0] == crawl.stderr.strip().splitlines()[-1]
        if not MOUNT:             # the limit is hit by the catalogue's journal first
            assert "disk I/O error writing the catalogue" in lines[0]
            return
        assert "the disk is full" in lines[0] and "log: " in lines[0]
        assert warc_files(tmp_home, "*.warc.gz.open")
        if mounted is not None:
            grow_tmpfs(mounted, 64 * 1024)
        run_cli(tmp_home, "check", "--repair", expect=0)
        assert _catalogued(home) == _whole_responses(home)
        assert rows(tmp_home, "SELECT id FROM deletions") == []
