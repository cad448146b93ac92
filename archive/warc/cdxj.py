"""The pywb-compatible CDXJ index: ``collections/<coll>/indexes/index.cdxj``.

One line per response, revisit and resource record, the way pywb's own indexer (``wb-manager
reindex``) writes it, so pywb replays a home as it is and lines made here and by pywb are
byte-identical (which is what lets merges drop duplicates)::

    com,example)/a?b=1 20261122040000 {"url": "http://example.com/a?b=1", "mime": "text/html",
        "status": "200", "digest": "sha256:...", "length": "561", "offset": "319",
        "filename": "MH-....warc.gz"}

(one line). As in pywb: the key is ``surt.surt(url)``; ``mime`` is the Content-Type without
parameters (``unk`` when absent, ``warc/revisit`` for revisits); ``status`` only for responses;
numbers are strings; empty values are left out; ``filename`` is relative to the archive folder.
Non-GET requests are indexed under their plain URL (pywb appends ``__wb_method=...`` to the key
of POST/PUT captures; memoryhole captures with GET).

Each index file stays sorted. :func:`merge_into_index` merges new lines into one file under an
``fcntl`` lock on ``index.cdxj.lock`` and replaces it atomically, so concurrent writers never
lose lines. A collection's index is several such files, merged in tiers: archive.warc.cdxj_tiers
(what the writer, repair, lookups and exports use).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import heapq
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import surt
from warcio.archiveiterator import ArchiveIterator

from archive.timeutil import timestamp14
from archive.warc.files import OPEN_SUFFIX, WARC_SUFFIX
from archive.warc.records import (
    VANTAGE_CONTROL_FIELD,
    VANTAGE_FIELD,
    WrittenRecord,
    indexed_vantage,
)

log = logging.getLogger(__name__)
_TMP_SUFFIX = ".tmp"            # a rewrite's temporary file: .<index name>.<random>.tmp

INDEXED_TYPES = ("response", "revisit", "resource")
LOCK_SUFFIX = ".lock"
_MIME_RE = re.compile("[; ]")


@dataclass(frozen=True)
class IndexEntry:
    """One parsed CDXJ line."""

    urlkey: str
    timestamp: str
    url: str
    mime: str | None
    status: int | None
    digest: str | None
    filename: str
    offset: int
    length: int
    line: str
    vantage: str | None = None      # a vantage point's capture (not pywb's; pywb ignores it)


def surt_key(url: str) -> str:
    """The index key pywb looks ``url`` up by (``pywb.utils.canonicalize``)."""
    try:
        return surt.surt(url)
    except Exception:
        if url.startswith("urn:"):
            return url
        raise ValueError(f"cannot make a SURT key of {url!r}") from None


def mime_of(content_type: str | None) -> str:
    """pywb's ``mime``: the content type up to ``;`` or a space, ``unk`` when absent."""
    return _MIME_RE.split(content_type, maxsplit=1)[0] if content_type else "unk"


def format_line(urlkey: str, timestamp: str, fields: list[tuple[str, str | None]]) -> str:
    """A CDXJ line; ``fields`` in pywb's order, empty or ``-`` values left out."""
    data = {k: v for k, v in fields if v and v != "-"}
    return f"{urlkey} {timestamp} {json.dumps(data)}"


def make_line(url: str, timestamp: str, rtype: str, mime: str | None, status: str | None,
          digest: str | None, length: int, offset: int, filename: str,
          vantage: str | None = None) -> str:
    if rtype == "revisit":
        mime = "warc/revisit"
    if digest and digest.startswith("sha1:"):
        digest = digest[len("sha1:"):]
    fields = [("url", url), ("mime", mime), ("status", status if rtype == "response" else None),
              ("digest", digest), ("length", str(length)), ("offset", str(offset)),
              ("filename", filename), ("vantage", vantage)]
    return format_line(surt_key(url), timestamp, fields)


