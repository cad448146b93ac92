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


def test_items_listed_before_item_versions_start_with_their_text(tmp_path: Path) -> None:
    """Migration 0013 on a catalogue whose items were listed before it: each item with a text
    gets that text as its first version, seen at its last listing."""
    import sqlite3

    from archive.catalogue.db import open_catalogue

    path = tmp_path / "memoryhole.db"
    db = open_catalogue(path)
    db["items"].insert_all([
        {"parent_url": "https://t.me/s/kz", "item_id": "kz/1", "state": "present",
         "text": "Сообщение 1", "last_seen_at": "2026-11-01T00:00:00Z", "last_capture_id": 7},
        {"parent_url": "https://t.me/s/kz", "item_id": "kz/2", "state": "present"}])
    db.conn.close()
    conn = sqlite3.connect(path)                # as a catalogue made before 0013 was
    with conn:
        conn.execute("DROP TABLE item_versions")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = '0013_item_versions'")
    conn.close()
    db = open_catalogue(path)
    assert [dict(r) for r in db["item_versions"].rows] == [
        {"id": 1, "item_row_id": 1, "seen_at": "2026-11-01T00:00:00Z", "capture_id": 7,
         "text": "Сообщение 1"}]
    db.conn.close()
