"""Undo what a re-check run did to the catalogue's state, when the run turns out degraded.

Whether a run can be believed is known only at its end (archive.detect.run), but its checks
are written as they come. So before a run first touches a watched URL, the URL's state is kept
in a temporary table of the writer's connection (its items' too); a degraded run puts every one
back as it was: missing streaks, the last good capture and digests, a restore, an item's
suspicion. The run's captures stay (they are evidence), its diffs go, its checks that were not
``transient`` already become so, with the reason and what they were classified in their
detail, and the URLs are due again soon. A single check
can be undone the same way (a soft-404 whose probe proved nothing).
"""

from __future__ import annotations

from typing import Any

URL_STATE = ("state", "missing_streak", "missing_since", "missing_reason", "last_alive_at",
             "transient_streak", "last_checked_at", "check_count", "last_text_digest",
             "last_capture_id", "last_payload_digest", "etag", "last_modified", "deleted_at",
             "last_captured_at")
ITEM_STATE = ("state", "suspected_at", "suspected_capture_id")


class RunSnapshot:
    """The state of the URLs (and their items) a run touched, as it was before the run."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        columns = ", ".join(URL_STATE)
        conn.execute("DROP TABLE IF EXISTS temp.run_urls")
        conn.execute(f"CREATE TEMP TABLE run_urls (url_id INTEGER PRIMARY KEY, {columns})")
        conn.execute("DROP TABLE IF EXISTS temp.run_items")
        conn.execute("CREATE TEMP TABLE run_items (item_rowid INTEGER PRIMARY KEY, url_id, "
                     + ", ".join(ITEM_STATE) + ")")
        self.restored: dict[int, list[int]] = {}        # url id -> deletions it restored

    def keep(self, url_id: int) -> None:
        """Remember ``url_id``'s state unless this run has already."""
        self.conn.execute(f"INSERT OR IGNORE INTO temp.run_urls SELECT id, {', '.join(URL_STATE)}"
                          " FROM urls WHERE id = ?", (url_id,))
        self.conn.execute(f"INSERT OR IGNORE INTO temp.run_items SELECT rowid, url_id,"
                          f" {', '.join(ITEM_STATE)} FROM items WHERE url_id = ?", (url_id,))

    def restored_deletion(self, url_id: int, deletion_id: int) -> None:
        self.restored.setdefault(url_id, []).append(deletion_id)

    def undo(self, run_id: int | None, why: str, next_check_at: str,
             url_ids: list[int] | None = None, reason: str = "degraded") -> int:
        """Put the URLs (all of the run's, or ``url_ids``) back as they were; their checks of
        this run become transient with ``reason`` and ``why`` in their detail; they are due at
        ``next_check_at``. The number of URLs put back."""
        where, params = ("", []) if url_ids is None else (
            f" WHERE url_id IN ({', '.join('?' for _ in url_ids)})", list(url_ids))
        ids = [row[0] for row in self.conn.execute(f"SELECT url_id FROM temp.run_urls{where}",
                                                   params)]
        if not ids:
            return 0
        marks = ", ".join("?" for _ in ids)
        assign = ", ".join(f"{c} = b.{c}" for c in URL_STATE)
        self.conn.execute(f"UPDATE urls SET {assign}, next_check_at = ? FROM temp.run_urls AS b"
                          f" WHERE b.url_id = urls.id AND urls.id IN ({marks})",
                          (next_check_at, *ids))
        assign = ", ".join(f"{c} = b.{c}" for c in ITEM_STATE)
        self.conn.execute(f"UPDATE items SET {assign} FROM temp.run_items AS b WHERE"
                          f" b.item_rowid = items.rowid AND b.url_id IN ({marks})", ids)
        self.conn.execute(
            f"DELETE FROM diffs WHERE to_capture_id IN (SELECT c.id FROM captures AS c JOIN"
            f" urls AS u ON u.url = c.url WHERE c.run_id IS ? AND u.id IN ({marks}))",
            (run_id, *ids))
        restored = [d for url_id in ids for d in self.restored.pop(url_id, [])]
        if restored:
            self.conn.execute("UPDATE deletions SET restored_at = NULL, restored_capture_id ="
                              f" NULL WHERE id IN ({', '.join('?' for _ in restored)})", restored)
        self.conn.execute(
            "UPDATE checks SET detail = ? || ': classified ' || outcome || coalesce('/' || reason,"
            " '') || ' by ' || coalesce(rule, '-') || coalesce('; ' || detail, ''),"
            f" outcome = 'transient', reason = ? WHERE run_id IS ? AND outcome != 'transient'"
            f" AND url_id IN ({marks})", (why, reason, run_id, *ids))
        return len(ids)
