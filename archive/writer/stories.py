"""Stories: copies of one text across sites and accounts, grouped as captures arrive.

Runs in the archive writer process, on its connection and inside its open transaction.
:meth:`StoryIndex.assign` is called when a page's text becomes its URL's last good capture
(archive.writer.pages): the text's MinHash signature (archive.text.minhash) is compared with
those of the URLs that share an LSH band with it, found through the ``story_bands`` table's
index (migration 0014). Nothing is kept in memory between captures and nothing is rescanned:
the work per capture is one signature and at most :data:`MAX_CANDIDATES` signatures read.

Rules:

- Only a URL's last good capture counts (the page itself, never a tombstone, a wall or a
  page collapsed into a notice), and only a text of enough shingles (minhash.MIN_SHINGLES).
- A URL belongs to at most one story, the one its latest good text decides. It joins the story
  of its most similar candidate at or above the threshold; when that candidate has no story
  yet, the two start one. Stories are never merged: a text like members of two stories joins
  the one of its most similar candidate.
- When an edit changes the text, it is matched again: it stays if still like a member of its
  story, moves to another story it now matches, and leaves (``story_id`` NULL) when it matches
  none or becomes too short. The story it left keeps its other members, and its row.
- An unchanged text (the same signature source) costs one lookup: :meth:`assign` is not even
  called for a capture whose text is its URL's last good capture's (``text_capture_id``).

Captures made before migration 0014 join when their URL's text next changes.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import numpy as np

from archive.jobs import DEFAULT_STORY_THRESHOLD
from archive.text.minhash import Signer, band_keys, from_bytes, similarity, to_bytes
from archive.timeutil import iso, utcnow

logger = logging.getLogger(__name__)

# Candidates read per capture, at most (the most band keys shared first): a text that shares
# bands with thousands of others (boilerplate) costs no more than this.
MAX_CANDIDATES = 64


def candidates_sql(bands: int) -> str:
    """The query for the URLs sharing at least one of ``bands`` (band, key) pairs with a text,
    most shared first: one primary-key lookup per band (a ``(band, key) IN (VALUES ...)`` would
    scan the table; tests/test_stories_index.py checks the plan). Parameters: the pairs
    flattened, the URL's own id, the limit."""
    values = ", ".join("(?, ?)" for _ in range(bands))
    return (f"WITH q(band, key) AS (VALUES {values}) SELECT s.url_id, s.signature FROM"
            f" (SELECT b.url_id, count(*) AS shared FROM q JOIN story_bands AS b ON"
            f" b.band = q.band AND b.key = q.key WHERE b.url_id != ? GROUP BY b.url_id"
            f" ORDER BY shared DESC, b.url_id LIMIT ?) AS c"
            f" JOIN story_signatures AS s ON s.url_id = c.url_id")


