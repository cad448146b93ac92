"""The archive writer process: ``python -m archive.writer.process`` (started by
archive.writer.client.ArchiveWriter; not a command for people).

It reads length-prefixed pickles on stdin: first ``("open", home, settings, run_id)``, then
``exchange``, ``page``, ``check`` and ``resource`` items in the order the crawler made them, and
``("stop",)``. It answers on stdout: ``("handled", n)`` every few items, and
``("done", counters, error)`` last, ``error`` being None unless the run broke (then it is one
line naming the command that mends what is left). Records go to the WARC before their rows go
to the catalogue, rows are committed in batches, and each commit comes after an fsync of the
records its rows point at (RotatingWarcWriter.sync). A page's fast text is extracted here, off
the crawl process.

Each item is handled whole or not at all (a savepoint). When the run breaks (a full disk), the
rows of the items handled whole are still committed if their records reach the disk, the WARC
being written is left ``.open`` when a write to it failed, and no deletion is confirmed.

The end of its input without a ``stop`` means the crawl process died: everything received is
still written and committed and the WARC closed, but the run's pending deletion confirmations are
left for a run that finishes (a cut-short run never confirms a deletion). It runs in a process
group of its own, so a Ctrl-C meant for the crawl does not reach it, and it ignores SIGINT and
SIGTERM: the crawl process stops it in order, by closing its input. SIGKILL still kills it, like
a power cut, and ``check --repair`` mends what that leaves.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import IO, Any

from archive.catalogue import db as catalogue
from archive.detect.classify import classify
from archive.detect.state import Policy
from archive.detect.verdict import Observation
from archive.home import Home
from archive.jobs import SHORT_PAGE, CheckJob, PageJob, WriterSettings
from archive.platforms.registry import platform_for
from archive.procexit import exit_at_once
from archive.text.extract import fast_page_text
from archive.warc.http_message import HttpExchange
from archive.warc.records import NOT_MODIFIED_PROFILE, RevisitOf, WrittenRecord
from archive.warc.writer import RotatingWarcWriter
from archive.writer.checks import CheckRecorder
from archive.writer.client import read_frame, read_sized_frame, write_frame
from archive.writer.failures import IndexWriteError, failure_line
from archive.writer.inbox import Inbox
from archive.writer.lists import ItemRecorder
from archive.writer.pages import PageRecorder

logger = logging.getLogger(__name__)

_END = ("end",)      # the input ended without a stop: the crawl process is gone
# Every this many items the writer process tells the crawl how far it is (ArchiveWriter.backlog).
_REPORT_EVERY = 16
class WriterProcess:
    """Handles the items of one run in order; :meth:`run` returns the counters."""

    def __init__(self, home: Home, settings: WriterSettings, run_id: int | None,
                 items: queue.Queue[Any], report: Callable[[int], None] | None = None,
                 tell: Callable[[tuple[Any, ...]], None] | None = None) -> None:
        self.home = home
        self.settings = settings
        self.run_id = run_id
        self.items = items
        self.report = report                  # called with the number of items handled so far
        self.tell = tell                      # answers to the crawl process (its requisites)
        self.handled = 0
        self.stats: Counter[str] = Counter()
        self._db: Any = None
        self._writer: RotatingWarcWriter | None = None
        self._pages: PageRecorder | None = None
        self._checks: CheckRecorder | None = None
        self._items: ItemRecorder | None = None
        self._in_txn = False
        self._txn_rows = 0
        self._txn_started = 0.0

    def run(self) -> Counter[str]:
        """Handle items until a stop or the end of the input; raises what broke the run, after
        closing the WARC and rolling back the open transaction."""
        failed = False
        try:
            self._open()
            while True:
                try:
                    item = self.items.get(timeout=self.settings.commit_seconds)
                except queue.Empty:
                    self._commit()
                    continue
                if item[0] == "stop":
                    self._whole(self._checks.finish)
                    break
                if item is _END:
                    logger.error("the crawl process went away; what it sent is written, no "
                                 "deletion of this run is confirmed")
                    self.stats["interrupted"] = 1
                    break
                self._whole(self._handle, item)
                self.handled += 1
                if self.report is not None and self.handled % _REPORT_EVERY == 0:
                    self.report(self.handled)
                if self.items.empty() or self._due():     # caught up: make it durable now
                    self._commit()
        except BaseException:
            failed = True
            raise
        finally:
            self._shutdown(failed)
        return self.stats

    def _open(self) -> None:
        self._db = catalogue.open_catalogue(self.home.db_path,
                                            cache_mib=catalogue.WRITER_CACHE_MIB)
        self._writer = RotatingWarcWriter(
            self.home.archive_dir(self.settings.collection),
            max_bytes=self.settings.max_bytes,
            warcinfo=self.settings.warcinfo,
            compression=self.settings.compression,
            on_close=self._on_file_closed,
        )
        policy = Policy.from_strings(self.settings.recheck_offsets, self.settings.confirm_checks,
                                     self.settings.confirm_after)
        self._pages = PageRecorder(self._db, self.home, self.settings, self.stats,
                                   first_recheck=policy.offsets[0])
        self._checks = CheckRecorder(self._db.conn, self._pages, policy, self.stats, self.run_id,
                                     self.settings.control_name)
        self._items = ItemRecorder(self._db.conn, self.stats,
                                   confirm_checks=policy.confirm_checks,
                                   confirm_after=policy.confirm_after)

    def _whole(self, handler: Callable[..., None], *args: Any) -> None:
        """Run ``handler`` in a savepoint: if it fails, its rows go and earlier items' stay."""
        self._begin()
        conn = self._db.conn
        conn.execute("SAVEPOINT item")
        try:
            handler(*args)
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK TO item")
                    conn.execute("RELEASE item")
                except sqlite3.Error:
                    logger.exception("could not take back the rows of the failed item")
            raise
        conn.execute("RELEASE item")

    def _handle(self, item: tuple[Any, ...]) -> None:
        kind = item[0]
        if kind == "exchange":
            self._write_exchange(*item[1:])
        elif kind == "page":
            job = self._with_text(item[1], judge=True)
            self._pages.record(job, good=job.good, crawled=True)
            if job.requisites_limit and self.tell is not None:
                self.tell(("requisites", job.url, list(job.page.requisites or ())))
        elif kind == "check":
            job: CheckJob = item[1]
            if job.page is not None:
                job = replace(job, page=self._with_text(job.page, judge=False))
            self._checks.record(job)
        elif kind == "resource":
            self._write_resource(*item[1:])
        elif kind == "list":
            self._items.record(item[1])
        else:
            raise ValueError(f"unknown writer item {kind!r}")

    def _with_text(self, job: PageJob, *, judge: bool) -> PageJob:
        """The job with its fast text; with ``judge``, a short 2xx page is also classified: a
        tombstone, a captcha wall or a not-found page answered with 200 is archived as evidence
        but never becomes the URL's last good capture, nor is it diffed against the article."""
        page = job.page
        if page is None:
            page = fast_page_text(job.body, job.content_type,
                                  requisites_of=job.url if job.requisites_limit else None,
                                  requisites_limit=job.requisites_limit)
        good = job.good
        if judge and good is None and 200 <= job.status < 300 and len(page.text) < SHORT_PAGE:
            verdict = classify(Observation(url=job.url, status=job.status, body=job.body,
                                           platform=platform_for(job.url, job.platform),
                                           had_text=self._pages.had_text(job.url)))
            good = verdict.outcome == "alive"
            if not good:
                self.stats[f"pages_not_alive/{verdict.reason}"] += 1
                logger.info("%s is not the page itself: %s (%s)", job.url, verdict.reason,
                            verdict.rule)
        return replace(job, page=page, good=good)

    def _write_exchange(self, ex: HttpExchange, record_id: str, via: str) -> None:
        assert self._writer is not None and self._pages is not None
        digest = None if ex.status == 304 else RotatingWarcWriter.payload_digest(ex.body)
        revisit = self._find_revisit(ex, digest)
        response, _request = self._writer.write_exchange(ex, record_id=record_id,
                                                         revisit_of=revisit, payload_digest=digest)
        self._pages.insert_capture(response, ex, via=via, run_id=self.run_id)
        self.stats["responses"] += 1
        self.stats["revisits" if revisit else "records"] += 1
        self.stats["warc_body_bytes"] += len(ex.body)

    def _find_revisit(self, ex: HttpExchange, digest: str | None) -> RevisitOf | None:
        assert self._pages is not None
        if ex.status == 304:
            last = self._pages.last_full_capture(ex.url)
            if last is None:
                return None
            return RevisitOf(target_uri=last["fetched_url"], target_date=last["captured_at_dt"],
                             payload_digest=last["payload_digest"],
                             profile=NOT_MODIFIED_PROFILE)
        if not ex.body or ex.truncated or digest is None:
            return None
        row = self._pages.original_with_digest(ex.url, digest)
        if row is None:
            return None
        return RevisitOf(target_uri=row["fetched_url"],
                         target_date=row["captured_at_dt"], payload_digest=digest)

    def _write_resource(self, uri: str, content_type: str, data: bytes, date: datetime,
                        concurrent_to: str | None, vantage: str | None = None,
                        vantage_is_control: bool = False) -> None:
        assert self._writer is not None and self._pages is not None
        record = self._writer.write_resource(uri, content_type, data, date,
                                             concurrent_to=concurrent_to, vantage=vantage,
                                             vantage_is_control=vantage_is_control)
        self._pages.insert_resource(record, run_id=self.run_id)
        self.stats["resources"] += 1

    def _on_file_closed(self, path: Any, records: list[WrittenRecord]) -> None:
        from archive.warc.cdxj import cdxj_lines  # warmed up by main()
        from archive.warc.cdxj_tiers import add_to_index

        index = self.home.index_path(self.settings.collection)
        try:
            add_to_index(index, cdxj_lines(records))
        except OSError as exc:
            raise IndexWriteError(exc, index) from exc
        self.stats["warc_files"] += 1

    # -- transactions: rows are committed in batches, always after their records are fsynced --
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
            assert self._writer is not None
            self._writer.sync()          # the records before the rows that point at them
            self._db.conn.execute("COMMIT")
            self._in_txn = False

    def _keep_whole_rows(self) -> None:
        """After a failure: commit the rows of the items handled whole if their records reach
        the disk; otherwise roll back (``check --repair`` adds rows for records it finds)."""
        try:
            self._commit()
        except (OSError, sqlite3.Error) as exc:
            logger.error("the rows of the last batch were not committed (%s); "
                         "`memoryhole check --repair` adds rows for the records on disk", exc)
            if self._db.conn.in_transaction:
                self._db.conn.execute("ROLLBACK")
            self._in_txn = False

    def _shutdown(self, failed: bool) -> None:
        try:
            if self._in_txn and not failed:
                self._commit()
            elif self._in_txn:
                self._keep_whole_rows()
        finally:
            try:
                if self._writer is not None:
                    self._writer.close()
            except OSError as exc:
                if not failed:
                    raise
                logger.warning("closing the WARC after the failure: %s", exc)   # reported
            finally:
                if self._db is not None:
                    self._db.conn.close()


