"""Full-text search over the archived pages' titles and text (SQLite FTS5, migration 0005).

Writers do not index: a trigger queues the id of every capture whose title or text changes in
``fts_pending``. :func:`refresh_text_index` indexes the queue, in short write transactions so
a crawl running beside it is never held up for long; the web UI calls it before it searches.
The tokenizer is trigram: any substring of three characters or more is found, in any script.
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
    """Captures waiting to be (re-)indexed."""
    return db.execute("SELECT count(*) FROM fts_pending").fetchone()[0]


def refresh_text_index(db: Any, *, batch: int = BATCH,
                       progress: Callable[[int, int], None] | None = None) -> int:
    """Index every queued capture (its current title and text; a deleted capture leaves the
    index). Returns how many were handled; ``progress(done, total)`` after each batch."""
    total = pending(db)
    done = 0
    while True:
        with immediate(db):
            ids = [row[0] for row in db.execute(
                "SELECT capture_id FROM fts_pending ORDER BY capture_id LIMIT ?", (batch,))]
            if not ids:
                break
            marks = ",".join("?" * len(ids))
            db.execute(f"DELETE FROM captures_fts WHERE rowid IN ({marks})", ids)
            db.execute(f"INSERT INTO captures_fts (rowid, title, text) SELECT id,"
                       f" coalesce(title, ''), coalesce(text, '') FROM captures WHERE id IN"
                       f" ({marks})", ids)
            db.execute(f"DELETE FROM fts_pending WHERE capture_id IN ({marks})", ids)
        done += len(ids)
        if progress is not None:
            progress(done, max(total, done))
    return done


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


def search_captures(db: Any, text: str, limit: int = 100) -> list[int]:
    """Ids of captures whose title or text holds every word of ``text`` (newest first)."""
    condition, params = text_condition(text, "c.id")
    return [row[0] for row in db.execute(
        f"SELECT c.id FROM captures AS c WHERE {condition} ORDER BY c.id DESC LIMIT ?",
        (*params, limit))]
