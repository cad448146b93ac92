"""archive.catalogue.db: every catalogue connection gets the same settings; the archive writer's
also a
big page cache."""

from __future__ import annotations

import queue
from pathlib import Path

from archive.catalogue.db import BUSY_TIMEOUT_MS, WRITER_CACHE_MIB, connect, open_catalogue
from archive.home import Home
from archive.jobs import WriterSettings
from archive.writer.process import WriterProcess

SQLITE_DEFAULT_CACHE = -2000          # KiB


def pragma(db, name: str):
    return db.conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_connections_use_wal_a_busy_timeout_and_the_default_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "memoryhole.db"
    open_catalogue(path).conn.close()
    db = connect(path)            # a second connection, as the CLI and the crawl process have
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "synchronous") == 1                   # NORMAL
    assert pragma(db, "busy_timeout") == BUSY_TIMEOUT_MS
    assert pragma(db, "foreign_keys") == 1
    assert pragma(db, "cache_size") == SQLITE_DEFAULT_CACHE
    assert pragma(connect(path, cache_mib=8), "cache_size") == -8 * 1024


def test_the_archive_writer_gets_a_big_page_cache(tmp_path: Path) -> None:
    worker = WriterProcess(Home(tmp_path / "home"), WriterSettings(), None, queue.Queue())
    worker._open()
    try:
        assert pragma(worker._db, "cache_size") == -WRITER_CACHE_MIB * 1024
        assert WRITER_CACHE_MIB >= 64
    finally:
        worker._shutdown(False)
