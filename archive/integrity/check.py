"""``memoryhole check``: do the WARCs, the CDXJ index and the catalogue agree? (library side)

For every collection, every ``*.warc.gz`` and ``*.warc.gz.open`` file is read member by member
(:mod:`archive.warc.scan`: torn or corrupt gzip members, digests, HTTP lengths). A ``.open`` file
whose writer is alive (it holds ``flock(LOCK_EX)`` on it) is skipped; one nobody holds is
"unclosed". Then ``index.cdxj`` is compared with the records of the closed files, the catalogue
passes SQLite's ``PRAGMA integrity_check``, and its ``captures`` rows are compared with the
records. Every :class:`Problem` names the command that
fixes it; :func:`archive.integrity.repair.repair_home` is ``check --repair``.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlite_utils

from archive.catalogue.db import integrity_errors
from archive.home import Home
from archive.warc.cdxj import INDEXED_TYPES
from archive.warc.cdxj_tiers import index_files, read_entries
from archive.warc.files import OPEN_SUFFIX, WARC_SUFFIX
from archive.warc.scan import FileScan, ScannedRecord, scan_warc

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
CATALOGUED_TYPES = ("response", "revisit")
UNREPAIRABLE = ("gzip-corrupt", "digest", "warc-parse")
_PID_RE = re.compile(r"-\d{20}-(\d+)-\d+\.warc\.gz(?:\.open)?$")


@dataclass(frozen=True)
class Problem:
    """One disagreement found by a check, with the command that fixes it."""

    kind: str
    path: str
    detail: str
    fix: str


@dataclass
class CheckReport:
    """What a check (or a repair, then its fresh check) found."""

    problems: list[Problem] = field(default_factory=list)
    files: int = 0
    records: int = 0
    captures: int = 0
    live: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def kinds(self) -> list[str]:
        return sorted({p.kind for p in self.problems})

    def summary(self) -> str:
        """One line of counts, then what was repaired and which files were skipped."""
        lines = [f"{self.files} files, {self.records} records, {self.captures} captures: "
                 + ("ok" if self.ok else f"{len(self.problems)} problems")]
        lines += [f"repaired: {action}" for action in self.repaired]
        lines += [f"skipped (a writer holds it): {path}" for path in self.live]
        return "\n".join(lines)


@dataclass
class Inventory:
    """Everything read from the WARC files of a home, by collection."""

    scans: dict[str, list[FileScan]] = field(default_factory=dict)
    live: list[Path] = field(default_factory=list)

    def records_by_location(self) -> dict[tuple[str, str, int], ScannedRecord]:
        """(collection, final file name, offset) -> record, over closed and unclosed files."""
        return {(coll, scan.final_name, rec.offset): rec
                for coll, scans in self.scans.items() for scan in scans for rec in scan.records}

    def live_names(self) -> set[str]:
        return {p.name.removesuffix(OPEN_SUFFIX) for p in self.live}


def fix_repair(home: Home) -> str:
    return f"run: memoryhole --home {home.root} check --repair"


def fix_restore(home: Home, path: Path | str) -> str:
    return (f"restore {Path(path).name} from a backup copy (memoryhole cannot rebuild damaged "
            f"evidence), then run: memoryhole --home {home.root} check")


def warc_files(archive_dir: Path) -> list[Path]:
    """The WARC files of one archive folder, closed and ``.open``, sorted by name."""
    if not archive_dir.is_dir():
        return []
    return sorted(p for p in archive_dir.iterdir() if p.is_file() and (
        p.name.endswith(WARC_SUFFIX) or p.name.endswith(WARC_SUFFIX + OPEN_SUFFIX)))


@contextmanager
def try_lock(path: Path) -> Iterator[bool]:
    """Take ``flock(LOCK_EX | LOCK_NB)`` on ``path``: yields False when a writer holds it."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def scan_home(home: Home, progress: Progress | None = None) -> Inventory:
    """Read every WARC file of every collection (skipping ``.open`` files a writer holds)."""
    inv = Inventory()
    work = [(c, p) for c in home.collections() for p in warc_files(home.archive_dir(c))]
    for done, (coll, path) in enumerate(work, 1):
        if progress:
            progress(str(path), done, len(work))
        scans = inv.scans.setdefault(coll, [])
        if path.name.endswith(OPEN_SUFFIX):
            with try_lock(path) as locked:
                if not locked:
                    if path.exists():
                        inv.live.append(path)
                    continue
                scans.append(scan_warc(path))
        elif path.exists():
            scans.append(scan_warc(path))
    for coll in home.collections():
        inv.scans.setdefault(coll, [])
    return inv