def cdxj_line(rec: WrittenRecord) -> str | None:
    """The index line for a written record; None for records that are not indexed."""
    if rec.record_type not in INDEXED_TYPES:
        return None
    status = str(rec.status) if rec.status is not None else None
    loc = rec.location
    return make_line(rec.url, timestamp14(rec.date), rec.record_type, mime_of(rec.mime), status,
                 rec.payload_digest, loc.length, loc.offset, loc.filename, rec.vantage)


def cdxj_lines(records: Iterable[WrittenRecord]) -> list[str]:
    """Index lines for the indexable records among ``records``."""
    return [line for line in map(cdxj_line, records) if line]


def index_warc(path: Path | str, filename: str | None = None) -> list[str]:
    """Index an existing WARC file with warcio, as pywb's indexer would.

    ``filename`` defaults to the file's name without ``.open``. A torn last record is silently
    dropped by warcio: run :mod:`archive.integrity.check` first when that matters.
    """
    path = Path(path)
    if filename is None:
        filename = path.name.removesuffix(OPEN_SUFFIX)
    lines = []
    with open(path, "rb") as fh:
        it = ArchiveIterator(fh, ensure_http_headers=True)
        for record in it:
            if record.rec_type not in INDEXED_TYPES:
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date")
            digest = record.rec_headers.get_header("WARC-Payload-Digest")
            sha1 = hashlib.sha1() if not digest and record.rec_type != "revisit" else None
            while chunk := record.raw_stream.read(65536):
                if sha1:
                    sha1.update(chunk)
            it.read_to_end(record)
            if sha1:
                digest = base64.b32encode(sha1.digest()).decode("ascii")
            status = None
            if record.rec_type == "response" and record.http_headers:
                status = record.http_headers.get_statuscode()
                if status == "204" and "Error" in record.http_headers.statusline:
                    status = None
            mime = None
            if record.http_headers:
                mime = mime_of(record.http_headers.get_header("Content-Type"))
            if not url:
                continue
            offset, length = it.get_record_offset(), it.get_record_length()
            lines.append(make_line(url, ts_from_warc_date(date), record.rec_type, mime, status,
                               digest, length, offset, filename,
                               indexed_vantage(
                                   record.rec_headers.get_header(VANTAGE_FIELD),
                                   record.rec_headers.get_header(VANTAGE_CONTROL_FIELD))))
    return lines


def ts_from_warc_date(value: str | None) -> str:
    digits = re.sub(r"\D", "", value or "")
    return (digits[:14]).ljust(14, "0")


