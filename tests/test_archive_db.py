"""archive.db: every catalogue connection gets the same settings."""

from __future__ import annotations

from pathlib import Path

from archive.db import BUSY_TIMEOUT_MS, CACHE_MIB, connect, open_catalogue


def pragma(db, name: str):
    return db.conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_connections_use_wal_a_busy_timeout_and_a_big_page_cache(tmp_path: Path) -> None:
    path = tmp_path / "memoryhole.db"
    open_catalogue(path).conn.close()
    db = connect(path)            # a second connection, as the writer and the CLI each have
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "synchronous") == 1                   # NORMAL
    assert pragma(db, "busy_timeout") == BUSY_TIMEOUT_MS
    assert pragma(db, "foreign_keys") == 1
    assert pragma(db, "cache_size") == -CACHE_MIB * 1024     # KiB
    assert CACHE_MIB >= 64
