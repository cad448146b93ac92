"""``memoryhole check --repair``: put right what a check finds, keeping every byte of evidence.

- a WARC whose last gzip member is torn (a crawl was killed mid-write) is cut back to its last
  whole member; the cut bytes are kept beside it as ``<name>.torn-<time>``;
- a ``.open`` file no writer holds is renamed to its final name and indexed;
- a stale or missing ``index.cdxj`` is rebuilt from the closed WARC files, and the temporary
  files of index rewrites that never finished are deleted;
- ``captures`` rows are pointed at their record when it moved, deleted (and listed) when their
  record no longer exists, and minimal rows are added for response/revisit records with none.

Damaged records in the middle of a file (bad gzip data, failed digests) are not touched: they
are evidence as found, and the fresh check that ends a repair still reports them.

A repair holds the home's run lock (archive.lock) from its scan to its last write, so no crawl or
re-check writes meanwhile; it waits for a run in progress. Even so, a row is deleted only after
its record is looked for again at that moment, and never when its file is newer than the scan.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import sqlite_utils

from archive.catalogue.db import immediate
from archive.home import Home
from archive.integrity.check import (
    CheckReport,
    Inventory,
    Progress,
    RecordIndex,
    capture_rows,
    check_home,
    index_problems,
    plain_id,
    scan_home,
    try_lock,
    uncatalogued,
)
from archive.lock import DEFAULT_RUN_WAIT, run_lock
from archive.timeutil import iso, parse_iso, utcnow
from archive.warc.cdxj import (
    index_warc,
    make_line,
    mime_of,
    remove_stale_temporaries,
)
from archive.warc.cdxj import ts_from_warc_date as _ts
from archive.warc.cdxj_tiers import add_to_index, rebuild_tiered_index
from archive.warc.files import OPEN_SUFFIX, fsync_dir, rename_no_replace
from archive.warc.scan import FileScan, ScannedRecord, scan_warc

log = logging.getLogger(__name__)

# Columns that hold a capture id without a declared foreign key (set to NULL when it goes).
SOFT_CAPTURE_REFS = (
    ("urls", "last_capture_id"),
    ("checks", "capture_id"),
    ("deletions", "evidence_capture_id"),
    ("deletions", "last_good_capture_id"),
    ("item_versions", "capture_id"),
)


def repair_home(home: Home, db: sqlite_utils.Database | None, *,
                progress: Progress | None = None, wait: float = DEFAULT_RUN_WAIT) -> CheckReport:
    """Repair what can be repaired, then check again: the report lists both.

    Holds the run lock throughout, waiting up to ``wait`` seconds for a run in progress
    (:class:`archive.lock.HomeBusy` after that)."""
    with run_lock(home, "repair", wait):
        return _repair(home, db, progress)


def _repair(home: Home, db: sqlite_utils.Database | None,
            progress: Progress | None) -> CheckReport:
    actions: list[str] = []
    touched: set[str] = set()          # files this repair changed (newer than its scan)
    scanned_at = time.time()
    inv = scan_home(home, progress)
    for coll, scans in inv.scans.items():
        for i, scan in enumerate(scans):
            new = _repair_file(home, coll, scan, actions)
            if new is not None:
                scans[i] = new
                touched.add(new.final_name)
        scans[:] = [s for s in scans if s.path.exists()]
        for stale in remove_stale_temporaries(home.index_path(coll)):
            actions.append(f"deleted {stale.name}: a rewrite of the index that never finished")
        if index_problems(home, coll, scans):
            count = rebuild_tiered_index(home.index_path(coll), home.archive_dir(coll),
                                         index_file=lambda p, scans=scans: _lines_for(p, scans))
            actions.append(f"rebuilt {home.index_path(coll)} ({count} lines)")
    if db is not None:
        actions += repair_catalogue(db, inv, home=home, scanned_at=scanned_at, touched=touched)
    for action in actions:
        log.warning("repaired: %s", action)
    report = check_home(home, db, progress=progress)
    report.repaired = actions
    return report


def _repair_file(home: Home, coll: str, scan: FileScan, actions: list[str]) -> FileScan | None:
    """Cut a torn tail, close and index an unclosed file; its new scan, or None if untouched."""
    path = scan.path
    if not path.name.endswith(OPEN_SUFFIX) and scan.torn_at is None:
        return None
    with try_lock(path) as locked:
        if not locked:
            log.info("skipping %s: a writer holds it", path)
            return None
        if scan.torn_at is not None:
            if not cut_tail(path, scan.torn_at, scan.final_name, actions):
                return None
        if path.name.endswith(OPEN_SUFFIX):
            final = path.with_name(scan.final_name)
            if final.exists():
                actions.append(f"left {path.name}: {final.name} already exists (compare them)")
                return None
            try:
                rename_no_replace(path, final)
            except FileExistsError:      # it appeared since the check above
                actions.append(f"left {path.name}: {final.name} already exists (compare them)")
                return None
            fsync_dir(final.parent)
            actions.append(f"closed {path.name} -> {final.name}")
            path = final
    rescan = scan_warc(path)
    if path != scan.path:
        add_to_index(home.index_path(coll), _lines_for(path, [rescan]))
    return rescan


def cut_tail(path: Path, at: int, final_name: str, actions: list[str]) -> bool:
    """Move the bytes of ``path`` from ``at`` on into ``<final_name>.torn-<time>``, then truncate.

    A file with no whole member left is moved aside whole. Returns True if ``path`` remains.
    """
    stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
    torn = path.with_name(f"{final_name}.torn-{stamp}")
    if at == 0:
        os.rename(path, torn)
        fsync_dir(path.parent)
        actions.append(f"moved {path.name} aside as {torn.name}: it held no whole record")
        return False
    with open(path, "r+b") as fh:
        fh.seek(at)
        tail = fh.read()
        fd = os.open(torn, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as out:
            out.write(tail)
            out.flush()
            os.fsync(out.fileno())
        fh.truncate(at)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)
    actions.append(f"cut {len(tail)} torn bytes off {path.name} at offset {at}; "
                   f"kept them as {torn.name}")
    return True


def _lines_for(path: Path, scans: list[FileScan]) -> list[str]:
    """Index lines for one file: warcio's reading, or this scan's where warcio gives up."""
    try:
        return index_warc(path)
    except Exception as exc:  # warcio raises several types on damaged files
        log.warning("warcio cannot index %s (%s): indexing the records the scan found",
                    path, exc)
    scan = next((s for s in scans if s.path == path), None) or scan_warc(path)
    return [make_line(r.url, _ts(r.warc_date), r.record_type, mime_of(r.content_type),
                      str(r.status) if r.status is not None else None, r.payload_digest,
                      r.length, r.offset, path.name, r.vantage)
            for r in scan.records if r.url and r.record_type in ("response", "revisit",
                                                                  "resource")]


def repair_catalogue(db: sqlite_utils.Database, inv: Inventory, *, home: Home | None = None,
                     scanned_at: float | None = None,
                     touched: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Point, delete or add ``captures`` rows so they match the records; returns the actions.

    With ``home`` and ``scanned_at`` (when the scan behind ``inv`` began), a row the scan did
    not find is kept if its file changed since the scan (other than by this repair: the names
    in ``touched``) or its record is found there now."""
    records = RecordIndex.of(inv)
    actions: list[str] = []
    with immediate(db):
        catalogued: set[str] = set()
        gone: list[dict] = []
        for row in list(capture_rows(db)):
            catalogued.add(plain_id(row["warc_record_id"]))
            state, found = records.classify(row)
            if state == "moved" and found:
                coll, name, rec = found
                db["captures"].update(row["id"], {
                    "collection": coll, "warc_filename": name, "warc_offset": rec.offset,
                    "warc_length": rec.length})
                actions.append(f"capture {row['id']} ({row['url']}): pointed at its record "
                               f"{name}@{rec.offset}")
            elif state == "missing":
                kept = (_still_there(home, row, scanned_at, touched) if home is not None
                        else None)
                if kept:
                    actions.append(f"kept capture {row['id']} ({row['url']}): {kept}")
                else:
                    gone.append(row)
        actions += _delete_captures(db, gone)
        added = 0
        for coll, scans in inv.scans.items():
            for scan in scans:
                for rec in uncatalogued(scan, catalogued):
                    db["captures"].insert(_minimal_row(coll, scan.final_name, rec))
                    catalogued.add(plain_id(rec.record_id))
                    added += 1
        if added:
            actions.append(f"added {added} minimal captures rows for uncatalogued records")
    return actions


