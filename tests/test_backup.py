"""``memoryhole backup DEST`` while a real ``memoryhole crawl`` writes: each backup is a home that
passes ``check`` (catalogue integrity included) with every captures row pointing at a record in
DEST; later backups copy only what is new; DEST works as a home (restore)."""

from __future__ import annotations

import fcntl
import gc
import gzip
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive.catalogue.db import integrity_errors
from archive.home import Home
from archive.integrity.backup import BackupError, backup_home
from tests.support.helpers import (
    all_records,
    index_text,
    rows,
    run_cli,
    warc_files,
    write_config,
)

ROOT = Path(__file__).resolve().parent.parent


def _start_crawl(home: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "--home", str(home), "crawl",
         "--seeds", str(home / "seeds.toml")],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait(condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _captures(home: Path) -> int:
    if not (home / "memoryhole.db").exists():
        return 0
    try:
        return rows(home, "SELECT count(*) AS n FROM captures")[0]["n"]
    except sqlite3.OperationalError:
        return 0          # not migrated yet


def _assert_consistent(dest: Path) -> list[dict]:
    """DEST's catalogue passes integrity_check and each captures row points at its record."""
    conn = sqlite3.connect(dest / "memoryhole.db")
    try:
        assert integrity_errors(conn) == []
    finally:
        conn.close()
    records = {(r["file"], r["offset"]): r for r in all_records(dest)}
    captures = rows(dest, "SELECT url, warc_filename, warc_offset, warc_record_id FROM captures")
    assert captures
    for capture in captures:
        record = records.get((capture["warc_filename"], capture["warc_offset"]))
        assert record is not None, capture
        assert record["headers"].get_header("WARC-Record-ID") == capture["warc_record_id"]
    assert not warc_files(dest, "*.open")
    return captures


def test_backup_while_a_crawl_writes_then_restore(tmp_home, tmp_path, fresh_mockserver):
    write_config(tmp_home, warc_max_mb=0.1, concurrency=2)
    feed = fresh_mockserver.url("/articles-feed.xml?n=600")
    (tmp_home / "seeds.toml").write_text(
        f'[[source]]\nname = "bulk"\nkind = "feed"\nurl = "{feed}"\n', encoding="utf-8")
    dest = tmp_path / "backup"
    process = _start_crawl(tmp_home)
    try:
        _wait(lambda: len(warc_files(tmp_home)) >= 2 and _captures(tmp_home) >= 20,
              "the crawl never closed two WARC files")
        during, outputs = [], []
        while len(during) < 3 and process.poll() is None:     # backups while the crawl writes
            result = run_cli(tmp_home, "backup", str(dest))
            if process.poll() is None:
                during.append(_assert_consistent(dest))
                outputs.append(result.output)
                # DEST passes check while the crawl runs: nothing unclosed, rows and index agree
                run_cli(dest, "check", expect=0)
                gc.collect()        # close what the in-process commands left open
            before = _captures(tmp_home)
            _wait(lambda before=before: _captures(tmp_home) > before or process.poll() is not None,
                  "the crawl stopped writing")
        assert len(during) >= 2, "the crawl ended before two backups were made"
        assert all("integrity ok" in out for out in outputs)
        assert any("being written" in out for out in outputs)
        assert process.wait(timeout=300) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    # the backups during the crawl are consistent on their own, even now the writer is gone
    run_cli(dest, "check", expect=0)
    assert len(during[-1]) >= len(during[0])

    # once the crawl is over, one more backup takes the rest, copying only what changed
    unchanged = {p.name: p.stat().st_mtime_ns for p in warc_files(dest)}
    result = run_cli(tmp_home, "backup", str(dest))
    assert "already there" in result.output
    skipped = int(result.output.split(" already there")[0].rsplit(", ", 1)[1])
    assert skipped >= 1
    for path in warc_files(dest):
        if path.name in unchanged and path.stat().st_mtime_ns == unchanged[path.name]:
            assert path.stat().st_size == (tmp_home / "collections" / "main" / "archive"
                                           / path.name).stat().st_size
    captures = _assert_consistent(dest)
    assert len(captures) == _captures(tmp_home)
    assert {p.name for p in warc_files(dest)} == {p.name for p in warc_files(tmp_home)}
    for path in warc_files(tmp_home):
        assert (dest / path.relative_to(tmp_home)).read_bytes() == path.read_bytes()
    assert index_text(dest) == index_text(tmp_home)
    assert (dest / "memoryhole.toml").read_bytes() == (tmp_home / "memoryhole.toml").read_bytes()
    run_cli(dest, "check", expect=0)

    # restore: DEST is a home; it answers queries and takes a new crawl
    url = captures[0]["url"]
    history = run_cli(dest, "history", url, "--format", "json")
    assert url in history.output
    fresh = fresh_mockserver.url("/page/restored")
    run_cli(dest, "crawl", fresh)
    assert any(r["uri"] == fresh for r in all_records(dest))
    run_cli(dest, "check", expect=0)


def _crawled_home(home: Path, mockserver) -> None:
    write_config(home)
    run_cli(home, "crawl", mockserver.url("/page/one"), mockserver.url("/page/two"))


def test_backup_refuses_a_destination_inside_the_home(tmp_home, mockserver):
    _crawled_home(tmp_home, mockserver)
    result = run_cli(tmp_home, "backup", str(tmp_home / "copy"), expect=1)
    assert "inside the home" in result.output
    assert not (tmp_home / "copy").exists()
    result = run_cli(tmp_home, "backup", str(tmp_home), expect=1)
    assert "inside the home" in result.output


def test_backup_refuses_a_folder_that_is_not_a_backup(tmp_home, tmp_path, mockserver):
    _crawled_home(tmp_home, mockserver)
    other = tmp_path / "documents"
    other.mkdir()
    (other / "thesis.odt").write_bytes(b"mine")
    result = run_cli(tmp_home, "backup", str(other), expect=1)
    assert "not empty and holds no memoryhole backup" in result.output
    assert sorted(p.name for p in other.iterdir()) == ["thesis.odt"]


def test_backup_of_a_home_without_a_catalogue_says_so(tmp_home, tmp_path):
    tmp_home.mkdir()
    with pytest.raises(BackupError, match="no catalogue"):
        backup_home(Home(tmp_home), tmp_path / "dest")


def test_a_damaged_catalogue_is_not_put_in_place(tmp_home, tmp_path, mockserver):
    """A backup whose snapshot fails integrity_check keeps DEST's earlier catalogue."""
    _crawled_home(tmp_home, mockserver)
    dest = tmp_path / "dest"
    run_cli(tmp_home, "backup", str(dest))
    earlier = (dest / "memoryhole.db").read_bytes()
    db = tmp_home / "memoryhole.db"
    gc.collect()                # the connections the in-process commands left open close
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    page = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'idx_urls_url'"
                        ).fetchone()[0]
    conn.close()
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0
    data = db.read_bytes()
    start = (page - 1) * page_size
    spot = data.index(b"/page/one", start, start + page_size)
    with open(db, "r+b") as handle:              # one key of the URL index no longer matches
        handle.seek(spot + 1)
        handle.write(b"X")
    result = run_cli(tmp_home, "backup", str(dest), expect=1)
    assert "integrity_check" in result.output
    assert (dest / "memoryhole.db").read_bytes() == earlier
    assert not [p for p in dest.iterdir() if p.name.endswith(".backup-tmp")]