def parse_line(line: str) -> IndexEntry:
    """Parse one CDXJ line (ValueError when it is not one)."""
    line = line.rstrip("\n")
    try:
        urlkey, timestamp, rest = line.split(" ", 2)
        data = json.loads(rest)
        status = data.get("status")
        return IndexEntry(
            urlkey=urlkey, timestamp=timestamp, url=data.get("url", ""),
            mime=data.get("mime"), status=int(status) if status and status.isdigit() else None,
            digest=data.get("digest"), filename=data["filename"],
            offset=int(data["offset"]), length=int(data["length"]), line=line,
            vantage=data.get("vantage"),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a CDXJ line: {line[:200]!r} ({exc})") from None


def read_index(path: Path | str) -> Iterator[IndexEntry]:
    """Parsed entries of an index file, in file order (blank lines skipped)."""
    with open(path, encoding="utf-8") as fh:
        for raw in fh:
            if raw.strip():
                yield parse_line(raw)


@contextmanager
def index_lock(index_path: Path | str, wait: bool = True) -> Iterator[bool]:
    """Hold the lock that serialises every rewrite of ``index_path``; without ``wait``, yield
    False at once when another process holds it (and hold nothing)."""
    index_path = Path(index_path)
    index_path.parent.mkdir(parents=True, exist_ok=True)
    with open(index_path.with_name(index_path.name + LOCK_SUFFIX), "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_stale_temporaries(index_path: Path | str) -> list[Path]:
    """Delete the temporary files of rewrites of ``index_path`` that never finished (a writer
    killed mid-merge); taken under the index lock, so none of them is being written. Returns
    what was deleted."""
    index_path = Path(index_path)
    if not index_path.parent.is_dir():
        return []
    with index_lock(index_path):
        stale = sorted(index_path.parent.glob(f".{index_path.stem}*{_TMP_SUFFIX}"))
        for path in stale:
            path.unlink(missing_ok=True)
    return stale


def merge_into_index(index_path: Path | str, lines: Iterable[str]) -> int:
    """Merge ``lines`` into the sorted index at ``index_path``; returns the index's line count.

    Exact duplicate lines are dropped. An existing index that turns out unsorted is sorted.
    """
    index_path = Path(index_path)
    new = sorted({line.rstrip("\n") for line in lines if line.strip()})
    with index_lock(index_path):
        try:
            return _rewrite(index_path, lambda old: heapq.merge(_checked_sorted(old), new))
        except _Unsorted:
            log.warning("%s was not sorted; sorting it", index_path)
            return _rewrite(index_path, lambda old: sorted([*old, *new]))


def rebuild_index(index_path: Path | str, archive_dir: Path | str,
                  index_file: Callable[[Path], list[str]] = index_warc) -> int:
    """Replace the index with the lines of every closed ``*.warc.gz`` in ``archive_dir``.

    The files are listed and read while the index lock is held, so a writer that closes a file
    meanwhile merges its lines after the rebuild, never before it. Returns the line count.
    """
    index_path, archive_dir = Path(index_path), Path(archive_dir)
    with index_lock(index_path):
        lines: set[str] = set()
        for path in sorted(archive_dir.glob("*" + WARC_SUFFIX)):
            lines.update(index_file(path))
        new = sorted(lines)
        return _rewrite(index_path, lambda old: new, read_old=False)


def rewrite_index_file(path: Path | str, lines: Iterable[str]) -> int:
    """Write sorted ``lines`` as the whole file ``path`` (aside, then renamed into place; equal
    neighbours written once); returns the line count."""
    return _rewrite(Path(path), lambda old: lines, read_old=False)


def file_key_lines(index_path: Path | str, urlkey: str) -> list[str]:
    """The lines of the one sorted file ``index_path`` whose key is ``urlkey``, in its order
    (a binary search: the file is never read whole)."""
    prefix = (urlkey + " ").encode("utf-8")
    try:
        handle = open(index_path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return []
    with handle:
        def line_at(pos: int) -> tuple[int, bytes]:
            """The first line that starts at ``pos`` or after it (b"" past the end)."""
            handle.seek(max(pos - 1, 0))
            if pos:
                handle.readline()          # up to the first newline at pos - 1 or after
            return handle.tell(), handle.readline()

        # the smallest position whose next line is >= prefix (or past the end): the lines are
        # sorted, so that predicate only turns from false to true as the position grows
        lo, hi = 0, os.fstat(handle.fileno()).st_size
        while lo < hi:
            mid = (lo + hi) // 2
            start, line = line_at(mid)
            if line and line < prefix:
                lo = start + 1
            else:
                hi = mid
        start, line = line_at(lo)
        found = []
        while line.startswith(prefix):
            found.append(line.decode("utf-8").rstrip("\n"))
            line = handle.readline()
        return found



class _Unsorted(Exception):
    pass


def _checked_sorted(lines: Iterable[str]) -> Iterator[str]:
    prev = ""
    for line in lines:
        if line < prev:
            raise _Unsorted()
        prev = line
        yield line


def _old_lines(index_path: Path) -> Iterator[str]:
    try:
        fh = open(index_path, encoding="utf-8")
    except FileNotFoundError:
        return
    with fh:
        for raw in fh:
            line = raw.rstrip("\n")
            if line.strip():
                yield line


def _rewrite(index_path: Path, combine: Callable[[Iterable[str]], Iterable[str]],
             read_old: bool = True) -> int:
    index_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{index_path.name}.", suffix=_TMP_SUFFIX,
                               dir=index_path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            prev = None
            for line in combine(_old_lines(index_path) if read_old else iter(())):
                if line != prev:
                    out.write(line + "\n")
                    count += 1
                prev = line
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, index_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count