def _still_there(home: Home, row: dict, scanned_at: float | None,
                 touched: set[str] | frozenset[str]) -> str | None:
    """Why a row the scan found no record for must stay, or None: its file is newer than the
    scan, or reading the file again now finds its record at its offset."""
    names = [row["warc_filename"], row["warc_filename"] + OPEN_SUFFIX]
    colls = [row["collection"]] if row["collection"] else home.collections()
    for coll in colls:
        for name in names:
            path = home.archive_dir(coll) / name
            try:
                mtime = path.stat().st_mtime
            except (FileNotFoundError, NotADirectoryError):
                continue
            if scanned_at is not None and mtime >= scanned_at and \
                    row["warc_filename"] not in touched:
                return f"{name} changed after the scan began; check again later"
            rid = plain_id(row["warc_record_id"])
            if any(r.offset == row["warc_offset"] and plain_id(r.record_id) == rid
                   for r in scan_warc(path).records):
                return f"its record is in {name} at {row['warc_offset']} (read again)"
    return None


def _minimal_row(coll: str, filename: str, rec: ScannedRecord) -> dict:
    date = parse_iso(rec.warc_date) if rec.warc_date else utcnow()
    return {
        "url": _canonical(rec.url or ""), "fetched_url": rec.url, "captured_at": iso(date),
        "status": rec.status, "mime": rec.content_type, "collection": coll,
        "warc_filename": filename, "warc_offset": rec.offset,
        "warc_length": rec.length, "warc_record_id": rec.record_id,
        "payload_digest": rec.payload_digest, "is_revisit": int(rec.record_type == "revisit"),
        "via": "http", "vantage": rec.vantage,
    }