def _reader(stream: IO[bytes], into: Inbox) -> None:
    """Move frames from ``stream`` onto ``into`` (waiting while it is full); ``_END`` when the
    stream ends."""
    try:
        while True:
            framed = read_sized_frame(stream)
            if framed is None:
                break
            item, size = framed
            into.put_sized(item, size)
            if item[0] == "stop":
                return
    except BaseException:  # noqa: BLE001 - an unreadable frame ends the input like EOF
        logger.exception("unreadable input from the crawl process")
    into.put(_END)


def _configure_logging(settings: WriterSettings) -> None:
    handler: logging.Handler
    if settings.log_file:
        handler = logging.FileHandler(settings.log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s [%(name)s] %(levelname)s: %(message)s"))
    logging.root.addHandler(handler)
    logging.root.setLevel(settings.log_level)


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())     # stray prints must not corrupt frames
    inbox = sys.stdin.buffer
    opening = read_frame(inbox)
    if opening is None:        # launched early, then not needed (the crawl never started)
        return 0
    if opening[0] != "open":
        print("archive.writer.process is started by memoryhole's crawl process", file=sys.stderr)
        return 2
    _, home, settings, run_id = opening
    _configure_logging(settings)
    items = Inbox(settings.queue_size, settings.queue_bytes)
    threading.Thread(target=_reader, args=(inbox, items), name="memoryhole-writer-input",
                     daemon=True).start()
    # archive.warc.cdxj (surt, tldextract, requests: a fifth of the writer's start-up) is needed
    # only when a WARC file closes; importing it meanwhile keeps it off the crawl's start
    threading.Thread(target=importlib.import_module, args=("archive.warc.cdxj_tiers",),
                     name="memoryhole-writer-warmup", daemon=True).start()

    def answer(message: tuple[Any, ...]) -> None:
        try:
            write_frame(answers, message)
        except OSError:       # the crawl process is gone: nobody to tell, the work goes on
            pass

    process = WriterProcess(home, settings, run_id, items,
                        report=lambda handled: answer(("handled", handled)), tell=answer)
    error = None
    try:
        process.run()
    except BaseException as exc:  # noqa: BLE001 - reported to the crawl process
        logger.exception("archive writer failed")
        error = failure_line(exc)
    if items.waits:                  # times the crawl was held back (archive.writer.inbox)
        process.stats["queue_waits"] = items.waits
    answer(("done", dict(process.stats), error))
    return 1 if error else 0


if __name__ == "__main__":
    exit_at_once(main())
