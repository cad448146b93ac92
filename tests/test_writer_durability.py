"""What reaches the disk, and in which order (RELIABILITY.md points 3 and 6).

- Before each commit of catalogue rows, every byte of the WARC being written is fsynced, and so
  is the folder entry of that file: a power cut can never leave a row pointing at bytes that
  never reached the disk.
- A WARC name already taken is never overwritten: the writer takes the next name at open, and a
  final name that appears while the file is written leaves it ``.open``.
"""

from __future__ import annotations

import os
import queue
from pathlib import Path
from typing import Any

import pytest

import archive.catalogue.db as catalogue_db
from archive.home import Home
from archive.jobs import PageJob, WriterSettings
from archive.timeutil import utcnow
from archive.warc import writer as warc_writer
from archive.warc.http_message import HttpExchange
from archive.warc.scan import scan_warc
from archive.warc.writer import RotatingWarcWriter
from archive.writer.process import WriterProcess
from tests.support.helpers import read_records, rows, run_cli


def _exchange(n: int) -> HttpExchange:
    body = (b"<html><body><article><p>" + b"Harvest report %d. " % n * 200
            + b"</p></article></body></html>")
    return HttpExchange(url=f"http://127.0.0.1:9/news/{n}", status=200, body=body,
                        date=utcnow(),
                        response_headers=[("Content-Type", "text/html; charset=utf-8")],
                        request_headers=[("Host", "127.0.0.1:9")])


