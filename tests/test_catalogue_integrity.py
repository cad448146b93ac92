"""``memoryhole check`` runs SQLite's ``PRAGMA integrity_check`` on the catalogue: a real
catalogue file damaged on purpose makes it exit 1, naming the damage and its fix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from archive.catalogue.db import open_catalogue
from tests.support.helpers import run_cli

URL = "https://example.org/page/{:05d}"


def _catalogue_with_urls(home: Path, count: int = 3000) -> tuple[Path, int]:
    """A catalogue with ``count`` watched URLs, checkpointed into the main file; its page size."""
    path = home / "memoryhole.db"
    db = open_catalogue(path)
    db["urls"].insert_all({"url": URL.format(i), "domain": "example.org"} for i in range(count))
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.conn.close()            # the last connection checkpoints the WAL into the file
    assert not Path(str(path) + "-wal").exists()
    return path, page_size


def _index_pages(path: Path, index: str) -> set[int]:
    conn = sqlite3.connect(path)
    try:
        return {row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ?", (index,))}
    finally:
        conn.close()


def _overwrite(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def test_a_healthy_catalogue_passes(tmp_home):
    _catalogue_with_urls(tmp_home)
    result = run_cli(tmp_home, "check", expect=0)
    assert "catalogue-corrupt" not in result.output


def test_a_damaged_index_entry_fails_check_with_reindex_as_the_fix(tmp_home):
    """One key of the URL index rewritten in place (the page stays well formed): the rows are
    whole, the index is wrong, and REINDEX (the fix named) makes check pass again."""
    path, page_size = _catalogue_with_urls(tmp_home)
    pages = _index_pages(path, "idx_urls_url")
    data = path.read_bytes()
    needle = URL.format(1500).encode()
    spots = [i for i in range(len(data)) if data.startswith(needle, i)
             and i // page_size + 1 in pages]
    assert spots, "the URL is not in an index page"
    _overwrite(path, spots[0] + len(needle) - 1, b"X")    # .../01500 -> .../0150X in the index

    result = run_cli(tmp_home, "check", expect=1)
    line = next(x for x in result.output.splitlines() if x.startswith("catalogue-corrupt"))
    assert str(path) in line and "idx_urls_url" in line and "integrity_check" in line
    assert "REINDEX" in line.split("(fix:", 1)[1]

    conn = sqlite3.connect(path)              # the fix, as the line says
    conn.execute("REINDEX")
    conn.close()
    run_cli(tmp_home, "check", expect=0)


def test_a_garbled_page_fails_check_with_a_restore_as_the_fix(tmp_home):
    path, page_size = _catalogue_with_urls(tmp_home)
    leaf = sorted(_index_pages(path, "idx_urls_url"))[-2]
    _overwrite(path, leaf * page_size - 300, b"Z" * 200)     # cell bytes of one index page

    result = run_cli(tmp_home, "check", expect=1)
    line = next(x for x in result.output.splitlines() if x.startswith("catalogue-corrupt"))
    assert "integrity_check" in line
    fix = line.split("(fix:", 1)[1]
    assert "restore memoryhole.db from a backup" in fix and ".recover" in fix
