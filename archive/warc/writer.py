"""WARC 1.1 writing: gzip-per-record files that rotate by size (DESIGN.md "WARC records").

Records are assembled as bytes (archive.warc.records) rather than with warcio's writer, which
hard-codes gzip level 9 (too slow for a crawl: NOTES.md).

The HTTP messages themselves are made by archive.warc.http_message (how a stored response is made
self-consistent, how header text is encoded).

A file is ``<prefix>-<YYYYmmddHHMMSSffffff>-<pid>-<serial>.warc.gz.open`` while written, and the
writer holds ``fcntl.flock(LOCK_EX)`` on it for its lifetime: ``check --repair`` skips files it
cannot lock. ``close()`` fsyncs it and renames it without ``.open``; a name already taken, as
``.open`` or final, is never reused nor overwritten (the next serial is taken at open; a final
name that appeared meanwhile leaves the file ``.open``).

After a failed write (a full disk) the file may end in a torn record: it is never renamed, the
writer refuses further writes, and ``check --repair`` cuts it back to its last whole record.
:meth:`RotatingWarcWriter.sync` makes every whole record durable, file and folder entry, before
a caller commits rows that point at them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from archive.timeutil import utcnow, warc_date
from archive.urlnorm import origin_of
from archive.warc.files import (
    OPEN_SUFFIX,
    WARC_SUFFIX,
    WarcWriteError,
    fsync_dir,
    rename_no_replace,
)
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
from archive.warc.records import (
    CERTIFICATE_FIELD,
    DEFAULT_COMPRESSION,
    NOT_MODIFIED_PROFILE,
    VANTAGE_CONTROL_FIELD,
    VANTAGE_FIELD,
    RecordLocation,
    RevisitOf,
    WrittenRecord,
    bracket_id,
    certificate_sha256,
    certificates_pem,
    gzip_compressor,
    indexed_vantage,
    new_record_id,
    record_member,
    sha256_digest,
    warcinfo_fields,
)

__all__ = ["RotatingWarcWriter"]

log = logging.getLogger(__name__)



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
        self.certified: set[str] = set()          # origins whose certificates are in the file
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self.handle: BinaryIO = os.fdopen(fd, "wb")
        fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.pos = 0
        self.broken: WarcWriteError | None = None    # a write failed: never renamed
        self.synced = False                          # every byte written is on disk
        self.entry_synced = False                    # the folder entry is on disk


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
        self._deferred: BaseException | None = None     # on_close failed during a rotation

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
        if ex.ip_address:               # the server's: never a proxy's (its exchanges have none)
            common.append(("WARC-IP-Address", ex.ip_address))
        if ex.vantage:
            common.append((VANTAGE_FIELD, ex.vantage))
            if ex.vantage_is_control:
                common.append((VANTAGE_CONTROL_FIELD, "true"))
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
            resp = WrittenRecord(resp_id, rtype, ex.url, date, resp_loc, digest, ex.status, mime,
                                 indexed_vantage(ex.vantage, ex.vantage_is_control))
            req = WrittenRecord(req_id, "request", ex.url, date, req_loc, None, None, None)
            f.records += [resp, req]
            origin = origin_of(ex.url) or ex.url
            if ex.peer_certificates and origin not in f.certified:
                f.certified.add(origin)
                f.records.append(self._write_certificates(f, ex, date, resp_id))
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
        vantage: str | None = None,
        vantage_is_control: bool = False,
    ) -> WrittenRecord:
        """Write a resource record (a screenshot, a rendered DOM), made at ``vantage``."""
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
            if vantage:
                fields.append((VANTAGE_FIELD, vantage))
                if vantage_is_control:
                    fields.append((VANTAGE_CONTROL_FIELD, "true"))
            fields.append(("WARC-Payload-Digest", digest))
            loc = self._write_record(f, fields, content_type, [data])
            rec = WrittenRecord(rid, "resource", uri, date, loc, digest, None, content_type,
                                indexed_vantage(vantage, vantage_is_control))
            f.records.append(rec)
            self._after_write(f)
        return rec

    def sync(self) -> None:
        """Make every whole record written so far durable: the open file's bytes and its folder
        entry are fsynced (closed files were at their close). Call before committing rows that
        point at records. Raises :class:`WarcWriteError` if the disk refuses."""
        with self._lock:
            f = self._file
            if f is None or (f.synced and f.entry_synced):
                return
            with self._guard(f):
                if f.broken is None:
                    f.handle.flush()
                os.fsync(f.handle.fileno())
                if not f.entry_synced:
                    fsync_dir(f.path.parent)
            f.synced = f.entry_synced = True

    def close(self) -> None:
        """Flush, fsync and rename the current file (if any), then call ``on_close``.

        A file a write failed on is closed and left ``.open`` instead; a final name another file
        took meanwhile leaves it ``.open`` too (an error is logged and raised)."""
        with self._lock:
            f, self._file = self._file, None
            deferred, self._deferred = self._deferred, None
        if f is None:
            if deferred is not None:
                raise deferred
            return
        if f.broken is not None:
            try:
                f.handle.close()
            except OSError:
                pass                     # the torn tail is for check --repair
            log.warning("left %s open: %s; `memoryhole check --repair` cuts it back to its "
                        "last whole record", f.path.name, f.broken.strerror)
            raise f.broken
        final = f.path.with_name(f.final_name)
        try:
            with self._guard(f):
                f.handle.flush()
                os.fsync(f.handle.fileno())
            try:
                rename_no_replace(f.path, final)
            except FileExistsError:
                log.error("left %s open: %s exists already (another file took its name; "
                          "compare them)", f.path.name, final.name)
                raise
            fsync_dir(final.parent)
        finally:
            try:
                f.handle.close()
            except OSError:
                pass
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
        if self._deferred is not None:          # a rotation's on_close failed: say so now
            deferred, self._deferred = self._deferred, None
            raise deferred
        if self._file is not None:
            if self._file.broken is not None:
                raise self._file.broken
            return self._file
        self.archive_dir.mkdir(parents=True, exist_ok=True)
        now = utcnow()
        while True:
            final = (f"{self.prefix}-{now.strftime('%Y%m%d%H%M%S%f')}-{os.getpid()}-"
                     f"{self._serial:05d}{WARC_SUFFIX}")
            self._serial += 1
            if (self.archive_dir / final).exists():
                log.warning("%s exists already: taking the next name", final)
                continue
            try:
                f = _OpenFile(self.archive_dir / (final + OPEN_SUFFIX), self._new_id())
            except FileExistsError:
                log.warning("%s%s exists already: taking the next name", final, OPEN_SUFFIX)
                continue
            break
        self._file = f
        fields, body = warcinfo_fields(f.final_name, self.warcinfo, f.warcinfo_id, now)
        self._write_record(f, fields, "application/warc-fields", [body])
        log.debug("opened %s", f.path)
        return f

    @contextmanager
    def _guard(self, f: _OpenFile) -> Iterator[None]:
        """A failed write or flush marks ``f`` broken and is raised as WarcWriteError."""
        try:
            yield
        except WarcWriteError:
            raise
        except OSError as exc:
            f.broken = WarcWriteError(exc, f.path)
            raise f.broken from exc

    def _write_record(self, f: _OpenFile, fields: list[tuple[str, str]], content_type: str,
                      block: list[bytes]) -> RecordLocation:
        member = record_member(self._compressor(), fields, content_type, block)
        offset = f.pos
        f.synced = False
        with self._guard(f):
            for piece in member:
                if piece:
                    f.handle.write(piece)
                    f.pos += len(piece)
        return RecordLocation(f.final_name, offset, f.pos - offset)

    def _write_certificates(self, f: _OpenFile, ex: HttpExchange, date: datetime,
                            response_id: str) -> WrittenRecord:
        """The server's certificates (PEM, leaf first) as a metadata record concurrent to the
        first response from its origin in this file, with the leaf's SHA-256 fingerprint."""
        rid = self._new_id()
        block = certificates_pem(ex.peer_certificates)
        fields = [("WARC-Type", "metadata"), ("WARC-Record-ID", rid),
                  ("WARC-Date", warc_date(date)), ("WARC-Target-URI", ex.url),
                  ("WARC-Warcinfo-ID", f.warcinfo_id), ("WARC-Concurrent-To", response_id),
                  (CERTIFICATE_FIELD, certificate_sha256(ex.peer_certificates))]
        loc = self._write_record(f, fields, "application/x-pem-file", [block])
        return WrittenRecord(rid, "metadata", ex.url, date, loc, None, None,
                             "application/x-pem-file")

    def _after_write(self, f: _OpenFile) -> None:
        with self._guard(f):
            f.handle.flush()
        if f.pos >= self.max_bytes:
            try:
                self.close()
            except WarcWriteError:
                raise
            except Exception as exc:   # noqa: BLE001 - on_close (the index): the records are
                self._deferred = exc   # written and returned; the next write or close raises