def test_records_and_their_folder_entry_are_fsynced_before_their_rows_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = Home(tmp_path / "home")
    archive_dir = home.archive_dir("main")
    events: list[tuple[Any, ...]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"), os.fstat(fd).st_size))

    def open_catalogue(*args: Any, **kwargs: Any) -> Any:
        db = real_open(*args, **kwargs)

        def traced(sql: str) -> None:
            if sql.strip().upper() == "COMMIT":
                sizes = {str(p): p.stat().st_size for p in archive_dir.glob("*.open")}
                events.append(("commit", sizes))
        db.conn.set_trace_callback(traced)
        return db

    real_open = catalogue_db.open_catalogue
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(catalogue_db, "open_catalogue", open_catalogue)

    items: queue.Queue[Any] = queue.Queue()
    for n in range(40):
        ex = _exchange(n)
        record_id = f"<urn:uuid:00000000-0000-4000-8000-{n:012d}>"
        items.put(("exchange", ex, record_id, "http"))
        items.put(("page", PageJob(record_id=record_id, url=ex.url, status=200, body=ex.body,
                                   content_type="text/html")))
    items.put(("stop",))
    WriterProcess(home, WriterSettings(commit_rows=3, max_bytes=20_000), None, items).run()

    commits = [e for e in events if e[0] == "commit"]
    assert len(commits) > 5 and any(sizes for _, sizes in commits)
    for i, event in enumerate(events):
        if event[0] != "commit":
            continue
        for path, size in event[1].items():
            synced = [e for e in events[:i] if e[0] == "fsync" and e[1] == path]
            assert synced and synced[-1][2] == size, f"commit {i}: {path} not fsynced at {size}"
            created = next(j for j, e in enumerate(events)
                           if e[0] == "fsync" and e[1] == path)
            assert any(e[0] == "fsync" and e[1] == str(archive_dir)
                       for e in events[created:i]), f"commit {i}: folder entry of {path}"
    assert len(rows(home.root, "SELECT id FROM captures")) == 40


def _writer(archive_dir: Path) -> RotatingWarcWriter:
    return RotatingWarcWriter(archive_dir, max_bytes=10**9, warcinfo={"software": "test"})


def test_a_taken_final_name_is_skipped_never_overwritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = utcnow()
    monkeypatch.setattr(warc_writer, "utcnow", lambda: now)
    stamp = now.strftime("%Y%m%d%H%M%S%f")
    taken = tmp_path / f"MH-{stamp}-{os.getpid()}-00000.warc.gz"
    taken.write_bytes(b"evidence from an earlier run")
    (tmp_path / f"MH-{stamp}-{os.getpid()}-00001.warc.gz.open").write_bytes(b"another writer")

    writer = _writer(tmp_path)
    writer.write_exchange(_exchange(1))
    writer.close()

    assert taken.read_bytes() == b"evidence from an earlier run"
    assert (tmp_path / f"MH-{stamp}-{os.getpid()}-00001.warc.gz.open").read_bytes() == \
        b"another writer"
    written = tmp_path / f"MH-{stamp}-{os.getpid()}-00002.warc.gz"
    records = read_records(written)
    assert records[0]["headers"].get_header("WARC-Filename") == written.name


def test_a_final_name_taken_while_writing_leaves_the_file_open(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.write_exchange(_exchange(1))
    current = writer.current_path
    assert current is not None
    final = current.with_name(current.name.removesuffix(".open"))
    final.write_bytes(b"someone else's file")
    with pytest.raises(FileExistsError):
        writer.close()
    assert final.read_bytes() == b"someone else's file"
    assert current.exists() and scan_warc(current).torn_at is None
    assert list(tmp_path.glob("*.open")) == [current]


def test_repair_never_overwrites_a_taken_final_name(tmp_path: Path) -> None:
    """An unclosed file whose final name exists is left for a person to compare."""
    home = Home(tmp_path / "home")
    archive_dir = home.archive_dir("main")
    writer = _writer(archive_dir)
    writer.write_exchange(_exchange(1))
    current = writer.current_path
    assert current is not None
    os.link(current, tmp_path / "copy")                       # the bytes, kept for the check
    writer._file.handle.close()                                # the writer dies, file unclosed
    writer._file = None
    final = current.with_name(current.name.removesuffix(".open"))
    final.write_bytes(b"someone else's file")
    out = run_cli(home.root, "check", "--repair", expect=1)
    assert "already exists" in out.output
    assert final.read_bytes() == b"someone else's file" and current.exists()


def test_rotation_at_1_mb_over_10_mb_with_taken_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """10 MB of answers into files of 1 MB, some of whose names were taken beforehand (closed
    and open): no record or response/request pair is split across files, no file is
    overwritten, every record rereads with its digests (RELIABILITY.md point 3)."""
    now = utcnow()
    monkeypatch.setattr(warc_writer, "utcnow", lambda: now)
    stamp = now.strftime("%Y%m%d%H%M%S%f")
    taken = {}
    for serial, suffix in ((0, ""), (3, ""), (5, ".open"), (7, "")):
        path = tmp_path / f"MH-{stamp}-{os.getpid()}-{serial:05d}.warc.gz{suffix}"
        path.write_bytes(b"taken %d" % serial)
        taken[path] = path.read_bytes()
    writer = RotatingWarcWriter(tmp_path, max_bytes=1024 * 1024, warcinfo={"software": "test"})
    for n in range(100):
        ex = _exchange(n)
        writer.write_exchange(HttpExchange(
            url=ex.url, status=200, body=os.urandom(100_000),
            date=ex.date, response_headers=ex.response_headers,
            request_headers=ex.request_headers))
    writer.close()
    assert all(path.read_bytes() == data for path, data in taken.items())
    written = sorted(p for p in tmp_path.glob("*.warc.gz") if p not in taken)
    assert len(written) >= 9
    responses = 0
    for path in written:
        records = read_records(path)
        assert records[0]["type"] == "warcinfo"
        assert records[0]["headers"].get_header("WARC-Filename") == path.name
        ids = {r["headers"].get_header("WARC-Record-ID") for r in records}
        for record in records[1:]:
            assert record["headers"].get_header("WARC-Concurrent-To") in ids   # pair together
        responses += sum(r["type"] == "response" for r in records)
        assert path.stat().st_size < 1024 * 1024 + 200_000          # rotated at 1 MB
    assert responses == 100
