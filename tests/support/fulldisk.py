"""A disk that fills up: a small tmpfs mounted over a folder of the home (root only), or, where
mounting is not allowed, a file-size limit (RLIMIT_FSIZE) on the processes started inside
:func:`file_size_limit`. Either way a write past the limit fails with an OSError (ENOSPC on the
tmpfs, EFBIG under the limit; Python ignores SIGXFSZ), as on a full disk."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def can_mount() -> bool:
    """Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN, and a mount binary)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    probe = Path(f"/tmp/.memoryhole-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)],
                              capture_output=True)
        if done.returncode != 0:
            return False
        subprocess.run(["umount", str(probe)], check=True)
        return True
    finally:
        probe.rmdir()


@contextmanager
def small_tmpfs(folder: Path, size_kib: int) -> Iterator[Path]:
    """Mount a tmpfs of ``size_kib`` over ``folder`` (created) for the block's life."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                   check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def grow_tmpfs(folder: Path, size_kib: int) -> None:
    """Give the tmpfs at ``folder`` more room (the user freed space)."""
    subprocess.run(["mount", "-o", f"remount,size={size_kib}k", str(folder)], check=True)


@contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Processes started inside the block cannot grow a file past ``limit`` bytes."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