def check_home(home: Home, db: sqlite_utils.Database | None, *,
               progress: Progress | None = None) -> CheckReport:
    """Check every WARC, each collection's index and (when ``db`` is given) the catalogue."""
    return check_inventory(home, db, scan_home(home, progress))


def check_inventory(home: Home, db: sqlite_utils.Database | None, inv: Inventory) -> CheckReport:
    report = CheckReport(live=[str(p) for p in inv.live])
    for coll, scans in inv.scans.items():
        for scan in scans:
            report.files += 1
            report.records += len(scan.records)
            report.problems += file_problems(home, scan)
        report.problems += index_problems(home, coll, scans)
    if db is not None:
        damaged = integrity_problems(home, db)
        report.problems += damaged
        try:
            report.problems += catalogue_problems(home, db, inv, report)
        except sqlite3.DatabaseError as exc:
            if not damaged:
                raise
            log.warning("the catalogue could not be compared with the WARCs: %s", exc)
    for problem in report.problems:
        log.info("%s: %s: %s", problem.kind, problem.path, problem.detail)
    return report


def file_problems(home: Home, scan: FileScan) -> list[Problem]:
    out = []
    for f in scan.findings:
        if f.kind in UNREPAIRABLE:
            fix = fix_restore(home, scan.path)
        elif f.kind == "length-mismatch":
            fix = ("the record stays as written (pywb replays it cut to the shorter length); "
                   f"capture the page again: memoryhole --home {home.root} crawl URL")
        else:
            fix = fix_repair(home) + f" (the cut bytes are kept beside the file as "\
                  f"{scan.final_name}.torn-<time>)"
        out.append(Problem(f.kind, str(scan.path), f.detail, fix))
    if scan.path.name.endswith(OPEN_SUFFIX):
        out.append(Problem(
            "unclosed", str(scan.path),
            "no running writer holds this .open file (a crawl stopped without closing it)",
            fix_repair(home) + " (renames it and indexes it)"))
    return out


def expected_index(scans: list[FileScan]) -> dict[tuple[str, int], ScannedRecord]:
    """(file name, offset) -> record, for the indexable records of the closed files."""
    return {(scan.path.name, rec.offset): rec
            for scan in scans if not scan.path.name.endswith(OPEN_SUFFIX)
            for rec in scan.records if rec.record_type in INDEXED_TYPES}


def index_problems(home: Home, coll: str, scans: list[FileScan]) -> list[Problem]:
    """Compare the index (all its files: archive.warc.cdxj_tiers) with the closed WARC files
    of one collection."""
    index_path = home.index_path(coll)
    expected = expected_index(scans)
    if not index_files(index_path):
        if not expected:
            return []
        return [Problem("index-missing", str(index_path),
                        f"{len(expected)} records in collection {coll!r} but no index: pywb "
                        "cannot replay them", fix_repair(home) + " (rebuilds the index)")]
    seen: set[tuple[str, int]] = set()
    wrong: list[str] = []
    try:
        for entry in read_entries(index_path):
            key = (entry.filename, entry.offset)
            rec = expected.get(key)
            if rec is None:
                wrong.append(f"{entry.filename}@{entry.offset} is not a record")
            elif rec.length != entry.length or rec.url != entry.url:
                wrong.append(f"{entry.filename}@{entry.offset} has length {rec.length} and "
                             f"url {rec.url}, the index says {entry.length} and {entry.url}")
            seen.add(key)
    except (ValueError, OSError) as exc:
        wrong.append(str(exc))
    missing = sorted(set(expected) - seen)
    if not wrong and not missing:
        return []
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} index lines point at no record (first: {wrong[0]})")
    if missing:
        first = missing[0]
        parts.append(f"{len(missing)} records are not indexed (first: {first[0]}@{first[1]})")
    return [Problem("index-stale", str(index_path), "; ".join(parts),
                    fix_repair(home) + " (rebuilds the index)")]


_INDEX_ONLY_RE = re.compile(r"(missing from|entries in|entry in) index ")


def integrity_problems(home: Home, db: sqlite_utils.Database) -> list[Problem]:
    """``PRAGMA integrity_check`` on the catalogue: one problem naming what SQLite found."""
    errors = integrity_errors(db)
    if not errors:
        return []
    db_path = home.db_path
    if all(_INDEX_ONLY_RE.search(e) for e in errors):
        fix = (f"stop crawls and re-checks, then rebuild the indexes (the rows are whole): "
               f"sqlite3 {db_path} 'REINDEX' (Debian: apt-get install sqlite3); then run: "
               f"memoryhole --home {home.root} check")
    else:
        fix = (f"stop crawls and re-checks; restore {db_path.name} from a backup (memoryhole "
               f"backup DEST makes one), or salvage what SQLite can read: sqlite3 {db_path} "
               f"'.recover' | sqlite3 {db_path}.recovered, then check it and move it in place")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return [Problem("catalogue-corrupt", str(db_path),
                    "PRAGMA integrity_check: " + "; ".join(errors[:3]) + more, fix)]


