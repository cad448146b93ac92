"""``memoryhole backup DEST``: a copy of the home that is a home itself, taken while crawls write.

What DEST gets (DESIGN.md "home folder" layout, so ``memoryhole --home DEST`` works as it is):

- the catalogue, through SQLite's online backup API (``Connection.backup``), never a copy of the
  file (a WAL database copied while it is written loses rows: NOTES.md "SQLite"). The snapshot
  must pass ``PRAGMA integrity_check``; it is put in place last, so DEST's catalogue never cites
  a record DEST lacks, even when the backup is cut short;
- every WARC file the home has closed, whole: closed files never change, so one DEST already
  has at the same size is skipped (backups after the first copy only what is new);
- of a file whose writer is still running (``.open``, or closed while the rows of its last
  records are not committed yet), the whole records up to the first one the catalogue snapshot
  does not cite, under the file's final name: exactly what the snapshot's rows point at. The
  next backup, seeing a different size, copies the file again. A ``.open`` file no writer holds
  (a crawl stopped without closing it) gets its whole records, and the report says to run
  ``check --repair`` in the home;
- the bytes ``check --repair`` kept aside (``*.torn-*``), ``memoryhole.toml`` and the seed files
  inside the home that the caller names;
- each collection's ``index.cdxj``, built for DEST's WARC files: lines of the files copied now
  are read from the copies, those of unchanged files come from DEST's previous index.

Every file lands under a temporary name, is fsynced and renamed. Nothing in DEST is deleted. Two
backups into one DEST wait for each other (a lock on the folder).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from archive.catalogue.db import copy_catalogue, integrity_errors
from archive.home import DB_NAME, Home
from archive.integrity.check import (
    CATALOGUED_TYPES,
    Progress,
    try_lock,
    warc_files,
    writer_alive,
)
from archive.warc.cdxj import index_warc
from archive.warc.cdxj_tiers import read_entries, rebuild_tiered_index
from archive.warc.files import OPEN_SUFFIX, WARC_SUFFIX, fsync_dir
from archive.warc.scan import FileScan, scan_warc

TMP_SUFFIX = ".backup-tmp"
TORN_MARK = WARC_SUFFIX + ".torn-"
CHUNK = 1 << 20


class BackupError(RuntimeError):
    """The backup cannot be made (or was stopped); ``str()`` is one line naming the fix."""


@dataclass
class BackupReport:
    dest: Path
    copied: list[str] = field(default_factory=list)      # WARC (and torn) files copied now
    partial: list[str] = field(default_factory=list)     # being written: what was taken
    skipped: int = 0                                      # already in DEST, unchanged
    bytes_copied: int = 0
    captures: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"backed up to {self.dest}: catalogue ({self.captures} captures, "
                 f"integrity ok), {len(self.copied)} files copied "
                 f"({self.bytes_copied / 1e6:.1f} MB), {self.skipped} already there"]
        lines += [f"being written: {note}" for note in self.partial]
        lines += [f"warning: {note}" for note in self.warnings]
        lines.append(f"check it: memoryhole --home {self.dest} check")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Source:
    """A WARC file of the home as listed before the catalogue snapshot."""

    coll: str
    path: Path
    live: bool            # its writer was running: rows of its last records may not be in yet

    @property
    def final_name(self) -> str:
        return self.path.name.removesuffix(OPEN_SUFFIX)


def backup_home(home: Home, dest: Path, *, extra_files: Iterable[Path] = (),
                progress: Progress | None = None) -> BackupReport:
    """Back ``home`` up into ``dest`` (created if needed); see the module's docstring."""
    dest = _checked_dest(home, Path(dest))
    target = Home(dest)
    report = BackupReport(dest)
    with _folder_lock(dest):
        sources = _list_sources(home)                 # before the snapshot: see _Source.live
        tmp_db = dest / f".{DB_NAME}{TMP_SUFFIX}"
        try:
            cited = _snapshot_catalogue(home.db_path, tmp_db, report)
            sources += _cited_elsewhere(home, sources, cited)
            copied_now: set[str] = set()
            for done, source in enumerate(sources, 1):
                if progress:
                    progress(source.path.name, done, len(sources))
                if _back_up_warc(source, target, cited.get(source.final_name), report):
                    copied_now.add(source.final_name)
            for coll in home.collections():
                _copy_torn(home, target, coll, report)
                target.ensure(coll)
                _index(target, coll, copied_now)
            for path in [home.config_path, *extra_files]:
                _copy_small(home, target, Path(path))
            _install_catalogue(tmp_db, target.db_path)
        finally:
            tmp_db.unlink(missing_ok=True)
            tmp_db.with_name(tmp_db.name + "-journal").unlink(missing_ok=True)
    return report


