"""The archive writer: a process of its own that writes the WARCs and the catalogue.

The crawler hands it raw HTTP exchanges, pages, re-check results and resources; the writer process
(archive.writer.process) extracts the pages' text, writes WARC records, decides revisits, inserts
capture rows only after their record is on disk, diffs pages whose fingerprint changed, and keeps
the CDXJ index in step as WARC files close. It is a process, not a thread, so that none of this
competes with Scrapy for the interpreter lock: on two cores the crawl and the archive each get
one (BENCHMARKS.md). One process does all of it in order, so a page's text always lands after
its capture row and reads see its own writes.

This side (:class:`ArchiveWriter`) only hands items over: ``submit_*`` pickles the item into the
writer process's stdin and returns. The writer process reads ahead into a queue of at most
``queue_size`` items and ``queue_bytes`` bytes (archive.writer.inbox), so a ``submit_*`` waits (in
its write to the full pipe) only when the writer process is that far behind: back-pressure on the
crawl, nothing dropped. A thread here takes the writer process's answers from its stdout. A
failure in the writer process is raised by the next ``submit_*`` and by
:meth:`ArchiveWriter.close` as :class:`WriterError`. If the crawl process dies,
the writer process sees the end of its input, writes everything it was given, closes its WARC file
and exits; it confirms no deletion from such a cut-short run.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from archive.home import Home
from archive.jobs import CheckJob, ListJob, PageJob, WriterSettings
from archive.lock import run_lock_fds
from archive.warc.http_message import HttpExchange

logger = logging.getLogger(__name__)

__all__ = ["ArchiveWriter", "WriterError", "launch_writer"]

_FRAME = struct.Struct("!Q")
_PIPE_BYTES = 1024 * 1024      # F_SETPIPE_SZ asks for this much (Linux caps it at pipe-max-size)
_F_SETPIPE_SZ = 1031


class WriterError(RuntimeError):
    """The writer failed (disk full, catalogue locked for too long…); nothing more is taken."""


def write_frame(stream: IO[bytes], message: Any) -> None:
    """One length-prefixed pickle on ``stream``, flushed."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    """The next message on ``stream``; ``None`` at its end (or at a frame cut short)."""
    framed = read_sized_frame(stream)
    return None if framed is None else framed[0]


def read_sized_frame(stream: IO[bytes]) -> tuple[Any, int] | None:
    """The next message on ``stream`` and the size of its frame in bytes; ``None`` at its end
    (or at a frame cut short)."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return None
    (size,) = _FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data), _FRAME.size + size


