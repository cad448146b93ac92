"""Read a WARC file member by member, trusting nothing: the scanning half of ``memoryhole check``.

``warcio check`` drops a torn last gzip member silently and does not compare an HTTP
``Content-Length`` with the body (NOTES.md "WARC"). So each gzip member is inflated here with
zlib, which sees a member that ends early; each member's record is then read with warcio's
``ArchiveIterator(check_digests=True)`` and drained; revisit block digests (which warcio skips)
and HTTP lengths are checked here. A damaged member does not hide the rest of the file: the scan
resynchronises on the next gzip header that starts a readable WARC record.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archive.warc.files import OPEN_SUFFIX
from archive.warc.records import VANTAGE_CONTROL_FIELD, VANTAGE_FIELD, indexed_vantage

log = logging.getLogger(__name__)

CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b\x08"


@dataclass(frozen=True)
class ScannedRecord:
    """One record found in a WARC: where it is and what the index and catalogue need."""

    offset: int
    length: int
    record_type: str
    record_id: str
    url: str | None
    warc_date: str | None
    payload_digest: str | None
    status: int | None
    content_type: str | None
    vantage: str | None = None        # WARC-Memoryhole-Vantage: fetched from a vantage point


@dataclass(frozen=True)
class Finding:
    """Something wrong in one file; ``offset`` is the member it was found in."""

    kind: str
    offset: int
    detail: str


@dataclass
class FileScan:
    """The result of reading one WARC file."""

    path: Path
    size: int
    records: list[ScannedRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    good_end: int = 0
    torn_at: int | None = None

    @property
    def final_name(self) -> str:
        return self.path.name.removesuffix(OPEN_SUFFIX)


@dataclass(frozen=True)
class _Member:
    offset: int
    length: int
    data: bytes | None
    error: str | None


def iter_members(fh: BinaryIO) -> Iterator[_Member]:
    """Every gzip member of ``fh``: whole ones with their data, damaged ones with an error.

    A member cut short by the end of the file is reported as ``torn`` and ends the iteration.
    A corrupt member (bad deflate data, bad CRC, not gzip) is reported, then the scan resumes at
    the next offset where a gzip member holding a WARC record starts.
    """
    reader = _Feeder(fh)
    while True:
        start = reader.pos
        d = zlib.decompressobj(31)
        out: list[bytes] = []
        error = None
        while not d.eof:
            piece = reader.peek()
            if not piece:
                break
            try:
                out.append(d.decompress(piece))
            except zlib.error as exc:
                error = str(exc)
                break
            reader.advance(len(piece) - len(d.unused_data))
        if error is None and d.eof:
            yield _Member(start, reader.pos - start, b"".join(out), None)
        elif error is None:
            if reader.pos > start:
                yield _Member(start, reader.pos - start, None, "torn")
            return
        else:
            resume = _resync(fh, start + 1)
            end = resume if resume is not None else _size(fh)
            yield _Member(start, end - start, None, error)
            if resume is None:
                return
            reader.seek(resume)


class _Feeder:
    """Hands out small slices of a file so that zlib's ``unused_data`` copies stay small."""

    FEED = 16384

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.seek(0)

    def seek(self, pos: int) -> None:
        self.fh.seek(pos)
        self.pos = pos
        self.buf = memoryview(b"")
        self.i = 0

    def peek(self) -> memoryview:
        if self.i >= len(self.buf):
            self.buf = memoryview(self.fh.read(CHUNK))
            self.i = 0
        return self.buf[self.i:self.i + self.FEED]

    def advance(self, n: int) -> None:
        self.i += n
        self.pos += n


def _size(fh: BinaryIO) -> int:
    return fh.seek(0, io.SEEK_END)


def _resync(fh: BinaryIO, pos: int) -> int | None:
    """The next offset >= pos where a gzip member that inflates to ``WARC/`` begins."""
    while True:
        fh.seek(pos)
        window = fh.read(CHUNK)
        if not window:
            return None
        hit = window.find(GZIP_MAGIC)
        if hit < 0:
            pos += max(1, len(window) - len(GZIP_MAGIC) + 1)
            continue
        cand = pos + hit
        fh.seek(cand)
        try:
            head = zlib.decompressobj(31).decompress(fh.read(65536), 16)
        except zlib.error:
            head = b""
        if head.startswith(b"WARC/"):
            return cand
        pos = cand + 1


def _zero_tail(fh: BinaryIO, member: _Member, size: int) -> bool:
    """Is this unreadable region the end of the file and nothing but zero bytes?"""
    if member.offset + member.length != size:
        return False
    fh.seek(member.offset)
    left = member.length
    while left > 0:
        block = fh.read(min(CHUNK, left))
        if not block or block.count(0) != len(block):
            return False
        left -= len(block)
    return True


def digest_matches(value: str, *parts: bytes) -> bool | None:
    """Does a ``algo:value`` digest match the data? None when the algorithm is unknown."""
    algo, _, encoded = value.strip().partition(":")
    try:
        h = hashlib.new(algo.lower().replace("-", ""))
    except ValueError:
        return None
    for part in parts:
        h.update(part)
    raw = h.digest()
    b32 = base64.b32encode(raw).decode("ascii")
    return encoded.strip().rstrip("=").upper() in (b32.rstrip("="), raw.hex().upper()) or (
        encoded.strip() == base64.b64encode(raw).decode("ascii")
    )


