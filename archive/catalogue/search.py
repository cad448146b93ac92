"""Full-text search over the archived pages' titles and text (SQLite FTS5, migration 0005).

Writers do not index: a trigger queues the id of every capture whose title or text changes in
``fts_pending``, and of every deletion logged in ``deletion_fts_pending`` (the deletion log's own
index, migration 0018). :func:`refresh_text_index` indexes the queue, in short write transactions so
a crawl running beside it is never held up for long; the web UI calls it before it searches. The
tokenizer is trigram: any substring of three characters or more is found, in any script.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archive.catalogue.captures import text_sql
from archive.catalogue.db import immediate

BATCH = 500
SEARCH_CATCH_UP = 5000     # a search indexes a queue this short first; a longer one is left to
                           # the background (archive.web.server), or the search would wait


def pending(db: Any) -> int:
    """Captures and deletions waiting to be (re-)indexed."""
    return db.execute("SELECT (SELECT count(*) FROM fts_pending) +"
                      " (SELECT count(*) FROM deletion_fts_pending)").fetchone()[0]


def refresh_text_index(db: Any, *, batch: int = BATCH,
                       progress: Callable[[int, int], None] | None = None) -> int:
    """Index every queued capture (its current title and text; a deleted capture leaves the
    index), then every queued deletion (its last good capture's title and text: the deletion
    log's own index). Returns how many were handled; ``progress(done, total)`` after each
    batch."""
    total = pending(db)
    done = 0
    for step in (_index_captures, _index_deletions):
        while count := step(db, batch):
            done += count
            if progress is not None:
                progress(done, max(total, done))
    return done


def _index_captures(db: Any, batch: int) -> int:
    with immediate(db):
        ids = [row[0] for row in db.execute(
            "SELECT capture_id FROM fts_pending ORDER BY capture_id LIMIT ?", (batch,))]
        if ids:
            marks = ",".join("?" * len(ids))
            db.execute(f"DELETE FROM captures_fts WHERE rowid IN ({marks})", ids)
            db.execute(f"INSERT INTO captures_fts (rowid, title, text) SELECT id,"
                       f" coalesce(title, ''), coalesce(text, '') FROM captures WHERE id IN"
                       f" ({marks})", ids)
            db.execute(f"DELETE FROM fts_pending WHERE capture_id IN ({marks})", ids)
    return len(ids)


def _index_deletions(db: Any, batch: int) -> int:
    text, join = text_sql("c")
    with immediate(db):
        ids = [row[0] for row in db.execute(
            "SELECT deletion_id FROM deletion_fts_pending ORDER BY deletion_id LIMIT ?",
            (batch,))]
        if ids:
            marks = ",".join("?" * len(ids))
            db.execute(f"DELETE FROM deletions_fts WHERE rowid IN ({marks})", ids)
            db.execute(f"INSERT INTO deletions_fts (rowid, title, text) SELECT d.id,"
                       f" coalesce(c.title, ''), coalesce({text}, '') FROM deletions AS d"
                       f" JOIN captures AS c ON c.id = d.last_good_capture_id {join}"
                       f" WHERE d.id IN ({marks})", ids)
            db.execute(f"DELETE FROM deletion_fts_pending WHERE deletion_id IN ({marks})", ids)
    return len(ids)


MIN_INDEXED = 3        # trigram: shorter words are looked for in the text itself


def fts_query(text: str) -> str:
    """A user's search words of three characters or more as an FTS5 query: each word a quoted
    phrase, all required (no FTS5 syntax reaches SQLite from a search box)."""
    words = [w.replace('"', '""') for w in text.split() if len(w) >= MIN_INDEXED]
    return " ".join(f'"{w}"' for w in words)


def short_words(text: str) -> list[str]:
    """The words too short for the trigram index (新疆, 西藏: many Chinese words have two
    characters), lower-cased."""
    return [w.lower() for w in text.split() if len(w) < MIN_INDEXED]


def text_condition(text: str, id_column: str) -> tuple[str, list[Any]]:
    """A WHERE condition (and its parameters) for "the capture whose id is ``id_column`` holds
    every word of ``text``" in its title or its text (its own, or the text of the capture it
    names: archive.catalogue.captures.text_sql). Long words are looked up in the index, under
    the capture that holds the text (whose title is the one indexed: an unchanged re-check's
    capture shares it); short words in the texts themselves."""
    parts: list[str] = []
    params: list[Any] = []
    if query := fts_query(text):
        # the capture that holds the text (itself, or the one it names) is the one indexed
        parts.append(f"(SELECT coalesce(s.text_capture_id, s.id) FROM captures AS s WHERE"
                     f" s.id = {id_column}) IN (SELECT rowid FROM captures_fts WHERE"
                     " captures_fts MATCH ?)")
        params.append(query)
    own_text, join = text_sql("s")
    for word in short_words(text):
        parts.append(f"EXISTS (SELECT 1 FROM captures AS s {join} WHERE s.id = {id_column} AND"
                     f" instr(lower(coalesce(s.title, '') || ' ' || coalesce({own_text}, '')),"
                     " ?))")
        params.append(word)
    return " AND ".join(parts) or "1", params


def deletion_text_condition(text: str) -> tuple[str, list[Any]]:
    """A WHERE condition on ``deletions AS d`` (and its parameters): its last good capture holds
    every word of ``text``. Long words are looked up in the deletions' own index (migration
    0018), whose size is the deletion log's, not the archive's; short words in the text."""
    parts: list[str] = []
    params: list[Any] = []
    if query := fts_query(text):
        parts.append("d.id IN (SELECT rowid FROM deletions_fts WHERE deletions_fts MATCH ?)")
        params.append(query)
    if short := short_words(text):
        condition, short_params = text_condition(" ".join(short), "d.last_good_capture_id")
        parts.append(condition)
        params += short_params
    return " AND ".join(parts) or "1", params


def search_captures(db: Any, text: str, limit: int = 100) -> list[int]:
    """Ids of captures whose title or text holds every word of ``text`` (newest first)."""
    condition, params = text_condition(text, "c.id")
    return [row[0] for row in db.execute(
        f"SELECT c.id FROM captures AS c WHERE {condition} ORDER BY c.id DESC LIMIT ?",
        (*params, limit))]
