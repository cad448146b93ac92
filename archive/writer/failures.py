"""What the archive writer says when a run breaks: one line, naming the command that mends what
is left (a full disk, a catalogue or index that cannot be written)."""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

from archive.warc.files import WarcWriteError

__all__ = ["IndexWriteError", "failure_line", "is_storage_failure"]

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class IndexWriteError(OSError):
    """Merging a closed WARC's lines into the collection's index failed."""

    def __init__(self, cause: OSError, path: Any) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.path = path


def is_storage_failure(exc: BaseException) -> bool:
    """Whether ``exc`` says the archive could not be written (a full disk, an I/O error), as
    opposed to a fault in memoryhole itself."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return "disk is full" in text or "disk I/O error" in text
    return isinstance(exc, OSError) and exc.errno in (*_NO_SPACE, errno.EIO, errno.EROFS)


def failure_line(exc: BaseException) -> str:
    """The one line the crawl shows when the writer broke, naming the command that mends it."""
    if isinstance(exc, WarcWriteError):
        where = f"writing {exc.path.name} (left .open, maybe with a torn last record)"
    elif isinstance(exc, IndexWriteError):
        where = f"updating the index {exc.path}"
    elif isinstance(exc, sqlite3.Error):
        where = "writing the catalogue"
    elif isinstance(exc, OSError):
        where = "writing the archive"
    else:
        return f"{type(exc).__name__}: {exc}"
    full = (isinstance(exc, OSError) and exc.errno in _NO_SPACE) or "full" in str(exc)
    cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    what = f"the disk is full ({cause})" if full else cause
    fix = "free space, then" if full else "once that is fixed,"
    return (f"{what} {where}: the run stopped; {fix} run `memoryhole check --repair` (it keeps "
            f"every whole record)")
