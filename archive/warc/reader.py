"""Read archived HTTP responses back from the WARCs by their catalogue location.

Used to compare a new capture with the previous one (full text extraction only when the cheap
fingerprint changed) and by commands that show archived content. Content-Encoding is decoded here
with a hard output limit, so an archived decompression bomb cannot exhaust memory.
"""

from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import brotli

if sys.version_info >= (3, 14):
    from compression import zstd
else:                                   # the backport Scrapy itself decodes zstd with
    from backports import zstd
from warcio.archiveiterator import ArchiveIterator

from archive.home import Home

DEFAULT_DECODED_LIMIT = 64 * 1024 * 1024


class RecordNotFound(LookupError):
    """The catalogue points at a WARC record that is not there."""


@dataclass(frozen=True)
class ArchivedResponse:
    url: str
    record_type: str
    status: int | None
    headers: list[tuple[str, str]]
    body: bytes                      # entity body as stored (still content-encoded)

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    def decoded_body(self, limit: int = DEFAULT_DECODED_LIMIT) -> bytes:
        return decode_content(self.body, self.header("Content-Encoding"), limit)


def warc_path(home: Home, collection: str, filename: str) -> Path:
    """The file a catalogue row names, or its ``.open`` twin while it is still being written."""
    path = home.archive_dir(collection) / Path(filename).name
    if not path.exists():
        open_path = path.with_name(path.name + ".open")
        if open_path.exists():
            return open_path
        raise RecordNotFound(
            f"{path} is missing; run: memoryhole --home {home.root} check"
        )
    return path


def read_response(home: Home, collection: str, filename: str, offset: int) -> ArchivedResponse:
    """The response (or revisit / resource) record at ``offset`` of a WARC in ``collection``."""
    path = warc_path(home, collection, filename)
    with open(path, "rb") as handle:
        handle.seek(offset)
        for record in ArchiveIterator(handle):
            status = None
            headers: list[tuple[str, str]] = []
            if record.http_headers is not None:
                headers = list(record.http_headers.headers)
                code = record.http_headers.get_statuscode()
                status = int(code) if code and code.isdigit() else None
            elif record.rec_headers.get_header("Content-Type"):
                headers = [("Content-Type", record.rec_headers.get_header("Content-Type"))]
            return ArchivedResponse(
                url=record.rec_headers.get_header("WARC-Target-URI") or "",
                record_type=record.rec_type,
                status=status,
                headers=headers,
                body=record.raw_stream.read(),
            )
    raise RecordNotFound(f"no record at {path}:{offset}; run: memoryhole --home {home.root} check")


def decode_content(body: bytes, encoding: str | None, limit: int = DEFAULT_DECODED_LIMIT) -> bytes:
    """Undo gzip / deflate / br / zstd (in the order they were applied), stopping at ``limit``
    bytes."""
    if not encoding:
        return body[:limit]
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, 16 + zlib.MAX_WBITS, limit)
        elif coding == "deflate":
            try:
                body = _inflate(body, zlib.MAX_WBITS, limit)
            except zlib.error:
                body = _inflate(body, -zlib.MAX_WBITS, limit)
        elif coding == "br":
            body = _unbrotli(body, limit)
        elif coding == "zstd":
            body = _unzstd(body, limit)
        elif coding != "identity":
            raise ValueError(f"unsupported Content-Encoding {coding!r}")
    return body


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    out = decompressor.decompress(data, limit)
    return out[:limit]


def _unbrotli(data: bytes, limit: int) -> bytes:
    decompressor = brotli.Decompressor()
    out = decompressor.process(data, output_buffer_limit=limit)
    return out[:limit]


def _unzstd(data: bytes, limit: int) -> bytes:
    """Every zstd frame of ``data``, decoded, up to ``limit`` bytes."""
    out = bytearray()
    while data and len(out) < limit:
        decompressor = zstd.ZstdDecompressor()
        out += decompressor.decompress(data, max_length=limit - len(out))
        if not decompressor.eof:
            break
        data = decompressor.unused_data
    return bytes(out[:limit])