def _canonical(url: str) -> str:
    """The catalogue's form of a URL (``archive.urlnorm``, the crawler's), when available."""
    try:
        from archive.urlnorm import canonical_url
    except ImportError:
        return url
    return canonical_url(url)


def _hand_texts_on(db: sqlite_utils.Database, ids: list[int]) -> list[str]:
    """Captures about to be deleted may hold the text of later ones (``text_capture_id``): the
    oldest of those that stay takes the text, and the others name it instead."""
    if "text_capture_id" not in db["captures"].columns_dict:
        return []
    going = set(ids)
    actions = []
    for holder in ids:
        heirs = [row[0] for row in db.execute(
            "SELECT id FROM captures WHERE text_capture_id = ? ORDER BY id", (holder,))
            if row[0] not in going]
        if not heirs:
            continue
        db.execute("UPDATE captures SET text = (SELECT text FROM captures WHERE id = ?),"
                   " text_capture_id = NULL WHERE id = ?", (holder, heirs[0]))
        db.execute("UPDATE captures SET text_capture_id = ? WHERE text_capture_id = ?",
                   (heirs[0], holder))
        actions.append(f"moved the text of capture {holder} to capture {heirs[0]}, "
                       f"which {len(heirs) - 1} later captures share")
    return actions


def _delete_captures(db: sqlite_utils.Database, rows: list[dict]) -> list[str]:
    """Delete capture rows whose record is gone, and what refers to them; list each one."""
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    marks = ",".join("?" * len(ids))
    actions = _hand_texts_on(db, ids)
    for table in db.tables:
        for fk in table.foreign_keys:
            if fk.other_table != "captures":
                continue
            if table.name == "diffs":
                cur = db.execute(f"delete from diffs where [{fk.column}] in ({marks})", ids)
                verb = "deleted"
            else:
                cur = db.execute(f"update [{table.name}] set [{fk.column}] = null "
                                 f"where [{fk.column}] in ({marks})", ids)
                verb = "cleared"
            if cur.rowcount:
                actions.append(f"{verb} {cur.rowcount} {table.name} rows citing deleted captures")
    for name, column in SOFT_CAPTURE_REFS:
        if name in db.table_names() and column in db[name].columns_dict:
            cur = db.execute(f"update [{name}] set [{column}] = null "
                             f"where [{column}] in ({marks})", ids)
            if cur.rowcount:
                actions.append(f"cleared {name}.{column} in {cur.rowcount} rows")
    db.execute(f"delete from captures where id in ({marks})", ids)
    for row in rows:
        actions.append(f"deleted capture {row['id']} ({row['url']}): its record "
                       f"{row['warc_filename']}@{row['warc_offset']} does not exist")
    return actions
