"""Scrapy's HttpCompressionMiddleware, without two costs it has on every compressed page.

- ``Response.replace()``, which the middleware uses to make the decoded response, reads every
  attribute of the old one, a TextResponse's ``encoding`` too: when the Content-Type names no
  charset, that runs charset detection over the still-compressed bytes, thrown away. The
  compressed response is handed to it as a plain Response; the middleware picks the response
  class again after decoding.
- Scrapy's ``gunzip`` reads through ``gzip.GzipFile`` in Python, 8 KB at a time. A whole gzip
  body is decoded here with one bounded ``zlib`` call per member; anything unusual (a cut or
  corrupt member, trailing bytes, a body past ``DOWNLOAD_MAXSIZE``) goes to Scrapy's own
  ``gunzip``, so limits, errors and the salvage of damaged bodies stay exactly Scrapy's.

Everything else (which encodings, the size limits, the warnings, the stats) is the parent's.
"""

from __future__ import annotations

import zlib

from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.http import Response, TextResponse

GZIP_MAGIC = b"\x1f\x8b"


def untyped(response: Response) -> Response:
    """A content-encoded TextResponse as a plain Response (no encoding to guess yet)."""
    if isinstance(response, TextResponse) and b"Content-Encoding" in response.headers:
        return Response(**{name: getattr(response, name) for name in Response.attributes})
    return response


def gunzip_whole(data: bytes, max_size: int) -> bytes | None:
    """The gzip members of ``data``, decoded; None when they are not all whole and valid or
    decode to more than ``max_size`` bytes (0: no limit)."""
    out: list[bytes] = []
    size = 0
    while True:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = member.decompress(data, max_size - size + 1 if max_size else 0)
        except zlib.error:
            return None
        size += len(chunk)
        if not member.eof or (max_size and size > max_size):
            return None
        out.append(chunk)
        data = member.unused_data
        if not data:
            return b"".join(out)
        if not data.startswith(GZIP_MAGIC):
            return None


class DecompressionMiddleware(HttpCompressionMiddleware):
    def process_response(self, request: Request, response: Response) -> Request | Response:
        return super().process_response(request, untyped(response))

    @staticmethod
    def _decode(body: bytes, encoding: bytes, max_size: int) -> bytes:
        if encoding in (b"gzip", b"x-gzip"):
            decoded = gunzip_whole(body, max_size)
            if decoded is not None:
                return decoded
        return HttpCompressionMiddleware._decode(body, encoding, max_size)
