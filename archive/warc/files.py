"""WARC file names and the file operations that make them durable: the ``.open`` suffix of a file
being written, the error a failed write raises, ``fsync`` of a folder after a rename or a new file,
and a rename that never overwrites (DESIGN.md "WARC records")."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

__all__ = ["OPEN_SUFFIX", "WARC_SUFFIX", "WarcWriteError", "fsync_dir", "rename_no_replace"]

OPEN_SUFFIX = ".open"
WARC_SUFFIX = ".warc.gz"


class WarcWriteError(OSError):
    """A write to a WARC file failed (``errno`` says why); ``path`` is the file, left ``.open``
    with possibly a torn record at its end (``memoryhole check --repair`` cuts it off)."""

    def __init__(self, cause: OSError, path: Path) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.path = path

    def __str__(self) -> str:
        return f"{self.strerror} (errno {self.errno}) writing {self.path}"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (fsync the folder)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def rename_no_replace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; FileExistsError if ``dst`` exists (never overwrites it).

    Linux's ``renameat2(RENAME_NOREPLACE)`` where the file system has it, else a hard link and
    an unlink (both names exist for an instant; ``check --repair`` then compares them)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        at_fdcwd, rename_noreplace = -100, 1
        if renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst),
                     rename_noreplace) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), str(src), None, str(dst))
    os.link(src, dst)
    os.unlink(src)
