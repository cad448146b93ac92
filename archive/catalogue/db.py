"""The SQLite catalogue (sqlite-utils): connection settings, transactions, and opening it with
its schema migrations (archive.catalogue.migrations) applied.

Every writer opens the catalogue through :func:`open_catalogue`: WAL mode, a busy timeout, and
``BEGIN IMMEDIATE`` for any read-then-write (a deferred transaction in WAL fails at once with
"database is locked"; NOTES.md). Schema changes are sqlite-utils migrations, applied when the
catalogue is opened, under a file lock so two processes never migrate at once.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

from archive.catalogue.migrations import build_migrations

BUSY_TIMEOUT_MS = 30_000
# The archive writer's page cache (it grows only as pages are read or written). SQLite's
# default, 2 MB, holds a small part of the indexes of a large catalogue, whose inserts land all
# over them (URL text, domains, check times): every batch then reads and evicts pages again.
# Other connections keep the default: the cache also keeps every page they read.
WRITER_CACHE_MIB = 64


def connect(path: Path | str, *, cache_mib: int | None = None) -> sqlite_utils.Database:
    """A connection with WAL, a busy timeout and ``synchronous=NORMAL`` (safe under WAL); a page
    cache of ``cache_mib`` (SQLite's default when None)."""
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    db = sqlite_utils.Database(conn)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    if cache_mib:
        conn.execute(f"PRAGMA cache_size = -{cache_mib * 1024}")      # negative: KiB
    conn.execute("PRAGMA foreign_keys = ON")
    return db


def open_catalogue(path: Path | str, *, cache_mib: int | None = None) -> sqlite_utils.Database:
    """Open (creating if needed) the catalogue at ``path`` and apply pending migrations
    (``cache_mib``: see :func:`connect`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = connect(path, cache_mib=cache_mib)
    migrations = build_migrations()
    if migrations.pending(db):
        with _file_lock(path.with_name(path.name + ".migrate-lock")):
            migrations.apply(db)
    return db


def open_existing(path: Path | str) -> sqlite_utils.Database:
    """Open a catalogue that must already exist (read commands); FileNotFoundError otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no catalogue at {path}: crawl something first (memoryhole --home "
            f"{path.parent} crawl URL) or pass the right --home"
        )
    return open_catalogue(path)


def dict_rows(db: Any, sql: str, params: tuple[Any, ...] | list[Any] = ()
              ) -> list[dict[str, Any]]:
    """The rows of a query as dicts by column name (``db``: a sqlite-utils Database or a
    sqlite3 Connection)."""
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def copy_catalogue(src: Path | str, dst: Path | str) -> None:
    """Copy the catalogue at ``src`` into ``dst`` (made, or overwritten in one transaction) with
    SQLite's online backup API, in one step: a consistent snapshot while writers go on (WAL).
    Never copy the file itself: a WAL database copied while it is written loses rows (NOTES.md).
    A new ``dst`` is one file (journal mode DELETE); an existing one keeps its mode."""
    new = not Path(dst).exists()
    source = sqlite3.connect(str(src), timeout=BUSY_TIMEOUT_MS / 1000)
    target = sqlite3.connect(str(dst), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        for conn in (source, target):
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        source.backup(target)
        if new:
            target.execute("PRAGMA journal_mode = DELETE")
    finally:
        target.close()
        source.close()


def integrity_errors(db: Any, limit: int = 20) -> list[str]:
    """What ``PRAGMA integrity_check`` says is wrong with the catalogue (at most ``limit``
    messages); ``[]`` when it answers ``ok``. A file SQLite cannot read at all is one message.
    ``db``: a sqlite-utils Database or a sqlite3 Connection. Reads every page: seconds per GB."""
    try:
        rows = [row[0] for row in db.execute(f"PRAGMA integrity_check({int(limit)})")]
    except sqlite3.DatabaseError as exc:
        return [f"SQLite cannot read it: {exc}"]
    if rows == ["ok"]:
        return []
    # one message per line; SQLite heads them with the schema's name ("*** in database main ***")
    return [line.strip() for row in rows for line in str(row).splitlines()
            if line.strip() and not line.startswith("*** ")]


@contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes the write lock up front (``BEGIN IMMEDIATE``)."""
    conn = db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
