"""WARC 1.1 writing: gzip-per-record files that rotate by size (DESIGN.md "WARC records").

Records are assembled as bytes here rather than with warcio's writer, which hard-codes gzip level 9
(too slow for a crawl: NOTES.md). Each record is its own gzip member, so a reader can seek to any
record and a crash tears at most the last one. Digests are ``sha256:<BASE32>``, the
form warcio's checker verifies.

Compression (``COMPRESSIONS``): ``fast``, the default, is Intel's ISA-L (python-isal) at its level
3, much faster than zlib and a little bigger on plain HTML (BENCHMARKS.md "Timings of single
steps"); on bodies that came gzip- or br-encoded, as most web pages do, there is nothing left to
gain and all levels give the same size. ``balanced`` is zlib level 6 (what wget
writes), ``small`` zlib level 9. Every choice writes ordinary gzip members that any WARC reader
takes.

The HTTP messages themselves are made by archive.warc.http_message (how a stored response is made
self-consistent, how header text is encoded).

A file is ``<prefix>-<YYYYmmddHHMMSSffffff>-<pid>-<serial>.warc.gz.open`` while written, and the
writer holds ``fcntl.flock(LOCK_EX)`` on it for its lifetime: ``check --repair`` skips files it
cannot lock. ``close()`` fsyncs it and renames it without ``.open``.
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import logging
import os
import threading
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from archive.timeutil import utcnow, warc_date
from archive.warc.http_message import (
    CRLF,
    HttpExchange,
    consistent_response_headers,
    encode_header_text,
    header_lines,
    mime_of,
    request_head,
    status_line,
)

__all__ = ["COMPRESSIONS", "NOT_MODIFIED_PROFILE", "OPEN_SUFFIX", "REVISIT_PROFILE", "WARC_SUFFIX",
           "RecordLocation", "RevisitOf", "RotatingWarcWriter", "WrittenRecord",
           "bracket_id", "fsync_dir", "gzip_compressor", "new_record_id", "sha256_digest"]

log = logging.getLogger(__name__)

OPEN_SUFFIX = ".open"
WARC_SUFFIX = ".warc.gz"
REVISIT_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
# name -> (compression library, level); see the module docstring
COMPRESSIONS = {"fast": ("isal", 3), "balanced": ("zlib", 6), "small": ("zlib", 9)}
DEFAULT_COMPRESSION = "fast"


def gzip_compressor(compression: str) -> Callable[[], Any]:
    """A maker of one gzip compressor (``compressobj`` API) per record, for a name of
    ``COMPRESSIONS``. Without python-isal installed, ``fast`` falls back to zlib level 1."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown WARC compression {compression!r}; "
                         f"use one of {', '.join(COMPRESSIONS)}")
    library, level = COMPRESSIONS[compression]
    module: Any = zlib
    if library == "isal":
        try:
            from isal import isal_zlib as module
        except ImportError:
            log.warning("python-isal is not installed; WARC compression %r uses zlib level 1 "
                        "(pip install isal)", compression)
            module, level = zlib, 1
    return functools.partial(module.compressobj, level, module.DEFLATED, 31)


@dataclass(frozen=True)
class RecordLocation:
    """Where a record lives: the file's final name (no ``.open``), the gzip member's span."""

    filename: str
    offset: int
    length: int


@dataclass(frozen=True)
class RevisitOf:
    """The earlier capture whose payload a revisit record points at."""

    target_uri: str
    target_date: datetime
    payload_digest: str
    profile: str = REVISIT_PROFILE    # or NOT_MODIFIED_PROFILE for a 304 answer


@dataclass(frozen=True)
class WrittenRecord:
    """What was written: enough to index the record and to catalogue it."""

    record_id: str
    record_type: str
    url: str
    date: datetime
    location: RecordLocation
    payload_digest: str | None
    status: int | None
    mime: str | None


