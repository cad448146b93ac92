"""Exports of the archive: the CDXJ index (all of it, or one source's or a period's captures), WACZ
packages (archive.export.wacz) of the whole home or of a selection with what replays it, and the
deletion log as CSV."""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import archive
from archive.catalogue.captures import capture_body
from archive.catalogue.db import dict_rows
from archive.catalogue.deletions import DeletionFilter, query_deletions
from archive.export.formats import write_csv
from archive.export.wacz import (
    CopiedRecord,
    ExportError,
    Progress,
    RecordRef,
    WaczResult,
    assemble_warc,
    copied_index_lines,
    entry_ref,
    write_wacz,
)
from archive.home import Home
from archive.text.markup_urls import is_html
from archive.text.requisites import html_requisites
from archive.timeutil import iso, parse_iso, timestamp14, utcnow
from archive.warc.cdxj_lookup import captures_of, nearest, original_of
from archive.warc.cdxj_tiers import read_lines
from archive.warc.files import WARC_SUFFIX
from archive.warc.reader import RecordNotFound


def export_cdxj(home: Home, out: Path, db: Any | None = None, *, source: str | None = None,
                since: datetime | None = None) -> int:
    """Write one sorted CDXJ file of every collection's index to ``out``; returns the lines.

    With ``source`` or ``since`` only the captures of that source / from that time are kept
    (they need the catalogue, ``db``)."""
    keep: set[tuple[str, int]] | None = None
    if source is not None or since is not None:
        if db is None:
            raise ValueError("filtering by source or time needs the catalogue")
        keep = _selected_records(db, source, since)
    streams = [read_lines(home.index_path(collection)) for collection in home.collections()]
    count = 0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as target:
            for line in heapq.merge(*streams):
                if not line.strip():
                    continue
                if keep is not None and _location(line) not in keep:
                    continue
                target.write(line if line.endswith("\n") else line + "\n")
                count += 1
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        for stream in streams:
            stream.close()
    return count


def _location(line: str) -> tuple[str, int]:
    fields = json.loads(line.split(" ", 2)[2])
    return fields.get("filename", ""), int(fields.get("offset", -1))


def _source_and_since(sql: str, source: str | None, since: datetime | None
                      ) -> tuple[str, list[Any]]:
    """``sql`` (captures ``c`` joined with urls ``u``, ending in a WHERE) narrowed to a
    source's captures and to captures since a time."""
    params: list[Any] = []
    if source is not None:
        sql += " AND u.source = ?"
        params.append(source)
    if since is not None:
        sql += " AND c.captured_at >= ?"
        params.append(iso(since))
    return sql, params


def _selected_records(db: Any, source: str | None, since: datetime | None) -> set[tuple[str, int]]:
    sql, params = _source_and_since(
        "SELECT c.warc_filename, c.warc_offset FROM captures c LEFT JOIN urls u ON u.url = c.url"
        " WHERE 1=1", source, since)
    return {(name, int(offset)) for name, offset in db.execute(sql, params).fetchall()}


# --- WACZ ------------------------------------------------------------------------------------

# the captures columns an export and the evidence bundle read, of captures ``c``
CAPTURE_ROWS = (
    "SELECT c.id, c.url, c.fetched_url, c.collection, c.warc_filename, c.warc_offset,"
    " c.warc_length, c.captured_at, c.title, c.mime, c.status, c.is_revisit FROM captures c"
)


def _capture_line(home: Home, row: dict[str, Any]) -> str | None:
    """The index line of a captures row (None while its WARC is still open, or if lost)."""
    for found in captures_of(home, row["fetched_url"] or row["url"], [row["collection"]]):
        if found.entry.filename == row["warc_filename"] and \
                found.entry.offset == row["warc_offset"]:
            return found.entry.line
    return None


def capture_refs(home: Home, conn: Any, row: dict[str, Any], *,
                 requisites: bool = True) -> list[RecordRef]:
    """The records that replay one capture: its own, its original's when it is a revisit,
    and (for an HTML page) its requisites nearest in time with their originals."""
    line = _capture_line(home, row)
    if line is None:
        return []
    collection = row["collection"]
    refs = [entry_ref(collection, line)]
    own = [c for c in captures_of(home, row["fetched_url"] or row["url"], [collection])
           if c.entry.line == line]
    if own and own[0].is_revisit:
        original = original_of(captures_of(home, own[0].url, [collection]), own[0])
        if original is not None:
            refs.append(entry_ref(collection, original.entry.line))
    status = row.get("status") or 0
    if requisites and 200 <= status < 300 and is_html(row.get("mime")):
        try:
            body, content_type, _ = capture_body(conn, home, row["id"])
        except RecordNotFound:
            return refs
        stamp = timestamp14(parse_iso(row["captured_at"]))
        for url in html_requisites(body, content_type, row["fetched_url"] or row["url"]):
            found = captures_of(home, url, [collection])
            chosen = nearest(found, stamp, url)
            if chosen is None:
                continue
            refs.append(entry_ref(collection, chosen.entry.line))
            if chosen.is_revisit and (original := original_of(found, chosen)) is not None:
                refs.append(entry_ref(collection, original.entry.line))
    return refs