@pytest.mark.parametrize("still_open", [True, False], ids=["open-file", "closed-file"])
def test_a_file_being_written_is_taken_up_to_what_the_catalogue_cites(
        tmp_home, tmp_path, mockserver, still_open):
    """A writer that is still running (it holds its ``.open`` file, or it closed the file and
    has not committed the last rows yet): DEST gets the records up to the first one the
    catalogue snapshot does not cite, and no torn bytes, so once the writer is gone DEST still
    passes check. The home file is never changed."""
    write_config(tmp_home)
    run_cli(tmp_home, "crawl", *(mockserver.url(f"/page/w{i}") for i in range(4)))
    (closed,) = warc_files(tmp_home)
    writer = subprocess.Popen(["sleep", "300"])           # stands for the running writer
    try:
        name = re.sub(r"-\d+-(\d+)\.warc\.gz$", rf"-{writer.pid}-\1.warc.gz", closed.name)
        live = closed.with_name(name + (".open" if still_open else ""))
        os.rename(closed, live)
        conn = sqlite3.connect(tmp_home / "memoryhole.db")
        conn.execute("UPDATE captures SET warc_filename = ?", (name,))
        last = conn.execute("SELECT id, warc_offset FROM captures WHERE warc_filename = ? "
                            "ORDER BY warc_offset DESC LIMIT 1", (name,)).fetchone()
        conn.execute("DELETE FROM captures WHERE id = ?", (last[0],))  # its row is not in yet
        conn.commit()
        conn.close()
        if still_open:                          # the writer is in the middle of a record
            with open(live, "ab") as handle:
                handle.write(gzip.compress(b"WARC/1.1\r\n" + os.urandom(3000))[:1500])
        home_bytes = live.read_bytes()
        with open(live, "rb") as held:
            if still_open:
                fcntl.flock(held, fcntl.LOCK_EX)    # as the writer holds its .open file
            result = run_cli(tmp_home, "backup", str(tmp_path / "dest"))
        assert "being written" in result.output
        copy = tmp_path / "dest" / "collections" / "main" / "archive" / name
        assert copy.read_bytes() == home_bytes[:last[1]]        # up to the uncited record
        assert live.read_bytes() == home_bytes
    finally:
        writer.kill()
        writer.wait()
    _assert_consistent(tmp_path / "dest")
    run_cli(tmp_path / "dest", "check", expect=0)     # the writer is gone: nothing uncatalogued


def test_an_unclosed_file_is_backed_up_closed_and_the_home_told_to_repair(
        tmp_home, tmp_path, mockserver):
    """A ``.open`` file no writer holds (a crawl was killed): DEST gets its whole records under
    the final name and passes check; the report says to repair the home, and after that repair
    the next backup finds the file already there."""
    write_config(tmp_home)
    run_cli(tmp_home, "crawl", mockserver.url("/page/u1"), mockserver.url("/page/u2"))
    (closed,) = warc_files(tmp_home)
    whole = closed.read_bytes()
    unclosed = closed.with_name(closed.name + ".open")
    os.rename(closed, unclosed)
    with open(unclosed, "ab") as handle:                       # torn by the kill
        handle.write(gzip.compress(b"WARC/1.1\r\n" + os.urandom(3000))[:1500])
    dest = tmp_path / "dest"
    result = run_cli(tmp_home, "backup", str(dest))
    assert "no crawl is writing it" in result.output and "check --repair" in result.output
    assert (dest / closed.relative_to(tmp_home)).read_bytes() == whole
    run_cli(dest, "check", expect=0)

    copy = dest / closed.relative_to(tmp_home)
    stamp = copy.stat().st_mtime_ns
    run_cli(tmp_home, "check", "--repair", expect=0)
    result = run_cli(tmp_home, "backup", str(dest))
    assert "1 already there" in result.output
    assert copy.stat().st_mtime_ns == stamp                   # not copied again
    (torn,) = closed.parent.glob("*.torn-*")                  # the bytes the repair kept aside
    assert (dest / torn.relative_to(tmp_home)).read_bytes() == torn.read_bytes()
    run_cli(dest, "check", expect=0)