class StoryIndex:
    """Assigns stories in the writer's transaction (module docstring)."""

    def __init__(self, conn: Any, threshold: float | None, stats: Counter[str],
                 signer: Signer | None = None) -> None:
        self.conn = conn
        self.threshold = DEFAULT_STORY_THRESHOLD if threshold is None else threshold
        self.stats = stats
        self.signer = signer or Signer()

    def assign(self, url_id: int, capture_id: int, text: str | None,
               at: str | None = None, signed: str | None = None) -> int | None:
        """Put the URL (whose last good capture is now ``capture_id`` with ``text``) in the
        story its text decides; returns the story id, or None when it is in none. ``signed``:
        the text's signature made already (archive.jobs.PageText.signature), else None."""
        if signed is None:
            signature = self.signer.sign(text)
        else:
            signature = from_bytes(bytes.fromhex(signed)) if signed else None
        old = self.conn.execute("SELECT signature FROM story_signatures WHERE url_id = ?",
                                (url_id,)).fetchone()
        if old is not None:
            old_signature = from_bytes(old[0])
            if signature is not None and np.array_equal(old_signature, signature):
                self.conn.execute("UPDATE story_signatures SET capture_id = ? WHERE url_id = ?",
                                  (capture_id, url_id))
                self.stats["stories/unchanged"] += 1
                return self._story_of(url_id)
            self.conn.executemany("DELETE FROM story_bands WHERE band = ? AND key = ? AND"
                                  " url_id = ?",
                                  [(b, k, url_id) for b, k in band_keys(old_signature)])
        if signature is None:
            if old is not None:
                self.conn.execute("DELETE FROM story_signatures WHERE url_id = ?", (url_id,))
            self._move(url_id, None, "its text is too short now")
            self.stats["stories/too_short"] += 1
            return None
        keys = band_keys(signature)
        best_id, best = self._best_match(url_id, signature, keys)
        now = at or iso(utcnow())
        self.conn.execute(
            "INSERT INTO story_signatures (url_id, capture_id, signature, signed_at, similarity)"
            " VALUES (?,?,?,?,?) ON CONFLICT (url_id) DO UPDATE SET capture_id ="
            " excluded.capture_id, signature = excluded.signature, signed_at ="
            " excluded.signed_at, similarity = excluded.similarity",
            (url_id, capture_id, to_bytes(signature), now, best if best_id else None))
        self.conn.executemany("INSERT OR IGNORE INTO story_bands (band, key, url_id)"
                              " VALUES (?,?,?)", [(b, k, url_id) for b, k in keys])
        self.stats["stories/signed"] += 1
        if best_id is None:
            self._move(url_id, None, "no copy of its text is known")
            return None
        story = self._story_of(best_id)
        if story is None:
            story = self.conn.execute(
                "INSERT INTO stories (created_at, first_url_id) VALUES (?, ?)",
                (now, best_id)).lastrowid
            self.conn.execute("UPDATE urls SET story_id = ? WHERE id = ?", (story, best_id))
            self.stats["stories/new"] += 1
        self._move(url_id, story, f"similarity {best:.2f} with URL {best_id}")
        return story

    def _best_match(self, url_id: int, signature: np.ndarray, keys: list[tuple[int, int]]
                    ) -> tuple[int | None, float]:
        """The most similar other URL at or above the threshold, and its similarity."""
        params = [value for pair in keys for value in pair]
        found = self.conn.execute(candidates_sql(len(keys)),
                                  (*params, url_id, MAX_CANDIDATES)).fetchall()
        self.stats["stories/candidates"] += len(found)
        best_id, best = None, 0.0
        for other_id, blob in found:
            score = similarity(signature, from_bytes(blob))
            if score >= self.threshold and (score > best or best_id is None):
                best_id, best = other_id, score
        return best_id, best

    def _story_of(self, url_id: int) -> int | None:
        row = self.conn.execute("SELECT story_id FROM urls WHERE id = ?", (url_id,)).fetchone()
        return row[0] if row else None

    def _move(self, url_id: int, story: int | None, why: str) -> None:
        current = self._story_of(url_id)
        if current == story:
            return
        self.conn.execute("UPDATE urls SET story_id = ? WHERE id = ?", (story, url_id))
        if story is not None:
            self.stats["stories/joined"] += 1
        if current is not None:
            self.stats["stories/left"] += 1
            logger.info("URL %d left story %d (%s)", url_id, current, why)


def recheck_copies(conn: Any, url_id: int, now: str) -> int:
    """When ``url_id`` is confirmed deleted: the other copies of its story that are still
    watched (not deleted) are due for a re-check at ``now`` (censors sweep reprints). Runs in
    the confirmation's transaction; returns how many were moved."""
    cursor = conn.execute(
        "UPDATE urls SET next_check_at = ? WHERE story_id = (SELECT story_id FROM urls WHERE"
        " id = ?) AND id != ? AND coalesce(state, 'alive') != 'deleted' AND"
        " (next_check_at IS NULL OR next_check_at > ?)", (now, url_id, url_id, now))
    return cursor.rowcount
