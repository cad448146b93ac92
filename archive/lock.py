"""One runner per home: file locks that keep two crawls, or two schedulers, off one home.

Two ``flock`` locks live in the home folder:

- ``HOME/run.lock`` is held by each crawl / add / re-check process while it works. A second run
  waits for it up to ``wait`` seconds (default :data:`DEFAULT_RUN_WAIT`, 10 minutes: a cron job
  that fires while a scheduled crawl is finishing still runs, and one stuck behind a crawl that
  takes hours gives up, says why and exits 1 rather than piling up processes).
- ``HOME/scheduler.lock`` is held by the ``schedule`` daemon for its whole life. A second daemon
  does not wait: two schedulers on one job store run every job twice (NOTES.md).

The holder writes ``{"pid", "kind", "since"}`` into the lock file so the one that is refused can say
who holds it. The run lock is handed down: while it is held, ``MEMORYHOLE_RUN_LOCK_FD`` names its
descriptor and the processes a run starts (the crawl process, the archive writer) keep it open
(:func:`run_lock_fds` for ``pass_fds``), so the lock stays held until the last of them is gone, even
when the command that took it was killed first. ``flock`` locks belong to the open file and are
released by the kernel when the process dies, however it dies, so a lock can never be left stale;
the file's contents may be, which is why they are only read after a refused attempt.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from archive.home import Home
from archive.timeutil import iso, utcnow

RUN_LOCK_NAME = "run.lock"
RUN_LOCK_FD_ENV = "MEMORYHOLE_RUN_LOCK_FD"
SCHEDULER_LOCK_NAME = "scheduler.lock"
DEFAULT_RUN_WAIT = 600.0
# Even with wait=0 keep trying this long: :func:`run_in_progress` takes the lock shared for an
# instant, and a run starting at that instant must not be refused for it.
_SETTLE = 0.5
_POLL = 0.1

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as written in the lock file (``?`` where it could not be read)."""

    pid: int | None
    kind: str
    since: str

    def describe(self) -> str:
        return f"pid {self.pid if self.pid is not None else '?'}, kind {self.kind}, " \
               f"since {self.since}"


class HomeBusy(RuntimeError):
    """The lock is held by another process. ``str(error)`` is the one line to show."""

    def __init__(self, message: str, holder: Holder) -> None:
        super().__init__(message)
        self.holder = holder


@contextmanager
def run_lock(home: Home, kind: str, wait: float = DEFAULT_RUN_WAIT) -> Iterator[None]:
    """Hold ``HOME/run.lock`` while a crawl / re-check of ``kind`` works; wait up to ``wait``
    seconds for another run to finish, then raise :class:`HomeBusy`."""

    def busy(holder: Holder) -> str:
        return (f"another run is in progress in {home.root} ({holder.describe()}); "
                "try again later")

    with _hold(home.root / RUN_LOCK_NAME, kind, wait, busy) as fd:
        previous = os.environ.get(RUN_LOCK_FD_ENV)
        os.environ[RUN_LOCK_FD_ENV] = str(fd)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(RUN_LOCK_FD_ENV, None)
            else:
                os.environ[RUN_LOCK_FD_ENV] = previous


def run_lock_fds() -> tuple[int, ...]:
    """The run lock's descriptor when this process holds it or was handed it (for a child's
    ``pass_fds``: the child keeps the lock held while it runs), else ()."""
    value = os.environ.get(RUN_LOCK_FD_ENV, "")
    if not value.isdigit():
        return ()
    try:
        os.fstat(int(value))
    except OSError:
        return ()
    return (int(value),)


@contextmanager
def scheduler_lock(home: Home) -> Iterator[None]:
    """Hold ``HOME/scheduler.lock`` for the daemon's life; raise :class:`HomeBusy` at once if
    another scheduler has it."""

    def busy(holder: Holder) -> str:
        pid = holder.pid if holder.pid is not None else "?"
        return f"another scheduler is running for {home.root} (pid {pid}, since {holder.since})"

    with _hold(home.root / SCHEDULER_LOCK_NAME, "scheduler", 0, busy):
        yield


def run_in_progress(home: Home) -> Holder | None:
    """The holder of ``HOME/run.lock`` if a run is in progress now, else None. Does not wait."""
    path = home.root / RUN_LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def read_holder(path: Path) -> Holder:
    """The holder written in a lock file; ``?`` fields when it is empty or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Holder(pid=int(data["pid"]), kind=str(data["kind"]), since=str(data["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Holder(pid=None, kind="?", since="?")


@contextmanager
def _hold(path: Path, kind: str, wait: float,
          busy_message: Callable[[Holder], str]) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No O_TRUNC: the file may be another process's, and its contents say who holds it.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        _acquire(fd, path, wait, busy_message)
        os.ftruncate(fd, 0)
        record = {"pid": os.getpid(), "kind": kind, "since": iso(utcnow())}
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        try:
            yield fd
        finally:
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the flock


def _acquire(fd: int, path: Path, wait: float, busy_message: Callable[[Holder], str]) -> None:
    deadline = time.monotonic() + max(wait, _SETTLE)
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        holder = read_holder(path)
        if time.monotonic() >= deadline:
            raise HomeBusy(busy_message(holder), holder)
        if not announced and wait > _SETTLE:
            logger.warning("%s is held (%s); waiting up to %.0f s for it", path, holder.describe(),
                           wait)
            announced = True
        time.sleep(_POLL)