def _checked_dest(home: Home, dest: Path) -> Path:
    root, dest = home.root.resolve(), dest.expanduser().absolute().resolve()
    if dest == root or root in dest.parents:
        raise BackupError(f"{dest} is inside the home {root}: back up to another folder, "
                          "ideally on another disk")
    if dest in root.parents:
        raise BackupError(f"the home {root} is inside {dest}: choose a folder outside it")
    if not home.db_path.is_file():
        raise BackupError(f"no catalogue at {home.db_path}: nothing to back up (is --home "
                          "right?)")
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"{dest} is not a folder: give a new or empty folder, or an "
                          "earlier backup")
    names = [p.name for p in dest.iterdir()] if dest.is_dir() else []
    if not (DB_NAME in names or "collections" in names
            or all(n.endswith(TMP_SUFFIX) for n in names)):
        raise BackupError(f"{dest} is not empty and holds no memoryhole backup: give a new "
                          "or empty folder, or an earlier backup")
    dest.mkdir(parents=True, exist_ok=True)
    return dest


@contextmanager
def _folder_lock(dest: Path) -> Iterator[None]:
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another backup into {dest} is running: wait for it") from None
        yield
    finally:
        os.close(fd)


def _list_sources(home: Home) -> list[_Source]:
    out = []
    for coll in home.collections():
        for path in warc_files(home.archive_dir(coll)):
            if path.name.endswith(OPEN_SUFFIX):
                with try_lock(path) as locked:
                    live = not locked and path.exists()
            else:
                live = writer_alive(path.name)
            out.append(_Source(coll, path, live))
    return out


@dataclass
class _Cited:
    """The records of one WARC file that the catalogue snapshot's captures rows point at."""

    offsets: set[int] = field(default_factory=set)
    coll: str = ""


def _snapshot_catalogue(src_path: Path, tmp: Path, report: BackupReport) -> dict[str, _Cited]:
    """Copy the catalogue into ``tmp`` (the backup API), check it; the records it cites."""
    tmp.unlink(missing_ok=True)
    copy_catalogue(src_path, tmp)
    conn = sqlite3.connect(tmp)
    try:
        errors = integrity_errors(conn)
        if errors:
            raise BackupError(f"the catalogue {src_path} fails PRAGMA integrity_check ("
                              f"{'; '.join(errors[:3])}): run memoryhole check in the home "
                              "and follow its fix; DEST keeps its earlier backup")
        cited: dict[str, _Cited] = {}
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'captures'").fetchone():
            for coll, name, offset in conn.execute(
                    "SELECT collection, warc_filename, warc_offset FROM captures"):
                cited.setdefault(name, _Cited(coll=coll or "")).offsets.add(offset)
                report.captures += 1
    finally:
        conn.close()
    return cited


def _cited_elsewhere(home: Home, sources: list[_Source], cited: dict[str, _Cited]
                     ) -> list[_Source]:
    """Files the snapshot cites that were not listed before it (opened meanwhile): live."""
    listed = {s.final_name for s in sources}
    out = []
    for name, entry in cited.items():
        if name in listed:
            continue
        for coll in [entry.coll] if entry.coll else home.collections():
            folder = home.archive_dir(coll)
            path = next((p for p in (folder / name, folder / (name + OPEN_SUFFIX))
                         if p.exists()), None)
            if path is not None:
                out.append(_Source(coll, path, True))
                break
    return out


def _back_up_warc(source: _Source, target: Home, cited: _Cited | None,
                  report: BackupReport) -> bool:
    """Copy one WARC file as the module's docstring says; True if DEST's copy changed."""
    final = target.archive_dir(source.coll) / source.final_name
    is_open = source.path.name.endswith(OPEN_SUFFIX)
    if source.live and cited is None:
        report.partial.append(f"{source.path.name}: no record of it is catalogued yet; the "
                              "next backup takes it")
        return False
    there = final.stat().st_size if final.exists() else -1
    if there == _size(source.path) or (source.live and cited is not None
                                       and there > max(cited.offsets)):
        report.skipped += 1         # unchanged, or an earlier copy holds every record cited
        return False
    target.ensure(source.coll)
    tmp = final.with_name(f".{final.name}{TMP_SUFFIX}")
    try:
        copied = _copy_bytes(source.path, tmp)
        if copied is None:
            report.warnings.append(f"{source.path} vanished during the backup")
            return False
        if source.live or is_open:
            scan = scan_warc(tmp)
            cut = _cut_point(scan, cited if source.live else None)
            if cut < copied:
                _truncate(tmp, cut)
                copied = cut
            if copied == 0 or not any(r.offset < cut and r.record_type in CATALOGUED_TYPES
                                      for r in scan.records):
                report.partial.append(f"{source.path.name}: nothing whole to take yet")
                return False
            note = f"{source.path.name}: took its first {copied} bytes as {final.name}"
            if is_open and not source.live:
                report.warnings.append(note + "; no crawl is writing it: run memoryhole "
                                       "check --repair in the home to close it")
            elif is_open or copied < scan.size:
                report.partial.append(note + " (the records the catalogue cites; the next "
                                      "backup takes the rest)")
        if final.exists() and not _extends(tmp, final):
            report.warnings.append(
                f"{final.name}: the home's copy does not begin with the bytes DEST holds (one "
                f"of them is damaged): DEST's kept; run memoryhole check in both")
            return False
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        tmp.unlink(missing_ok=True)
    report.copied.append(final.name)
    report.bytes_copied += copied
    return True


