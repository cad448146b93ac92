"""The index of a collection as several sorted CDXJ files, merged in tiers, so that a run writes
about what it added instead of the whole index (issue 14; pywb reads every ``.cdxj`` file of a
collection's ``indexes/`` folder: NOTES.md).

Files in ``indexes/``:

- ``index.cdxj``, the base: the whole index after a compaction (and an index made before tiers
  existed, as it is);
- ``index-t<tier>-<time>-<pid>-<n>.cdxj``: each closed WARC file adds one tier-0 file of its
  lines (:func:`add_to_index`). When a tier holds more than :data:`FILES_PER_TIER` files, they
  are merged into one file of the next tier; the files of the last tier are merged into the
  base. A line is thus rewritten about once per tier, not once per run.

Adding a file takes no lock: its name is new and it appears whole (written aside, then renamed),
so a crawl never waits for a merge. Merges and compactions hold the index lock
(archive.warc.cdxj.index_lock), take their input files as a snapshot, write their output
whole, then delete exactly those inputs: a reader may see a line twice for an instant, never
miss one, and readers drop duplicates (:func:`read_lines`, :func:`key_lines`).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from archive.timeutil import utcnow
from archive.warc.cdxj import (
    IndexEntry,
    file_key_lines,
    index_lock,
    index_warc,
    parse_line,
    rebuild_index,
    rewrite_index_file,
)

__all__ = ["FILES_PER_TIER", "TIERS", "add_to_index", "compact_index", "index_files",
           "key_lines", "merge_full_tiers", "read_entries", "read_lines",
           "rebuild_tiered_index"]

log = logging.getLogger(__name__)

FILES_PER_TIER = 8          # a tier holding more files than this is merged into the next
TIERS = 3                   # tiers 0..TIERS-1; the last one merges into the base
_TIER_RE = re.compile(r"^index-t(\d)-\d{20}-\d+-\d+\.cdxj$")


def index_files(index_path: Path | str) -> list[Path]:
    """The files that make the index at ``index_path``: the base (if any), then the tiers, the
    highest first and the oldest first within a tier."""
    index_path = Path(index_path)
    folder = index_path.parent
    tiers = sorted(((int(m.group(1)), p.name, p) for p in _listing(folder)
                    if (m := _TIER_RE.match(p.name))), key=lambda t: (-t[0], t[1]))
    base = [index_path] if index_path.exists() else []
    return base + [path for _, _, path in tiers]


def _listing(folder: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except FileNotFoundError:
        return []


def _tier_files(index_path: Path, tier: int) -> list[Path]:
    return sorted(p for p in _listing(index_path.parent)
                  if (m := _TIER_RE.match(p.name)) and int(m.group(1)) == tier)


def _new_tier_file(folder: Path, tier: int) -> Path:
    """A name no file of ``folder`` has: ``index-t<tier>-<time>-<pid>-<n>.cdxj``."""
    stamp = f"index-t{tier}-{utcnow().strftime('%Y%m%d%H%M%S%f')}-{os.getpid()}"
    for n in itertools.count(1):
        path = folder / f"{stamp}-{n}.cdxj"
        if not path.exists():
            return path
    raise AssertionError("unreachable")


def read_lines(index_path: Path | str) -> Iterator[str]:
    """Every line of the index, sorted, each once (all its files merged)."""
    streams = []
    for path in index_files(index_path):
        try:
            streams.append(open(path, encoding="utf-8"))  # noqa: SIM115 - closed below
        except FileNotFoundError:        # merged away since it was listed: its lines live on
            continue
    try:
        previous = None
        for raw in heapq.merge(*streams):
            line = raw.rstrip("\n")
            if line.strip() and line != previous:
                yield line
            previous = line
    finally:
        for stream in streams:
            stream.close()


def read_entries(index_path: Path | str) -> Iterator[IndexEntry]:
    """:func:`read_lines`, parsed."""
    for line in read_lines(index_path):
        yield parse_line(line)


def key_lines(index_path: Path | str, urlkey: str) -> list[str]:
    """The lines whose key is ``urlkey``, from every file of the index, sorted, each once."""
    found = sorted({line for path in index_files(index_path)
                    for line in file_key_lines(path, urlkey)})
    return found


def add_to_index(index_path: Path | str, lines: Iterable[str]) -> int:
    """Add ``lines`` as a new tier-0 file (no lock taken), then merge full tiers if no other
    process is merging; returns the number of lines added."""
    index_path = Path(index_path)
    new = sorted({line.rstrip("\n") for line in lines if line.strip()})
    if not new:
        return 0
    rewrite_index_file(_new_tier_file(index_path.parent, 0), new)
    merge_full_tiers(index_path, wait=False)
    return len(new)


def merge_full_tiers(index_path: Path | str, *, wait: bool = True) -> list[str]:
    """Merge every tier holding more than :data:`FILES_PER_TIER` files into the next (the last
    into the base). Without ``wait``, does nothing while another process holds the index lock.
    Returns what it did, a line each."""
    index_path = Path(index_path)
    done: list[str] = []
    with index_lock(index_path, wait=wait) as locked:
        if not locked:
            return done
        for tier in range(TIERS):
            inputs = _tier_files(index_path, tier)
            if len(inputs) <= FILES_PER_TIER:
                continue
            if tier + 1 < TIERS:
                target = _new_tier_file(index_path.parent, tier + 1)
                count = _merge_files(inputs, target)
            else:               # the last tier goes into the base
                target = index_path
                base = [index_path] if index_path.exists() else []
                count = _merge_files([*base, *inputs], index_path, keep=index_path)
            done.append(f"merged {len(inputs)} tier-{tier} files into {target.name} "
                        f"({count} lines)")
    for line in done:
        log.info("%s", line)
    return done


def compact_index(index_path: Path | str) -> int:
    """Merge every file of the index into the base (waits for the index lock); returns the
    base's line count."""
    index_path = Path(index_path)
    with index_lock(index_path):
        inputs = index_files(index_path)
        if not inputs:
            return 0
        return _merge_files(inputs, index_path, keep=index_path)


def rebuild_tiered_index(index_path: Path | str, archive_dir: Path | str,
                         index_file: Callable[[Path], list[str]] = index_warc) -> int:
    """:func:`archive.warc.cdxj.rebuild_index` into the base, then delete the tier files that
    existed before it began (their WARCs were closed by then, so the rebuild holds their
    lines); returns the base's line count."""
    index_path = Path(index_path)
    before = [p for p in index_files(index_path) if p != index_path]
    count = rebuild_index(index_path, archive_dir, index_file)
    with index_lock(index_path):
        for path in before:
            path.unlink(missing_ok=True)
    return count


def _merge_files(inputs: list[Path], target: Path, keep: Path | None = None) -> int:
    """Write the sorted union of ``inputs`` to ``target`` (aside, then renamed), then delete
    the inputs but ``keep``; returns the line count. Called under the index lock."""
    streams = []
    for path in inputs:
        try:
            streams.append(open(path, encoding="utf-8"))  # noqa: SIM115 - closed below
        except FileNotFoundError:
            continue
    try:
        lines = (raw.rstrip("\n") for raw in heapq.merge(*streams))
        count = rewrite_index_file(target, lines)
    finally:
        for stream in streams:
            stream.close()
    for path in inputs:
        if path != keep:
            path.unlink(missing_ok=True)
    return count
