"""The archive sink: one thread that owns the WARC writer and the catalogue connection.

The crawler hands it raw HTTP exchanges and page texts; the sink writes WARC records
(compression and hashing release the GIL, so they run beside the Scrapy thread), decides
revisits, inserts capture rows only after their record is on disk, computes diffs for pages whose
fingerprint changed, and keeps the CDXJ index in step as WARC files close. Because one thread does
all of it in order, a page's text always lands after its capture row, and reads see its own writes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archive import db as catalogue
from archive.cdxj import cdxj_lines, merge_into_index
from archive.checks import CheckJob, CheckRecorder
from archive.home import Home
from archive.pages import PageRecorder
from archive.state import Policy
from archive.warc import (
    NOT_MODIFIED_PROFILE,
    HttpExchange,
    RevisitOf,
    RotatingWarcWriter,
    WrittenRecord,
)

logger = logging.getLogger(__name__)

_STOP = object()


class SinkError(RuntimeError):
    """The sink thread failed (disk full, catalogue locked for too long…); nothing more is taken."""


@dataclass(frozen=True)
class SinkSettings:
    collection: str = "main"
    max_bytes: int = 1024 * 1024 * 1024
    warcinfo: dict[str, str] = field(default_factory=dict)
    compress_level: int = 6
    extract: str = "fast"                # fast | trafilatura
    queue_size: int = 1000
    commit_rows: int = 500
    commit_seconds: float = 1.0
    recheck_offsets: tuple[str, ...] = ("5m",)
    confirm_checks: int = 2
    confirm_after: str = "5m"


@dataclass(frozen=True)
class PageText:
    """What the crawler's text pipeline found in one response (see archive.text)."""

    title: str | None
    text: str
    text_digest: str
    encoding: str


@dataclass(frozen=True)
class PageJob:
    record_id: str
    url: str                      # the fetched URL (final, after redirects)
    status: int
    body: bytes                   # decoded (no Content-Encoding) body, for full extraction
    content_type: str | None
    page: PageText
    source: str | None = None
    platform: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    good: bool | None = None      # the page itself? (None: any 2xx); False for a tombstone


