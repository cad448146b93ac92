"""Catalogue rows for what the writer writes: captures, watched URLs and text diffs.

Runs in the archive writer process (archive.writer.process) with its connection, inside its open
transaction.
The costly full-text extraction runs only for a page whose cheap fingerprint changed since the
URL's last good capture; the diff is stored only when the main texts really differ (so a changed
date in the page chrome or whitespace gives no diff).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from archive.catalogue.captures import capture_body, capture_text, text_holder, text_sql
from archive.detect.collapse import collapse_of
from archive.home import Home
from archive.platforms.registry import meta_reader
from archive.text.diffing import diff_texts
from archive.text.extract import had_text, main_text
from archive.timeutil import iso, parse_iso
from archive.urlnorm import canonical_url, domain_of
from archive.warc.http_message import HttpExchange
from archive.warc.reader import RecordNotFound
from archive.warc.records import WrittenRecord, certificate_sha256
from archive.writer.stories import StoryIndex

if TYPE_CHECKING:
    import sqlite_utils

    from archive.jobs import PageJob, WriterSettings

logger = logging.getLogger(__name__)

_CAPTURE_COLUMNS = (
    "url", "fetched_url", "captured_at", "status", "mime", "collection", "warc_filename",
    "warc_offset", "warc_length", "warc_record_id", "payload_digest", "is_revisit", "via",
    "run_id", "certificate_sha256", "vantage",
)
_INSERT_CAPTURE = (
    f"INSERT INTO captures ({', '.join(_CAPTURE_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _CAPTURE_COLUMNS)})"
)


_CANONICAL_MEMO = 10_000
_INSERTED_MEMO = 10_000


class PageRecorder:
    """Catalogue writes of the archive writer."""

    def __init__(self, db: sqlite_utils.Database, home: Home, settings: WriterSettings,
                 stats: Counter[str], *, first_recheck: timedelta) -> None:
        self.db = db
        self.conn = db.conn
        self.home = home
        self.settings = settings
        self.stats = stats
        self._first_offset = first_recheck       # a new capture's first re-check, after it
        self._canonical: dict[str, str] = {}        # fetched URL -> catalogue key, this run
        self.inserted: dict[str, int] = {}          # WARC-Record-ID -> captures.id, until used
        self.stories = StoryIndex(self.conn, settings.story_threshold, stats)

    def key(self, fetched_url: str) -> str:
        """``canonical_url`` of a fetched URL, remembered (an exchange needs it two or three
        times); the memo is dropped when it grows past _CANONICAL_MEMO entries."""
        found = self._canonical.get(fetched_url)
        if found is None:
            if len(self._canonical) >= _CANONICAL_MEMO:
                self._canonical.clear()
            found = self._canonical[fetched_url] = canonical_url(fetched_url)
        return found

    def last_good_text(self, url_id: int) -> str | None:
        """The text of the URL's last good capture."""
        text, join = text_sql("c")
        row = self.conn.execute(f"SELECT {text} FROM urls AS u JOIN captures AS c ON"
                                f" c.id = u.last_capture_id {join} WHERE u.id = ?",
                                (url_id,)).fetchone()
        return row[0] if row else None

    def _text_of(self, capture_id: int) -> str | None:
        return capture_text(self.conn, capture_id)

    def _same_text(self, last_capture_id: int | None, text: str) -> int | None:
        """The id of the capture holding the text of the URL's last good capture when it is
        ``text`` itself (an unchanged page: the new capture keeps no copy), else None."""
        if not text or last_capture_id is None:
            return None
        holder = text_holder(self.conn, last_capture_id)
        return holder[0] if holder is not None and holder[1] == text else None

    def had_text(self, fetched_url: str) -> bool:
        """Whether the URL's last good capture had text (an article was there)."""
        row = self.conn.execute("SELECT last_text_digest FROM urls WHERE url = ?",
                                (self.key(fetched_url),)).fetchone()
        return row is not None and had_text(row[0])

    def insert_capture(self, record: WrittenRecord, ex: HttpExchange, *, via: str,
                       run_id: int | None) -> None:
        self.insert_written(record, ex.url, iso(ex.date), ex.status, via=via, run_id=run_id,
                            certificate=certificate_sha256(ex.peer_certificates))

    def insert_written(self, record: WrittenRecord, fetched_url: str, captured_at: str,
                       status: int | None, *, via: str, run_id: int | None,
                       certificate: str | None) -> None:
        """The capture row of a response (or revisit) record written already, here or by a
        cluster worker (archive.cluster.ingest)."""
        loc = record.location
        cursor = self.conn.execute(_INSERT_CAPTURE, (
            self.key(fetched_url), fetched_url, captured_at, status, record.mime,
            self.settings.collection, loc.filename, loc.offset, loc.length, record.record_id,
            record.payload_digest, int(record.record_type == "revisit"), via, run_id,
            certificate, record.vantage,
        ))
        if len(self.inserted) >= _INSERTED_MEMO:      # ids of exchanges no check asked for
            self.inserted.clear()
        self.inserted[record.record_id] = cursor.lastrowid

    def insert_resource(self, record: WrittenRecord, *, run_id: int | None) -> None:
        loc = record.location
        self.conn.execute(_INSERT_CAPTURE, (
            self.key(record.url), record.url, iso(record.date), None, record.mime,
            self.settings.collection, loc.filename, loc.offset, loc.length, record.record_id,
            record.payload_digest, 0, "resource", run_id, None, record.vantage,
        ))

    def original_with_digest(self, fetched_url: str, digest: str) -> dict[str, Any] | None:
        """The newest full (non-revisit) capture of this URL with the same payload."""
        row = self.conn.execute(
            "SELECT fetched_url, captured_at FROM captures WHERE url = ? AND payload_digest = ?"
            " AND is_revisit = 0 AND vantage IS NULL ORDER BY id DESC LIMIT 1",
            (self.key(fetched_url), digest),
        ).fetchone()
        if row is None:
            return None
        return {"fetched_url": row[0], "captured_at_dt": parse_iso(row[1])}

    def last_full_capture(self, fetched_url: str) -> dict[str, Any] | None:
        """The newest 2xx response record of this URL (what a 304 says is unchanged)."""
        row = self.conn.execute(
            "SELECT fetched_url, captured_at, payload_digest FROM captures WHERE url = ?"
            " AND is_revisit = 0 AND status BETWEEN 200 AND 299 AND vantage IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (self.key(fetched_url),),
        ).fetchone()
        if row is None:
            return None
        return {"fetched_url": row[0], "captured_at_dt": parse_iso(row[1]),
                "payload_digest": row[2]}

    def record(self, job: PageJob, *, good: bool | None = None, crawled: bool = False) -> None:
        """Store a page's text on its capture, update the watched URL, diff if it changed.

        ``good`` says whether this is the page itself (default: a 2xx status); a re-check passes
        False for a 200 tombstone or not-found page, whose text is kept on its capture but which
        never becomes the URL's last good capture. A ``crawled`` page (not a re-check's) that
        collapsed into a short notice (archive.detect.collapse) is not good either."""
        found = self.conn.execute(
            "SELECT id, captured_at, payload_digest FROM captures WHERE warc_record_id = ?",
            (job.record_id,),
        ).fetchone()
        if found is None:
            logger.warning("no capture row for %s (%s); text not stored", job.url, job.record_id)
            self.stats["pages_without_capture"] += 1
            return
        capture_id, captured_at, payload_digest = found
        text = job.page.text
        if self.settings.extract == "trafilatura":
            try:
                if body := self._body_of(job, capture_id):
                    text = main_text(body, job.content_type, job.url)
            except (RecordNotFound, OSError, ValueError) as exc:
                logger.warning("cannot read %s back for trafilatura, fast text kept: %s",
                               job.url, exc)
        if good is None:
            good = 200 <= job.status < 300
        url = self.key(job.url)
        row = self.conn.execute(
            "SELECT id, last_text_digest, last_capture_id, watch_text FROM urls WHERE url = ?",
            (url,)).fetchone()
        # a page whose fast text differs from the last good capture's shares nothing: its text
        # is not read back for the comparison
        same_digest = row is not None and row[1] == job.page.text_digest
        text_from = self._same_text(row[2], text) if same_digest else None
        self.conn.execute(
            "UPDATE captures SET title = ?, text = ?, text_digest = ?, encoding = ?, meta = ?,"
            " text_capture_id = ? WHERE id = ?",
            (job.page.title, None if text_from else text, job.page.text_digest,
             job.page.encoding, self._meta(job, capture_id) if good else None, text_from,
             capture_id),
        )
        self.stats["pages"] += 1
        if text_from:
            self.stats["pages_text_shared"] += 1
        if row is None:
            url_id = self._insert_url(job, url, captured_at, capture_id if good else None,
                                      payload_digest if good else None)
            self.stats["new_urls"] += 1
            if good and job.watch_text:            # a new copy joins its story
                self.stories.assign(url_id, capture_id, text, captured_at,
                                    self._signed(job, text))
            return
        url_id, last_digest, last_capture_id, watch_text = row
        if crawled and good and last_capture_id and last_digest != job.page.text_digest and \
                watch_text != 0 and collapse_of(self._text_of(last_capture_id), text):
            good = False                 # kept as evidence, never the last good capture
            self.stats["pages_collapsed"] += 1
            logger.info("%s collapsed into a short notice: not the page itself", job.url)
        updates: dict[str, Any] = {"last_captured_at": captured_at}
        if not job.watch_text and watch_text != 0:
            updates["watch_text"] = watch_text = 0
        if good and last_capture_id is None:       # watched before its first good capture
            updates.update(state="alive", next_check_at=self._first_check(captured_at))
        if good:
            if last_digest and last_capture_id and last_digest != job.page.text_digest and \
                    watch_text != 0:           # 0: watched for its existence only
                self._diff(url, last_capture_id, capture_id, captured_at, job)
            updates.update(
                last_text_digest=job.page.text_digest, last_capture_id=capture_id,
                last_payload_digest=payload_digest, etag=job.etag,
                last_modified=job.last_modified, last_alive_at=captured_at,
            )
        assignments = ", ".join(f"{key} = ?" for key in updates)
        self.conn.execute(f"UPDATE urls SET {assignments} WHERE id = ?",
                          (*updates.values(), url_id))
        if good and not text_from and watch_text != 0:   # unchanged text: its story stands
            self.stories.assign(url_id, capture_id, text, captured_at, self._signed(job, text))

    @staticmethod
    def _signed(job: PageJob, text: str) -> str | None:
        """The signature the page came with, if it is of ``text`` (trafilatura's is another)."""
        return job.page.signature if job.page is not None and text is job.page.text else None

    def _insert_url(self, job: PageJob, url: str, captured_at: str, capture_id: int | None,
                    payload_digest: str | None) -> int:
        return self.conn.execute(
            "INSERT INTO urls (url, domain, source, platform, first_seen_at, last_captured_at,"
            " next_check_at, state, missing_streak, etag, last_modified, last_payload_digest,"
            " last_text_digest, last_capture_id, last_alive_at, watch_text)"
            " VALUES (?,?,?,?,?,?,?,?,0,?,?,?,?,?,?,?)",
            (url, domain_of(url), job.source, job.platform, captured_at, captured_at,
             self._first_check(captured_at), "alive" if capture_id else "error", job.etag,
             job.last_modified, payload_digest,
             job.page.text_digest if capture_id else None, capture_id,
             captured_at if capture_id else None, int(job.watch_text)),
        ).lastrowid

    def _first_check(self, captured_at: str) -> str:
        return iso(parse_iso(captured_at) + self._first_offset)

    def _diff(self, url: str, old_capture_id: int, new_capture_id: int, new_at: str,
              job: PageJob) -> None:
        try:
            old_body, old_type, old_at = self.capture_body(old_capture_id)
            new_body = self._body_of(job, new_capture_id)
        except (RecordNotFound, OSError, ValueError) as exc:
            logger.warning("cannot read the captures of %s to diff them: %s", url, exc)
            self.stats["diff_errors"] += 1
            return
        old_text = main_text(old_body, old_type, url)
        new_text = main_text(new_body, job.content_type, job.url)
        diff = diff_texts(old_text, new_text, from_label=old_at, to_label=new_at)
        if diff is None:
            self.stats["unchanged_main_text"] += 1
            return
        self.conn.execute(
            "INSERT INTO diffs (url, from_capture_id, to_capture_id, created_at, similarity,"
            " added, removed, unified_diff) VALUES (?,?,?,?,?,?,?,?)",
            (url, old_capture_id, new_capture_id, new_at, diff.similarity, diff.added,
             diff.removed, diff.unified_diff),
        )
        self.stats["changed"] += 1

    def _meta(self, job: PageJob, capture_id: int) -> str | None:
        """A page's metadata as JSON: a platform page's own (archive.platforms.registry: a
        WeChat article's), and the publication time its HTML metadata gives
        (``published_at``, archive.text.extract), else the feed that listed it
        (``listed_at``), when the platform's says none."""
        if not 200 <= job.status < 300:
            return None
        meta: dict[str, Any] = {}
        reader = meta_reader(job.url, job.platform)
        if reader is not None:
            try:
                meta = reader(self._body_of(job, capture_id), job.content_type, job.url) or {}
            except (RecordNotFound, OSError, ValueError) as exc:
                logger.warning("cannot read %s back for its metadata: %s", job.url, exc)
            else:
                self.stats["articles"] += 1
        published = (job.page.published_at if job.page is not None else None) or job.listed_at
        if published and not meta.get("published_at"):
            meta = {**meta, "published_at": published}
        return json.dumps(meta, ensure_ascii=False, sort_keys=True) if meta else None

    def _body_of(self, job: PageJob, capture_id: int) -> bytes:
        """The job's decoded body; read back from the capture's record when the crawl process
        did not send it (archive.jobs.page_body_needed)."""
        if job.body is not None:
            return job.body
        self.stats["bodies_read_back"] += 1
        return self.capture_body(capture_id)[0]

    def capture_body(self, capture_id: int) -> tuple[bytes, str | None, str]:
        """(decoded body, Content-Type, captured_at) of a capture, following a revisit."""
        return capture_body(self.conn, self.home, capture_id)