def page_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A pages.jsonl line for a captures row."""
    entry = {"id": str(row["id"]), "url": row["fetched_url"] or row["url"],
             "ts": row["captured_at"]}
    if row.get("title"):
        entry["title"] = row["title"]
    return entry


def _is_page(row: dict[str, Any]) -> bool:
    return bool(row["status"] and 200 <= row["status"] < 300 and is_html(row["mime"]))


def export_wacz(home: Home, out: Path, db: Any, *, source: str | None = None,
                since: datetime | None = None, progress: Progress | None = None) -> WaczResult:
    """A WACZ of the whole home (its closed WARC files as they are), or of one source's /
    one period's captures with what replays them (copied into one WARC)."""
    conn = getattr(db, "conn", db)
    if source is None and since is None:
        warcs = [(p.name, p) for collection in home.collections()
                 for p in sorted(home.archive_dir(collection).glob("*" + WARC_SUFFIX))]
        if not warcs:
            raise ExportError(f"nothing archived in {home.root} yet: crawl first "
                              f"(memoryhole --home {home.root} crawl URL)")
        if len({name for name, _ in warcs}) != len(warcs):
            raise ExportError("two collections hold WARC files of the same name; export "
                              "them one source at a time (--source NAME)")
        with tempfile.TemporaryDirectory(dir=Path(out).parent or None) as tmp:
            merged = Path(tmp) / "index.cdxj"
            export_cdxj(home, merged)
            kept = {(name, int(offset)) for name, offset in (
                _location(line) for line in merged.read_text(encoding="utf-8").splitlines())}
            rows = [r for r in dict_rows(conn, CAPTURE_ROWS + " JOIN urls u ON u.url = c.url"
                                          " ORDER BY c.captured_at, c.id", ())
                    if _is_page(r) and (r["warc_filename"], r["warc_offset"]) in kept]
            return write_wacz(out, warcs=warcs, index_lines=_read_lines(merged),
                              pages=[page_entry(r) for r in rows],
                              title=f"memoryhole archive of {home.root.name}",
                              description=f"every WARC of {home.root}", progress=progress)
    sql, params = _source_and_since(CAPTURE_ROWS + " JOIN urls u ON u.url = c.url WHERE 1=1",
                                    source, since)
    rows = dict_rows(conn, sql + " ORDER BY c.captured_at, c.id", tuple(params))
    refs: list[RecordRef] = []
    for row in rows:
        refs += capture_refs(home, conn, row)
    if not refs:
        raise ExportError("no indexed capture matches"
                          + (f" source {source!r}" if source else "")
                          + (f" since {iso(since)}" if since else "")
                          + " (captures in a WARC still being written are indexed when it "
                            "closes)")
    what = " ".join(x for x in (f"source {source}" if source else "",
                                f"since {iso(since)}" if since else "") if x)
    return package_records(home, out, refs, pages=[page_entry(r) for r in rows if _is_page(r)],
                           title=f"memoryhole export: {what}", description=what,
                           progress=progress)


def package_records(home: Home, out: Path, refs: list[RecordRef], *,
                    pages: list[dict[str, Any]], title: str, description: str = "",
                    extra: Callable[[list[CopiedRecord], str, Path], dict[str, bytes]]
                    | None = None, progress: Progress | None = None) -> WaczResult:
    """A WACZ of ``refs`` copied into one new WARC; ``extra(copied, warc name, warc path)``
    may add files that describe the copy (the evidence bundle's JSON)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    name = f"MH-export-{timestamp14(utcnow())}-{os.getpid()}{WARC_SUFFIX}"
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out.parent) as tmp:
        path = Path(tmp) / name
        warcinfo = {"software": f"memoryhole/{archive.__version__}", "description":
                    "records copied byte for byte from the archive of " + str(home.root)}
        copied = assemble_warc(home, refs, path, warcinfo, progress=progress)
        return write_wacz(out, warcs=[(name, path)],
                          index_lines=copied_index_lines(copied, name), pages=pages,
                          extra=extra(copied, name, path) if extra else None, title=title,
                          description=description, progress=progress)


def _read_lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield line.rstrip("\n")


# --- CSV -------------------------------------------------------------------------------------

def export_deletions_csv(db: Any, out: Path, *, source: str | None = None,
                         since: datetime | None = None, replay_base: str) -> int:
    """The deletion log (newest first) as CSV at ``out``, written atomically; returns the
    rows."""
    rows = query_deletions(db, DeletionFilter(source=source, since=since),
                           replay_base=replay_base)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".csv.tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            write_csv(rows, handle)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)
