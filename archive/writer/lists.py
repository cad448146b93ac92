"""Items inside list pages (a channel's messages, a timeline's posts, a thread's comments) and
the suspected deletions between two captures of a list.

A list page yields items with stable ids and a ``seq`` (their order on the platform: a message or
post id). What one capture *covers* is the range of ``seq`` of its ordinary items. An item seen
before, inside that range and missing now, is a *suspected item deletion*: never a deletion by
itself (a list may hide an item for a while). When the item has a URL of its own, that URL becomes a
watched URL due at once, with the item's id and its parent; the re-check confirms it with the
platform's rules and the usual ``confirm_checks`` (archive.writer.checks), and the deletion is
logged with the parent URL, the item id and the item's last archived text. An item with no URL of
its own (a comment) is confirmed by the list itself: missing from
``confirm_checks`` captures in a row that cover it, the first and the last at least
``confirm_after`` apart, it is logged with reason ``unknown`` (a list does not say why). An item
listed again marks its deletion restored.

Ids never seen as items (the other ids of an album, gaps) are never suspected: only items
seen before can go missing. Service items (a "pinned" notice) set no range and are never
suspected.

Runs in the archive writer process (archive.writer.process), after the list page's capture row.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta
from typing import Any

from archive.jobs import ListedItem, ListJob
from archive.timeutil import parse_iso
from archive.urlnorm import canonical_url, domain_of

logger = logging.getLogger(__name__)


class ItemRecorder:
    def __init__(self, conn: Any, stats: Counter[str], *, confirm_checks: int,
                 confirm_after: timedelta) -> None:
        self.conn = conn
        self.stats = stats
        self.confirm_checks = confirm_checks
        self.confirm_after = confirm_after

    def record(self, job: ListJob) -> None:
        found = self.conn.execute("SELECT id, captured_at, status FROM captures"
                                  " WHERE warc_record_id = ?", (job.record_id,)).fetchone()
        if found is None:
            logger.warning("no capture row for the list %s; its items are not stored",
                           job.parent_url)
            self.stats["lists_without_capture"] += 1
            return
        capture_id, captured_at, status = found
        if status != 200:
            return                   # a wall, an error page: it shows nothing about the items
        parent = canonical_url(job.parent_url)
        for item in job.items:
            self._upsert(parent, item, job, capture_id, captured_at)
        self.stats["lists"] += 1
        self.stats["list_items"] += len(job.items)
        if job.covers is not None:
            self._suspect(parent, job, capture_id, captured_at)

    def _upsert(self, parent: str, item: ListedItem, job: ListJob, capture_id: int,
                captured_at: str) -> None:
        row = self.conn.execute("SELECT id, state, url_id, text FROM items WHERE parent_url = ?"
                                " AND item_id = ?", (parent, item.item_id)).fetchone()
        values = (item.seq, item.url, item.check_url, item.posted_at, item.text,
                  json.dumps(item.meta, sort_keys=True, ensure_ascii=False), int(item.service),
                  captured_at, capture_id)
        if row is None:
            self.conn.execute(
                "INSERT INTO items (seq, url, check_url, posted_at, text, meta, service,"
                " last_seen_at, last_capture_id, parent_url, item_id, platform, source,"
                " first_seen_at, first_capture_id, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
                " 'present')",
                (*values, parent, item.item_id, job.platform, job.source, captured_at,
                 capture_id))
            self.stats["items_new"] += 1
            self._version(self.conn.execute("SELECT last_insert_rowid()").fetchone()[0], item,
                          captured_at, capture_id)
            return
        item_row_id, state, url_id, text = row
        if item.text is not None and item.text != text:
            self._version(item_row_id, item, captured_at, capture_id)
            if text is not None:
                self.stats["items_edited"] += 1
                logger.info("item %s of %s was edited", item.item_id, parent)
        self.conn.execute(
            "UPDATE items SET seq = ?, url = ?, check_url = ?, posted_at = ?, text = ?, meta = ?,"
            " service = ?, last_seen_at = ?, last_capture_id = ?, state = 'present',"
            " suspected_at = NULL, suspected_capture_id = NULL, missing_count = 0 WHERE id = ?",
            (*values, item_row_id))
        if state != "present":
            self.stats["items_back"] += 1
            logger.info("item %s of %s is listed again (was %s)", item.item_id, parent, state)
            if url_id is not None:         # a logged deletion gets its restore checked soon
                self.conn.execute("UPDATE urls SET next_check_at = ? WHERE id = ? AND"
                                  " next_check_at > ?", (captured_at, url_id, captured_at))
            elif state == "deleted":       # confirmed by the list: the list says it is back
                self.conn.execute(
                    "UPDATE deletions SET restored_at = ?, restored_capture_id = ? WHERE"
                    " parent_url = ? AND item_id = ? AND url_id IS NULL AND restored_at IS NULL",
                    (captured_at, capture_id, parent, item.item_id))
                self.stats["restored"] += 1

    def _version(self, item_row_id: int, item: ListedItem, captured_at: str,
                 capture_id: int) -> None:
        """Keep the text the item is listed with now: a new version of it."""
        if item.text is not None:
            self.conn.execute("INSERT INTO item_versions (item_row_id, seen_at, capture_id, text)"
                              " VALUES (?,?,?,?)", (item_row_id, captured_at, capture_id,
                                                   item.text))

    def _suspect(self, parent: str, job: ListJob, capture_id: int, captured_at: str) -> None:
        assert job.covers is not None
        low, high = job.covers
        listed = {item.item_id for item in job.items}
        missing = [
            row for row in self.conn.execute(
                "SELECT id, item_id, seq, check_url, url_id, first_seen_at, last_seen_at,"
                " last_capture_id, platform, source, state, suspected_at, missing_count,"
                " text FROM items WHERE parent_url = ? AND seq BETWEEN ? AND ? AND service = 0"
                " AND state IN ('present', 'suspected')", (parent, low, high)).fetchall()
            if row[1] not in listed and row[2] not in job.seen_seqs
        ]
        for (item_row_id, item_id, _seq, check_url, url_id, first_seen, last_seen, last_capture,
             platform, source, state, suspected_at, count, text) in missing:
            if state == "suspected":
                if not check_url:          # its own URL's re-checks confirm the others
                    self._missing_again(item_row_id, item_id, parent, platform, source,
                                        last_seen, last_capture, suspected_at, (count or 1) + 1,
                                        text, capture_id, captured_at)
                continue
            if check_url:
                url_id = self._watch(check_url, item_id, parent, platform, source, first_seen,
                                     last_seen, last_capture, captured_at, url_id)
            self.conn.execute(
                "UPDATE items SET state = 'suspected', suspected_at = ?, suspected_capture_id = ?,"
                " url_id = ?, missing_count = 1 WHERE id = ?",
                (captured_at, capture_id, url_id, item_row_id))
            self.stats["items_suspected"] += 1
            logger.info("suspected item deletion: %s of %s (missing from %s)", item_id, parent,
                        job.parent_url)

    def _missing_again(self, item_row_id: int, item_id: str, parent: str, platform: str | None,
                       source: str | None, last_seen: str, last_capture: int, suspected_at: str,
                       count: int, text: str | None, capture_id: int, captured_at: str) -> None:
        """A suspected item with no URL of its own, missing again from a list that covers it."""
        apart = parse_iso(captured_at) - parse_iso(suspected_at)
        if count < self.confirm_checks or apart < self.confirm_after:
            self.conn.execute("UPDATE items SET missing_count = ? WHERE id = ?",
                              (count, item_row_id))
            return
        self.conn.execute(
            "INSERT INTO deletions (url, domain, source, reason, rule, detail, detected_at,"
            " last_seen_alive_at, first_seen_missing_at, confirmed_checks, evidence_capture_id,"
            " last_good_capture_id, item_id, parent_url, item_text)"
            " VALUES (?,?,?,'unknown','items/missing-from-list',?,?,?,?,?,?,?,?,?,?)",
            (parent, domain_of(parent), source,
             f"{item_id} missing from {count} captures of its list in a row", captured_at,
             last_seen, suspected_at, count, capture_id, last_capture, item_id, parent, text))
        self.conn.execute("UPDATE items SET state = 'deleted', missing_count = ? WHERE id = ?",
                          (count, item_row_id))
        self.stats["deletions"] += 1
        self.stats["deletions/unknown"] += 1
        self.stats["item_deletions"] += 1
        logger.warning("item deletion confirmed: %s of %s (%s)", item_id, parent,
                       platform or "list")

    def _watch(self, check_url: str, item_id: str, parent: str, platform: str | None,
               source: str | None, first_seen: str, last_seen: str, last_capture: int,
               due: str, url_id: int | None) -> int:
        """The watched URL that confirms the item's deletion, due at once."""
        url = canonical_url(check_url)
        row = self.conn.execute("SELECT id FROM urls WHERE url = ?", (url,)).fetchone()
        if row is not None:
            self.conn.execute("UPDATE urls SET next_check_at = ? WHERE id = ? AND state !="
                              " 'deleted' AND next_check_at > ?", (due, row[0], due))
            return int(row[0])
        cursor = self.conn.execute(
            "INSERT INTO urls (url, domain, source, platform, item_id, parent_url, first_seen_at,"
            " last_captured_at, next_check_at, state, missing_streak, last_capture_id,"
            " last_alive_at) VALUES (?,?,?,?,?,?,?,?,?,'alive',0,?,?)",
            (url, domain_of(url), source, platform, item_id, parent, first_seen, last_seen, due,
             last_capture, last_seen))
        self.stats["item_urls_watched"] += 1
        return int(cursor.lastrowid)


def item_checked(conn: Any, url_id: int, outcome: str) -> None:
    """An item's own URL was re-checked: alive clears its suspicion (the list hid it)."""
    if outcome in ("alive", "changed"):
        conn.execute("UPDATE items SET state = 'present', suspected_at = NULL,"
                     " suspected_capture_id = NULL WHERE url_id = ? AND state = 'suspected'",
                     (url_id,))


def item_of_url(conn: Any, url_id: int) -> tuple[str | None, str | None, str | None]:
    """(item id, parent URL, last archived text) of a watched item URL; Nones otherwise."""
    row = conn.execute("SELECT u.item_id, u.parent_url, i.text FROM urls AS u LEFT JOIN items"
                       " AS i ON i.url_id = u.id WHERE u.id = ?", (url_id,)).fetchone()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def item_deleted(conn: Any, url_id: int) -> None:
    conn.execute("UPDATE items SET state = 'deleted' WHERE url_id = ?", (url_id,))