def plain_id(record_id: str | None) -> str:
    return (record_id or "").strip().strip("<>")


def capture_rows(db: sqlite_utils.Database) -> Iterator[dict]:
    if "captures" not in db.table_names():
        return iter(())
    return db.query(
        "select id, url, collection, warc_filename, warc_offset, warc_length, warc_record_id "
        "from captures order by id")


@dataclass
class RecordIndex:
    """The records of an inventory, looked up the ways catalogue rows need."""

    by_loc: dict[tuple[str, str, int], ScannedRecord]
    by_id: dict[str, tuple[str, str, ScannedRecord]]
    coll_of: dict[str, str]
    live: set[str]

    @classmethod
    def of(cls, inv: Inventory) -> RecordIndex:
        by_loc = inv.records_by_location()
        by_id = {plain_id(r.record_id): (c, n, r) for (c, n, _), r in by_loc.items()}
        coll_of = {s.final_name: c for c, scans in inv.scans.items() for s in scans}
        return cls(by_loc, by_id, coll_of, inv.live_names())

    def classify(self, row: dict) -> tuple[str, tuple[str, str, ScannedRecord] | None]:
        """``ok``, ``live`` (its file is being written), ``moved`` (with where), ``missing``."""
        name, offset = row["warc_filename"], row["warc_offset"]
        if name in self.live:
            return "live", None
        coll = row["collection"] or self.coll_of.get(name, "")
        rec = self.by_loc.get((coll, name, offset))
        rid = plain_id(row["warc_record_id"])
        if rec is not None and (not rid or plain_id(rec.record_id) == rid) and (
                row["warc_length"] in (None, rec.length)):
            return "ok", None
        if rid in self.by_id:
            return "moved", self.by_id[rid]
        return "missing", None


def catalogue_problems(home: Home, db: sqlite_utils.Database, inv: Inventory,
                       report: CheckReport | None = None) -> list[Problem]:
    """Compare ``captures`` rows with the records they point at, and the other way round."""
    records = RecordIndex.of(inv)
    out: list[Problem] = []
    catalogued: set[str] = set()
    for row in capture_rows(db):
        if report is not None:
            report.captures += 1
        catalogued.add(plain_id(row["warc_record_id"]))
        state, found = records.classify(row)
        where = (f"capture {row['id']} ({row['url']}) -> {row['collection']}/"
                 f"{row['warc_filename']}@{row['warc_offset']}")
        if state == "moved" and found:
            out.append(Problem(
                "catalogue-mismatch", str(home.db_path),
                f"{where}: that is not its record; {plain_id(row['warc_record_id'])} is at "
                f"{found[1]}@{found[2].offset}",
                fix_repair(home) + " (points the row at its record)"))
        elif state == "missing":
            out.append(Problem(
                "catalogue-missing-record", str(home.db_path),
                f"{where}: no such record in the WARCs",
                f"restore {row['warc_filename']} from a backup if you have one, else "
                + fix_repair(home) + " (deletes the row, listing it)"))
    for _coll, scans in inv.scans.items():
        for scan in scans:
            lost = uncatalogued(scan, catalogued)
            if lost:
                out.append(Problem(
                    "record-not-catalogued", str(scan.path),
                    f"{len(lost)} response/revisit records have no captures row (first: "
                    f"{lost[0].url} at offset {lost[0].offset})",
                    fix_repair(home) + " (adds minimal captures rows)"))
    return out


def uncatalogued(scan: FileScan, catalogued: set[str]) -> list[ScannedRecord]:
    """Response/revisit records of ``scan`` without a row, unless their writer still runs.

    The crawler commits capture rows in batches after the records are flushed, so the records
    of a file whose writer process (the pid in its name) is alive may not have rows yet.
    """
    if writer_alive(scan.final_name):
        return []
    return [r for r in scan.records
            if r.record_type in CATALOGUED_TYPES and plain_id(r.record_id) not in catalogued]


def writer_alive(name: str) -> bool:
    """Is the process that wrote ``<prefix>-<time>-<pid>-<serial>.warc.gz`` another live one?"""
    match = _PID_RE.search(name)
    if not match:
        return False
    pid = int(match.group(1))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