def sha256_digest(*parts: bytes) -> str:
    """``sha256:<BASE32>`` of the concatenated parts."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return "sha256:" + base64.b32encode(h.digest()).decode("ascii")


def new_record_id() -> str:
    return f"<urn:uuid:{uuid.uuid4()}>"


def bracket_id(record_id: str) -> str:
    """``<urn:uuid:...>`` whether or not the brackets were given."""
    record_id = record_id.strip()
    return record_id if record_id.startswith("<") else f"<{record_id}>"


def _aware(dt: datetime, what: str) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"{what} must be timezone-aware UTC, got naive {dt.isoformat()}")
    return dt


class _OpenFile:
    """One WARC being written: the locked handle, its names, position and records."""

    def __init__(self, path: Path, warcinfo_id: str) -> None:
        self.path = path
        self.final_name = path.name[: -len(OPEN_SUFFIX)]
        self.warcinfo_id = warcinfo_id
        self.records: list[WrittenRecord] = []
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.pos = 0


class RotatingWarcWriter:
    """Writes exchanges and resources into size-rotated WARC files in ``archive_dir``.

    Files are opened lazily on the first write; when a file reaches ``max_bytes`` after a write it
    is closed (so a record, or a response/request pair, is never split) and the next write opens a
    new one with a new warcinfo record. ``on_close(final_path, records)`` is called after each
    file is renamed; ``records`` are the records written to it, warcinfo excluded. The writer may
    be used again after ``close()``: the next write opens a new file.
    """

    def __init__(
        self,
        archive_dir: Path,
        *,
        max_bytes: int,
        warcinfo: dict[str, str],
        prefix: str = "MH",
        compression: str = DEFAULT_COMPRESSION,
        on_close: Callable[[Path, list[WrittenRecord]], None] | None = None,
    ) -> None:
        self.archive_dir = Path(archive_dir)
        self.max_bytes = max_bytes
        self.warcinfo = dict(warcinfo)
        header_lines(list(self.warcinfo.items()))  # fail now, not at the first write
        self.prefix = prefix
        self._compressor = gzip_compressor(compression)
        self.on_close = on_close
        self._serial = 0
        self._file: _OpenFile | None = None
        self._lock = threading.RLock()

    # -- public API ---------------------------------------------------------------------------

    @staticmethod
    def payload_digest(body: bytes) -> str:
        """The ``WARC-Payload-Digest`` value for an entity body."""
        return sha256_digest(body)

    @property
    def current_path(self) -> Path | None:
        """The ``.open`` file being written, if any."""
        return self._file.path if self._file else None

    def write_exchange(
        self,
        ex: HttpExchange,
        *,
        record_id: str | None = None,
        revisit_of: RevisitOf | None = None,
        payload_digest: str | None = None,
    ) -> tuple[WrittenRecord, WrittenRecord]:
        """Write a response (or a revisit) record and its request record, in that order.

        A revisit stores only the HTTP headers; ``ex.body`` must still be the body received, and
        its digest must equal ``revisit_of.payload_digest`` (ValueError otherwise).
        ``payload_digest``: ``payload_digest(ex.body)`` when the caller has it already.
        """
        date = _aware(ex.date, "HttpExchange.date")
        resp_id = bracket_id(record_id) if record_id else self._new_id()
        req_id = self._new_id()
        headers = consistent_response_headers(ex)
        http_head = encode_header_text(status_line(ex)) + CRLF + header_lines(headers) + CRLF
        not_modified = revisit_of is not None and revisit_of.profile == NOT_MODIFIED_PROFILE
        # a 304 revisit carries the original's payload digest (the server says: unchanged)
        if not_modified:
            digest = revisit_of.payload_digest
        else:
            digest = payload_digest or self.payload_digest(ex.body)
        common = [("WARC-Date", warc_date(date)), ("WARC-Target-URI", ex.url)]
        if ex.ip_address:
            common.append(("WARC-IP-Address", ex.ip_address))
        if revisit_of is not None:
            if not not_modified and digest != revisit_of.payload_digest:
                raise ValueError(
                    f"revisit of {revisit_of.target_uri}: body digest {digest} differs from "
                    f"the original's {revisit_of.payload_digest}; write a response instead"
                )
            rtype, block = "revisit", [http_head]
            extra = [
                ("WARC-Profile", revisit_of.profile),
                ("WARC-Refers-To-Target-URI", revisit_of.target_uri),
                ("WARC-Refers-To-Date", warc_date(_aware(revisit_of.target_date, "target_date"))),
            ]
        else:
            rtype, block, extra = "response", [http_head, ex.body], []
        if ex.truncated:
            extra.append(("WARC-Truncated", ex.truncated))
        req_block = [request_head(ex), ex.request_body]
        with self._lock:
            f = self._ensure_open()
            resp_fields = [("WARC-Type", rtype), ("WARC-Record-ID", resp_id), *common,
                           ("WARC-Warcinfo-ID", f.warcinfo_id), ("WARC-Concurrent-To", req_id),
                           *extra, ("WARC-Payload-Digest", digest)]
            req_fields = [("WARC-Type", "request"), ("WARC-Record-ID", req_id), *common,
                          ("WARC-Warcinfo-ID", f.warcinfo_id), ("WARC-Concurrent-To", resp_id)]
            resp_loc = self._write_record(f, resp_fields, "application/http; msgtype=response",
                                          block)
            req_loc = self._write_record(f, req_fields, "application/http; msgtype=request",
                                         req_block)
            mime = mime_of(headers)
            resp = WrittenRecord(resp_id, rtype, ex.url, date, resp_loc, digest, ex.status, mime)
            req = WrittenRecord(req_id, "request", ex.url, date, req_loc, None, None, None)
            f.records += [resp, req]
            self._after_write(f)
        return resp, req

    def write_resource(
        self,
        uri: str,
        content_type: str,
        data: bytes,
        date: datetime,
        *,
        concurrent_to: str | None = None,
    ) -> WrittenRecord:
        """Write a resource record (a screenshot, a rendered DOM)."""
        date = _aware(date, "date")
        rid = self._new_id()
        digest = sha256_digest(data)
        with self._lock:
            f = self._ensure_open()
            fields = [("WARC-Type", "resource"), ("WARC-Record-ID", rid),
                      ("WARC-Date", warc_date(date)), ("WARC-Target-URI", uri),
                      ("WARC-Warcinfo-ID", f.warcinfo_id)]
            if concurrent_to:
                fields.append(("WARC-Concurrent-To", bracket_id(concurrent_to)))
            fields.append(("WARC-Payload-Digest", digest))
            loc = self._write_record(f, fields, content_type, [data])
            rec = WrittenRecord(rid, "resource", uri, date, loc, digest, None, content_type)
            f.records.append(rec)
            self._after_write(f)
        return rec

    def close(self) -> None:
        """Flush, fsync and rename the current file (if any), then call ``on_close``."""
        with self._lock:
            f, self._file = self._file, None
        if f is None:
            return
        final = f.path.with_name(f.final_name)
        try:
            f.handle.flush()
            os.fsync(f.handle.fileno())
            os.rename(f.path, final)
            fsync_dir(final.parent)
        finally:
            f.handle.close()
        log.info("closed %s (%d records, %d bytes)", final.name, len(f.records), f.pos)
        if self.on_close is not None:
            self.on_close(final, list(f.records))

    def __enter__(self) -> RotatingWarcWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    def _new_id(self) -> str:
        return new_record_id()

    def _ensure_open(self) -> _OpenFile:
        if self._file is not None:
            return self._file
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        now = utcnow()
        name = (f"{self.prefix}-{now.strftime('%Y%m%d%H%M%S%f')}-{os.getpid()}-"
                f"{self._serial:05d}{WARC_SUFFIX}{OPEN_SUFFIX}")
        self._serial += 1
        f = _OpenFile(self.archive_dir / name, self._new_id())
        fields, body = _warcinfo_record(f.final_name, self.warcinfo, f.warcinfo_id, now)
        self._write_record(f, fields, "application/warc-fields", [body])
        self._file = f
        log.debug("opened %s", f.path)
        return f

    def _write_record(self, f: _OpenFile, fields: list[tuple[str, str]], content_type: str,
                      block: list[bytes]) -> RecordLocation:
        member = _member(self._compressor(), fields, content_type, block)
        offset = f.pos
        for piece in member:
            if piece:
                f.handle.write(piece)
                f.pos += len(piece)
        return RecordLocation(f.final_name, offset, f.pos - offset)

    def _after_write(self, f: _OpenFile) -> None:
        f.handle.flush()
        if f.pos >= self.max_bytes:
            self.close()


def _member(comp: Any, fields: list[tuple[str, str]], content_type: str,
            block: list[bytes]) -> list[bytes]:
    """One record as the pieces of its gzip member (Block-Digest, type and length added)."""
    length = sum(len(part) for part in block)
    fields = [*fields, ("WARC-Block-Digest", sha256_digest(*block)),
              ("Content-Type", content_type), ("Content-Length", str(length))]
    head = b"WARC/1.1\r\n" + header_lines(fields) + CRLF
    member = [comp.compress(head)]
    member += [comp.compress(part) for part in block]
    member += [comp.compress(CRLF + CRLF), comp.flush()]
    return member


def _warcinfo_record(filename: str, warcinfo: dict[str, str], record_id: str, when: datetime
                     ) -> tuple[list[tuple[str, str]], bytes]:
    info = dict(warcinfo)
    info.setdefault("format", "WARC File Format 1.1")
    fields = [("WARC-Type", "warcinfo"), ("WARC-Record-ID", record_id),
              ("WARC-Date", warc_date(when)), ("WARC-Filename", filename)]
    return fields, header_lines(list(info.items()))


def warcinfo_member(filename: str, warcinfo: dict[str, str], *,
                    compression: str = DEFAULT_COMPRESSION) -> bytes:
    """A gzip member holding a warcinfo record for ``filename`` (to start a WARC that is
    assembled from records copied byte for byte, such as an export)."""
    fields, body = _warcinfo_record(filename, warcinfo, new_record_id(), utcnow())
    return b"".join(_member(gzip_compressor(compression)(), fields, "application/warc-fields",
                            [body]))


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in ``path`` durable (fsync the folder)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