def scan_warc(path: Path) -> FileScan:
    """Read every member and record of one WARC file."""
    with open(path, "rb") as fh:
        scan = FileScan(path=path, size=_size(fh))
        for member in iter_members(fh):
            if member.error == "torn":
                scan.torn_at = member.offset
                scan.findings.append(Finding(
                    "torn-gzip", member.offset,
                    f"last gzip member at offset {member.offset} is cut short "
                    f"({member.length} of its bytes are present, the file ends)"))
            elif member.error is not None and _zero_tail(fh, member, scan.size):
                scan.torn_at = member.offset
                scan.findings.append(Finding(
                    "torn-gzip", member.offset,
                    f"the file ends with {member.length} zero bytes from offset "
                    f"{member.offset} (space allocated, never written: a crash)"))
            elif member.error is not None:
                scan.findings.append(Finding(
                    "gzip-corrupt", member.offset,
                    f"unreadable gzip data at offset {member.offset}, {member.length} bytes "
                    f"({member.error})"))
            else:
                assert member.data is not None
                _scan_records(scan, member.offset, member.length, member.data)
                if scan.torn_at is None:
                    scan.good_end = member.offset + member.length
    return scan


def _scan_records(scan: FileScan, offset: int, length: int, data: bytes) -> None:
    if not data.startswith(b"WARC/"):
        scan.findings.append(Finding("warc-parse", offset, "gzip member is not a WARC record"))
        return
    try:
        it = ArchiveIterator(io.BytesIO(data), check_digests=True)
        for rec in it:
            payload = _drain(rec.raw_stream)
            scan.records.append(_record_info(rec, offset, length))
            _check_record(scan, rec, offset, data, payload)
    except (ArchiveLoadFailed, ValueError, EOFError) as exc:
        scan.findings.append(Finding("warc-parse", offset, f"cannot parse record: {exc}"))


def _drain(stream: BinaryIO) -> bytes:
    parts = []
    while piece := stream.read(CHUNK):
        parts.append(piece)
    return b"".join(parts)


def _record_info(rec: object, offset: int, length: int) -> ScannedRecord:
    h = rec.rec_headers  # type: ignore[attr-defined]
    rtype = rec.rec_type  # type: ignore[attr-defined]
    http = rec.http_headers  # type: ignore[attr-defined]
    status = None
    ctype = h.get_header("Content-Type")
    if http is not None and rtype in ("response", "revisit"):
        code = http.get_statuscode()
        status = int(code) if code and code.isdigit() else None
        ctype = http.get_header("Content-Type")
    return ScannedRecord(
        offset=offset, length=length, record_type=rtype,
        record_id=h.get_header("WARC-Record-ID") or "",
        url=h.get_header("WARC-Target-URI"), warc_date=h.get_header("WARC-Date"),
        payload_digest=h.get_header("WARC-Payload-Digest"), status=status, content_type=ctype,
        vantage=indexed_vantage(h.get_header(VANTAGE_FIELD),
                                h.get_header(VANTAGE_CONTROL_FIELD)),
    )


def _check_record(scan: FileScan, rec: object, offset: int, data: bytes,
                  payload: bytes) -> None:
    h = rec.rec_headers  # type: ignore[attr-defined]
    rtype = rec.rec_type  # type: ignore[attr-defined]
    rid = h.get_header("WARC-Record-ID")
    checker = rec.digest_checker  # type: ignore[attr-defined]
    if checker.passed is False:
        scan.findings.append(Finding(
            "digest", offset, f"{rtype} {rid}: " + "; ".join(checker.problems)))
    if rtype == "revisit" and h.get_header("WARC-Block-Digest"):
        block = _block_of(data, h.get_header("Content-Length"))
        if block is not None and digest_matches(h.get_header("WARC-Block-Digest"),
                                                block) is False:
            scan.findings.append(Finding(
                "digest", offset, f"revisit {rid}: block digest does not match"))
    http = rec.http_headers  # type: ignore[attr-defined]
    if rtype != "response" or http is None or h.get_header("WARC-Truncated"):
        return
    if http.get_header("Transfer-Encoding"):
        return
    declared = [v.strip() for n, v in http.headers if n.lower() == "content-length"]
    code = http.get_statuscode() or ""
    if not payload and (code.startswith("1") or code in ("204", "304")):
        return
    bad = [v for v in declared if v != str(len(payload))]
    if bad:
        scan.findings.append(Finding(
            "length-mismatch", offset,
            f"response {rid} for {h.get_header('WARC-Target-URI')}: HTTP Content-Length "
            f"{', '.join(bad)} but the stored body has {len(payload)} bytes"))


def _block_of(data: bytes, content_length: str | None) -> bytes | None:
    end = data.find(b"\r\n\r\n")
    try:
        size = int(content_length or "")
    except ValueError:
        return None
    return data[end + 4:end + 4 + size] if end >= 0 else None