def _size(path: Path) -> int | None:
    """The size of a WARC file of the home, or of its closed self if it was closed meanwhile."""
    for candidate in (path, path.with_name(path.name.removesuffix(OPEN_SUFFIX))):
        try:
            return candidate.stat().st_size
        except FileNotFoundError:
            continue
    return None


def _extends(new: Path, old: Path) -> bool:
    """Does ``new`` begin with all of ``old``? A WARC only grows: DEST never trades bytes for
    fewer or other ones."""
    if new.stat().st_size < old.stat().st_size:
        return False
    with open(new, "rb") as a, open(old, "rb") as b:
        while block := b.read(CHUNK):
            if a.read(len(block)) != block:
                return False
    return True


def _cut_point(scan: FileScan, cited: _Cited | None) -> int:
    """Where DEST's copy of a file being written ends: at a torn tail, and (``cited`` given)
    at the first response or revisit after the last cited record that the snapshot lacks."""
    cut = scan.torn_at if scan.torn_at is not None else scan.size
    if cited is not None:
        last = max(cited.offsets)
        for rec in scan.records:
            if (rec.offset > last and rec.record_type in CATALOGUED_TYPES
                    and rec.offset not in cited.offsets):
                cut = min(cut, rec.offset)
                break
    return cut


def _copy_bytes(src: Path, tmp: Path) -> int | None:
    """Copy ``src`` (or its closed self, if it was closed meanwhile) into ``tmp`` and fsync it;
    the byte count, or None if the file is gone."""
    for path in (src, src.with_name(src.name.removesuffix(OPEN_SUFFIX))):
        try:
            handle = open(path, "rb")
        except FileNotFoundError:
            continue
        with handle, open(tmp, "wb") as out:
            left = os.fstat(handle.fileno()).st_size     # a file being written: up to now
            total = 0
            while left > 0:
                block = handle.read(min(CHUNK, left))
                if not block:
                    break
                out.write(block)
                total += len(block)
                left -= len(block)
            out.flush()
            os.fsync(out.fileno())
        return total
    return None


def _truncate(path: Path, at: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(at)
        handle.flush()
        os.fsync(handle.fileno())


def _copy_torn(home: Home, target: Home, coll: str, report: BackupReport) -> None:
    folder = home.archive_dir(coll)
    for path in sorted(folder.glob("*" + TORN_MARK + "*")):
        final = target.archive_dir(coll) / path.name
        if final.exists() and final.stat().st_size == path.stat().st_size:
            continue
        target.ensure(coll)
        report.bytes_copied += _copy_file(path, final)
        report.copied.append(path.name)


def _copy_file(src: Path, final: Path) -> int:
    tmp = final.with_name(f".{final.name}{TMP_SUFFIX}")
    try:
        copied = _copy_bytes(src, tmp) or 0
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        tmp.unlink(missing_ok=True)
    return copied


def _index(target: Home, coll: str, copied_now: set[str]) -> None:
    """Rebuild DEST's index for its WARC files (see the module's docstring)."""
    index_path = target.index_path(coll)
    earlier: dict[str, list[str]] = {}
    for entry in read_entries(index_path):
        earlier.setdefault(entry.filename, []).append(entry.line)

    def lines_for(path: Path) -> list[str]:
        if path.name not in copied_now and path.name in earlier:
            return earlier[path.name]
        return index_warc(path, path.name)

    rebuild_tiered_index(index_path, target.archive_dir(coll), index_file=lines_for)


def _copy_small(home: Home, target: Home, path: Path) -> None:
    """The config or a seed file, at the same place under DEST, when it lies in the home."""
    try:
        relative = path.resolve().relative_to(home.root.resolve())
    except ValueError:
        return
    if not path.is_file():
        return
    final = target.root / relative
    if final.exists() and final.read_bytes() == path.read_bytes():
        return
    final.parent.mkdir(parents=True, exist_ok=True)
    _copy_file(path, final)


def _install_catalogue(tmp: Path, final: Path) -> None:
    """Put the checked snapshot in place: a first one is renamed in; an earlier backup's is
    overwritten through the backup API, so a WAL beside it or a reader (memoryhole serve on
    DEST) never sees a mix."""
    if final.exists():
        copy_catalogue(tmp, final)
    else:
        os.replace(tmp, final)
        fsync_dir(final.parent)
