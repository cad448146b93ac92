"""Names from URLs and from the index, turned into paths that stay inside the home.

A collection comes from a replay URL; a WARC file name from an index line (which a user, or a
file copied in, may have written). Neither may reach outside the home: no separators, no
``..``, no hidden names, and a symlink inside the archive folder that points elsewhere is
refused like a path that does.
"""

from __future__ import annotations

import re
from pathlib import Path

from archive.home import Home
from archive.warc.files import OPEN_SUFFIX

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FILE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,250}$")


class SafePathError(LookupError):
    """A name that would lead outside the home, or to nothing."""


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve(strict=True).is_relative_to(folder.resolve(strict=True))
    except (OSError, RuntimeError):
        return False


def collection_or_none(home: Home, name: str) -> str | None:
    """``name`` if it is a collection of ``home`` (a plain name whose folder is inside the
    home), else None."""
    if not _NAME_RE.match(name) or ".." in name:
        return None
    folder = home.collections_dir / name
    if not (folder / "archive").is_dir() or not _inside(folder, home.collections_dir):
        return None
    return name


def warc_in_collection(home: Home, collection: str, filename: str) -> Path:
    """The WARC ``filename`` of ``collection`` (or its ``.open`` twin while it is written),
    checked to be a plain file name inside the collection's archive folder."""
    if collection_or_none(home, collection) is None:
        raise SafePathError(f"no collection {collection!r}")
    if not _FILE_RE.match(filename) or ".." in filename:
        raise SafePathError(f"not a WARC file name: {filename!r}")
    folder = home.archive_dir(collection)
    for path in (folder / filename, folder / (filename + OPEN_SUFFIX)):
        if path.exists() or path.is_symlink():
            if not path.is_file() or not _inside(path, folder):
                raise SafePathError(f"{filename!r} leads outside {folder}")
            return path
    raise SafePathError(f"{filename} is missing from {folder}; run: memoryhole --home "
                        f"{home.root} check")