def _grow_pipe(stream: IO[bytes]) -> None:
    """A bigger pipe holds several pages while the writer process's reader catches up (best
    effort)."""
    if sys.platform.startswith("linux"):
        try:
            fcntl.fcntl(stream.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
        except OSError:
            pass


def launch_writer() -> subprocess.Popen[bytes]:
    """Start ``python -m archive.writer.process``, which imports what it needs and then waits for
    :meth:`ArchiveWriter.start` to open it; a writer process never opened exits when its input
    closes. Started before the crawl process imports Scrapy, its start-up runs beside Scrapy's."""
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    # A process group of its own: a Ctrl-C for the crawl must not kill the writer before it
    # has written what the crawl hands it while stopping.
    # it keeps the run lock held until it is gone (archive.lock), like the crawl process
    process = subprocess.Popen(
        [sys.executable, "-P", "-m", "archive.writer.process"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, env=env, close_fds=True, process_group=0,
        pass_fds=run_lock_fds())
    assert process.stdin is not None
    _grow_pipe(process.stdin)
    return process


class ArchiveWriter:
    """Start with :meth:`start`, feed with :meth:`submit_exchange` / :meth:`submit_page` /
    :meth:`submit_check` / :meth:`submit_resource`, finish with :meth:`close`, which waits until
    everything is written, the WARC files closed and indexed and the rows committed, and returns
    the writer process's counters."""

    def __init__(self, home: Home, settings: WriterSettings, run_id: int | None = None) -> None:
        self.home = home
        self.settings = settings
        self.run_id = run_id
        self.stats: Counter[str] = Counter()     # the writer process's counters, after close()
        self._process: subprocess.Popen[bytes] | None = None
        self._reader = threading.Thread(target=self._read_answers,
                                        name="memoryhole-writer-answers", daemon=True)
        self._error: str | None = None
        self._failed = threading.Event()
        # called from the answer thread with (page URL, requisite URLs) for each page job that
        # asked for them (PageJob.requisites_limit)
        self.on_requisites: Callable[[str, list[str]], None] | None = None
        self._submitted = 0            # items handed to the writer process (crawl thread)
        self._handled = 0              # items the writer process has handled (answer thread)
        self._closed = False

    # -- called from the crawler thread -------------------------------------------------------
    def start(self, process: subprocess.Popen[bytes] | None = None) -> None:
        """Start the writer process, or open the one :func:`launch_writer` started earlier."""
        self.home.ensure(self.settings.collection)
        self._process = process or launch_writer()
        assert self._process.stdin is not None
        write_frame(self._process.stdin, ("open", self.home, self.settings, self.run_id))
        self._reader.start()

    def submit_exchange(self, exchange: HttpExchange, *, via: str = "http") -> str:
        """Queue one HTTP exchange for the WARC; returns its WARC-Record-ID at once."""
        record_id = f"<urn:uuid:{uuid.uuid4()}>"
        self._put(("exchange", exchange, record_id, via))
        return record_id

    def submit_page(self, job: PageJob) -> None:
        """Queue the page of a response already submitted with :meth:`submit_exchange`."""
        self._put(("page", job))

    def submit_list(self, job: ListJob) -> None:
        """Queue the items of a list page submitted with :meth:`submit_exchange`
        (archive.writer.lists)."""
        self._put(("list", job))

    def submit_check(self, job: CheckJob) -> None:
        """Queue a re-check result (after the exchange it refers to, if any)."""
        self._put(("check", job))

    def submit_resource(self, uri: str, content_type: str, data: bytes, date: datetime,
                        concurrent_to: str | None = None, vantage: str | None = None,
                        vantage_is_control: bool = False) -> None:
        """Queue a resource record (a screenshot, a DOM); ``vantage`` names the vantage point
        it was made at (None: the direct egress), ``vantage_is_control`` when it is the
        control."""
        self._put(("resource", uri, content_type, data, date, concurrent_to, vantage,
                   vantage_is_control))

    def close(self) -> Counter[str]:
        """Wait until the writer process has written everything and exited; raise WriterError if it
        failed. Returns the writer process's counters."""
        if self._process is not None and not self._closed:
            self._closed = True
            assert self._process.stdin is not None
            try:
                if self._error is None:
                    write_frame(self._process.stdin, ("stop",))
                self._process.stdin.close()
            except OSError as exc:       # BrokenPipeError: the writer process is gone
                self._fail(f"the archive writer process stopped reading ({exc})")
            self._reader.join()
            code = self._process.wait()
            if code != 0 and self._error is None:
                self._error = f"the archive writer process exited with status {code}"
        if self._error is not None:
            raise WriterError(f"archive writer failed: {self._error}")
        return self.stats

    def wait_failed(self, timeout: float) -> bool:
        """Whether the writer has failed, waiting up to ``timeout`` seconds for it to."""
        return self._failed.wait(timeout)

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def pid(self) -> int | None:
        """The writer process's id (None before :meth:`start`)."""
        return self._process.pid if self._process is not None else None

    def backlog(self) -> int:
        """Items submitted that the writer process has not handled yet (as of its last report, which
        it sends every few items)."""
        return self._submitted - self._handled

    def _put(self, item: Any) -> None:
        if self._error is None:
            if self._process is None or self._process.stdin is None:
                self._fail("the archive writer was not started")
            else:
                try:
                    write_frame(self._process.stdin, item)
                    self._submitted += 1
                except OSError as exc:   # BrokenPipeError: the writer process is gone
                    self._fail(f"the archive writer process stopped reading ({exc})")
        if self._error is not None:
            raise WriterError(f"archive writer failed: {self._error}")

    def _fail(self, message: str) -> None:
        if self._error is None:
            self._error = message
            self._failed.set()
            logger.error("archive writer failed: %s", message)

    # -- the answer thread ----------------------------------------------------------------------
    def _read_answers(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        while True:
            try:
                message = read_frame(self._process.stdout)
            except (OSError, pickle.UnpicklingError, EOFError) as exc:
                self._fail(f"unreadable answer from the archive writer ({exc})")
                return
            if message is None:
                self._fail("the archive writer process ended before it had finished")
                return
            if message[0] == "handled":
                self._handled = message[1]
            elif message[0] == "requisites":
                if self.on_requisites is not None:
                    self.on_requisites(message[1], message[2])
            elif message[0] == "done":
                self.stats.update(message[1])
                if message[2]:
                    self._fail(message[2])
                return
