"""One deletion's evidence bundle: the WACZ a journalist attaches to a story.

``evidence_bundle(home, db, url, out)`` packages the URL's newest deletion (or the one asked
for):

- the last good capture, with the requisites that replay it (stylesheets, images: the capture
  of each nearest in time) and, for a revisit, the record holding its payload;
- every check after the URL was last seen alive that archived an answer (the tombstones, the
  404s, the redirects), and the deletion's own evidence capture;
- ``evidence/deletion.json``: the deletion-log row as ``deletions --format json`` gives it,
  the checks, and for every record copied its WARC-Record-ID, type, URI, date, its file and
  offset in the home and in the bundle; the SHA-256 of the bundle's WARC and of each WARC file
  of the home a record came from (at the time of the export).

The records are copied byte for byte, so their own WARC digests still hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import archive
from archive.catalogue.db import dict_rows
from archive.catalogue.deletions import DeletionFilter, query_deletions
from archive.export.selection import CAPTURE_ROWS, capture_refs, package_records, page_entry
from archive.export.wacz import (
    CopiedRecord,
    ExportError,
    Progress,
    RecordRef,
    WaczResult,
    sha256_file,
)
from archive.home import Home
from archive.timeutil import iso, utcnow
from archive.urlnorm import canonical_url
from archive.warc.safepath import warc_in_collection


def choose_deletion(db: Any, url: str, deletion_id: int | None = None,
                    replay_base: str = "http://127.0.0.1:8765") -> dict[str, Any]:
    """The newest deletion of ``url`` (or deletion ``deletion_id`` of it), as a deletion
    object; ExportError naming the command that lists them otherwise."""
    found = query_deletions(db, DeletionFilter(url=url), replay_base=replay_base)
    if deletion_id is not None:
        found = [d for d in found if d["id"] == deletion_id]
    if not found:
        which = f"deletion {deletion_id} of {url}" if deletion_id is not None else \
            f"deletion of {url}"
        raise ExportError(f"the deletion log has no {which}; list them with: memoryhole "
                          f"deletions --format json")
    return found[0]


def evidence_bundle(home: Home, db: Any, url: str, out: Path, *,
                    deletion_id: int | None = None, replay_base: str = "http://127.0.0.1:8765",
                    progress: Progress | None = None) -> WaczResult:
    """Write the evidence bundle of ``url``'s deletion to ``out`` (module docstring)."""
    conn = getattr(db, "conn", db)
    deletion = choose_deletion(db, url, deletion_id, replay_base)
    key = canonical_url(url)
    refs: list[RecordRef] = []
    pages: list[dict[str, Any]] = []
    good = deletion["last_good_capture"]
    if good is not None:
        (row,) = dict_rows(conn, CAPTURE_ROWS + " WHERE c.id = ?", (good["capture_id"],))
        refs += capture_refs(home, conn, row)
        pages.append(page_entry(row))
    since = deletion["last_seen_alive_at"] or ""
    checks = dict_rows(conn, (
        "SELECT k.id, k.checked_at, k.outcome, k.http_status, k.reason, k.rule, k.detail,"
        " k.capture_id, k.vantage FROM checks k JOIN urls u ON u.id = k.url_id"
        " WHERE u.url = ? AND k.checked_at >= ? ORDER BY k.checked_at, k.id"), (key, since))
    evidence_ids = [c["capture_id"] for c in checks if c["capture_id"]]
    if deletion["evidence"]["capture_id"]:
        evidence_ids.append(deletion["evidence"]["capture_id"])
    for capture_id in dict.fromkeys(evidence_ids):
        for row in dict_rows(conn, CAPTURE_ROWS + " WHERE c.id = ?", (capture_id,)):
            refs += capture_refs(home, conn, row)
            pages.append(page_entry(row))
    if not refs:
        raise ExportError(f"none of the captures of {key}'s deletion is indexed yet (a WARC "
                          f"still being written is indexed when it closes); try again after "
                          f"the crawl, or run: memoryhole --home {home.root} check")

    def describe(copied: list[CopiedRecord], name: str, path: Path) -> dict[str, bytes]:
        sources: dict[str, str] = {}
        for record in copied:
            source = record.source
            arc = f"{source.collection}/{source.filename}"
            if arc not in sources:
                sources[arc] = sha256_file(warc_in_collection(home, source.collection,
                                                              source.filename))
        document = {
            "deletion": deletion,
            "checks_since_last_seen_alive": checks,
            "bundle": {
                "created_at": iso(utcnow()),
                "software": f"memoryhole {archive.__version__}",
                "home": str(home.root),
                "warc": {f"archive/{name}": sha256_file(path)},
                "source_warcs": sources,
                "records": [{
                    "record_id": r.headers.get("warc-record-id"),
                    "type": r.headers.get("warc-type"),
                    "target_uri": r.headers.get("warc-target-uri"),
                    "date": r.headers.get("warc-date"),
                    "block_digest": r.headers.get("warc-block-digest"),
                    "payload_digest": r.headers.get("warc-payload-digest"),
                    "source": {"collection": r.source.collection, "file": r.source.filename,
                               "offset": r.source.offset, "length": r.source.length},
                    "bundle": {"file": f"archive/{name}", "offset": r.offset,
                               "length": r.length},
                } for r in copied],
            },
        }
        return {"evidence/deletion.json": json.dumps(document, indent=2,
                                                      ensure_ascii=False).encode("utf-8")}

    title = f"Evidence: {key} ({deletion['reason']}, detected {deletion['detected_at']})"
    return package_records(home, out, refs, pages=pages, title=title,
                           description=f"memoryhole deletion {deletion['id']} of {key}",
                           extra=describe, progress=progress)