class ArchiveSink:
    """Start with :meth:`start`, feed with :meth:`submit_exchange` / :meth:`submit_page`,
    finish with :meth:`close` (which drains the queue, closes WARCs and commits)."""

    def __init__(self, home: Home, settings: SinkSettings, run_id: int | None = None) -> None:
        self.home = home
        self.settings = settings
        self.run_id = run_id
        self.stats: Counter[str] = Counter()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=settings.queue_size)
        self._thread = threading.Thread(target=self._run, name="memoryhole-sink", daemon=True)
        self._error: BaseException | None = None
        self._db = None
        self._writer: RotatingWarcWriter | None = None
        self._pages: PageRecorder | None = None
        self._checks: CheckRecorder | None = None
        self._in_txn = False
        self._txn_rows = 0
        self._txn_started = 0.0
        self._closed_files: list[str] = []

    # -- called from the crawler thread -------------------------------------------------------
    def start(self) -> None:
        self.home.ensure(self.settings.collection)
        self._thread.start()

    def submit_exchange(self, exchange: HttpExchange, *, via: str = "http") -> str:
        """Queue one HTTP exchange for the WARC; returns its WARC-Record-ID at once."""
        record_id = f"<urn:uuid:{uuid.uuid4()}>"
        self._put(("exchange", exchange, record_id, via))
        return record_id

    def submit_page(self, job: PageJob) -> None:
        """Queue the text of a response already submitted with :meth:`submit_exchange`."""
        self._put(("page", job))

    def submit_check(self, job: CheckJob) -> None:
        """Queue a re-check result (after the exchange it refers to, if any)."""
        self._put(("check", job))

    def submit_resource(self, uri: str, content_type: str, data: bytes, date: datetime,
                        concurrent_to: str | None = None) -> None:
        self._put(("resource", uri, content_type, data, date, concurrent_to))

    def close(self) -> Counter[str]:
        """Drain, close the WARC files (indexing them), commit; raise SinkError if it failed."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        if self._error is not None:
            raise SinkError(f"archive writer failed: {self._error}") from self._error
        return self.stats

    @property
    def failed(self) -> bool:
        return self._error is not None

    def _put(self, item: Any) -> None:
        if self._error is not None:
            raise SinkError(f"archive writer failed: {self._error}") from self._error
        while True:
            try:
                self._queue.put(item, timeout=1.0)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise SinkError("archive writer thread is not running") from self._error

    # -- the sink thread ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._open()
            while True:
                try:
                    item = self._queue.get(timeout=self.settings.commit_seconds)
                except queue.Empty:
                    self._commit()
                    continue
                if item is _STOP:
                    self._begin()
                    self._checks.finish()
                    break
                self._handle(item)
                if self._queue.empty() or self._due():
                    self._commit()
        except BaseException as exc:  # noqa: BLE001 - reported to the crawler thread
            logger.exception("archive writer failed")
            self._error = exc
            self._drain_after_failure()
        finally:
            self._shutdown()

    def _open(self) -> None:
        self._db = catalogue.open_catalogue(self.home.db_path)
        self._writer = RotatingWarcWriter(
            self.home.archive_dir(self.settings.collection),
            max_bytes=self.settings.max_bytes,
            warcinfo=self.settings.warcinfo,
            compress_level=self.settings.compress_level,
            on_close=self._on_file_closed,
        )
        self._pages = PageRecorder(self._db, self.home, self.settings, self.stats)
        policy = Policy.from_strings(self.settings.recheck_offsets, self.settings.confirm_checks,
                                     self.settings.confirm_after)
        self._checks = CheckRecorder(self._db.conn, self._pages, policy, self.stats, self.run_id)

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "exchange":
            self._write_exchange(*item[1:])
        elif kind == "page":
            self._begin()
            self._pages.record(item[1], good=item[1].good)
        elif kind == "check":
            self._begin()
            self._checks.record(item[1])
        elif kind == "resource":
            self._write_resource(*item[1:])

    def _write_exchange(self, ex: HttpExchange, record_id: str, via: str) -> None:
        assert self._writer is not None and self._db is not None
        revisit = self._find_revisit(ex)
        response, _request = self._writer.write_exchange(ex, record_id=record_id,
                                                         revisit_of=revisit)
        self._begin()
        self._pages.insert_capture(response, ex, via=via, run_id=self.run_id)
        self.stats["responses"] += 1
        self.stats["revisits" if revisit else "records"] += 1
        self.stats["warc_body_bytes"] += len(ex.body)

    def _find_revisit(self, ex: HttpExchange) -> RevisitOf | None:
        if ex.status == 304:
            last = self._pages.last_full_capture(ex.url)
            if last is None:
                return None
            return RevisitOf(target_uri=last["fetched_url"], target_date=last["captured_at_dt"],
                             payload_digest=last["payload_digest"],
                             profile=NOT_MODIFIED_PROFILE)
        if not ex.body or ex.truncated:
            return None
        digest = RotatingWarcWriter.payload_digest(ex.body)
        row = self._pages.original_with_digest(ex.url, digest)
        if row is None:
            return None
        return RevisitOf(target_uri=row["fetched_url"],
                         target_date=row["captured_at_dt"], payload_digest=digest)

    def _write_resource(self, uri: str, content_type: str, data: bytes, date: datetime,
                        concurrent_to: str | None) -> None:
        assert self._writer is not None
        record = self._writer.write_resource(uri, content_type, data, date,
                                             concurrent_to=concurrent_to)
        self._begin()
        self._pages.insert_resource(record, run_id=self.run_id)
        self.stats["resources"] += 1

    def _on_file_closed(self, path: Any, records: list[WrittenRecord]) -> None:
        merge_into_index(self.home.index_path(self.settings.collection), cdxj_lines(records))
        self._closed_files.append(str(path))
        self.stats["warc_files"] += 1

    # -- transactions: rows are committed in batches, always after their records are flushed --
    def _begin(self) -> None:
        if not self._in_txn:
            self._db.conn.execute("BEGIN IMMEDIATE")
            self._in_txn = True
            self._txn_rows = 0
            self._txn_started = time.monotonic()
        self._txn_rows += 1

    def _due(self) -> bool:
        return self._in_txn and (
            self._txn_rows >= self.settings.commit_rows
            or time.monotonic() - self._txn_started >= self.settings.commit_seconds
        )

    def _commit(self) -> None:
        if self._in_txn:
            self._db.conn.execute("COMMIT")
            self._in_txn = False

    def _drain_after_failure(self) -> None:
        """Keep the crawler thread from blocking on a full queue after a failure."""
        while True:
            try:
                if self._queue.get(timeout=0.1) is _STOP:
                    return
            except queue.Empty:
                return

    def _shutdown(self) -> None:
        try:
            if self._in_txn and self._error is None:
                self._commit()
            elif self._in_txn:
                self._db.conn.execute("ROLLBACK")
        finally:
            if self._writer is not None:
                try:
                    self._writer.close()
                except BaseException as exc:  # noqa: BLE001
                    logger.exception("closing the WARC file failed")
                    self._error = self._error or exc
            if self._db is not None:
                self._db.conn.close()
