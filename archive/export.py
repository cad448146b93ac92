"""Exports of the archive: the CDXJ index (all of it, or one source's or a period's captures)."""

from __future__ import annotations

import heapq
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from archive.home import Home
from archive.timeutil import iso


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
    streams = []
    handles = []
    for collection in home.collections():
        index = home.index_path(collection)
        if index.exists():
            handle = open(index, encoding="utf-8")  # noqa: SIM115 - closed below
            handles.append(handle)
            streams.append(handle)
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
        for handle in handles:
            handle.close()
    return count


def _location(line: str) -> tuple[str, int]:
    fields = json.loads(line.split(" ", 2)[2])
    return fields.get("filename", ""), int(fields.get("offset", -1))


def _selected_records(db: Any, source: str | None, since: datetime | None) -> set[tuple[str, int]]:
    sql = ("SELECT c.warc_filename, c.warc_offset FROM captures c"
           " LEFT JOIN urls u ON u.url = c.url WHERE 1=1")
    params: list[Any] = []
    if source is not None:
        sql += " AND u.source = ?"
        params.append(source)
    if since is not None:
        sql += " AND c.captured_at >= ?"
        params.append(iso(since))
    return {(name, int(offset)) for name, offset in db.execute(sql, params).fetchall()}
