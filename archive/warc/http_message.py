"""HTTP messages as memoryhole stores them in WARC records: the exchange as sent and received,
and the bytes of its request and response heads.

How the stored HTTP response is made self-consistent (the body given is de-chunked and still
content-encoded, as the client received it):

- a ``Transfer-Encoding`` header is dropped (the chunk framing is gone from the body) and kept as
  ``X-Memoryhole-Original-Transfer-Encoding``;
- no ``Content-Length``: ``Content-Length: len(body)`` is added after the other headers;
- a ``Content-Length`` that disagrees with ``len(body)`` is set to ``len(body)`` in place and the
  value the server sent is kept as ``X-Memoryhole-Original-Content-Length`` -- unless the
  exchange is ``truncated``: then the server's value stays (``WARC-Truncated`` tells readers the
  body is short);
- responses that have no body by definition (1xx, 204, 304 with an empty body) are left alone.

Every other header is written exactly as given, in order, duplicates kept. Header text is encoded
as latin-1 (so raw header bytes decoded as latin-1 come back byte for byte), or UTF-8 where a
character is outside latin-1.
"""

from __future__ import annotations

import http
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

ORIGINAL_CL_HEADER = "X-Memoryhole-Original-Content-Length"
ORIGINAL_TE_HEADER = "X-Memoryhole-Original-Transfer-Encoding"
CRLF = b"\r\n"


@dataclass
class HttpExchange:
    """One HTTP request and its response, as sent and as received."""

    url: str
    status: int
    response_headers: list[tuple[str, str]]
    body: bytes
    date: datetime
    method: str = "GET"
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: bytes = b""
    http_version: str = "HTTP/1.1"
    reason: str = ""
    ip_address: str | None = None
    truncated: str | None = None
    # the server's certificates as the client saw them (DER, leaf first; empty for http): the
    # leaf on Scrapy's path, the verified chain on the fast path
    peer_certificates: tuple[bytes, ...] = ()
    vantage: str | None = None      # re-checked from this [[vantage]] (through its proxy)
    vantage_is_control: bool = False   # ... which is the control (``control = true``)


def encode_header_text(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """``Name: value`` lines, each latin-1 (UTF-8 where latin-1 cannot hold it)."""
    text = "".join([f"{name}: {value}\r\n" for name, value in headers])
    if text.count("\n") == text.count("\r") == len(headers):     # no line break in a header
        try:
            return text.encode("latin-1")          # every line latin-1: the same bytes at once
        except UnicodeEncodeError:
            pass
    out = []
    for name, value in headers:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"line break in header {name!r}: {value!r}")
        out.append(encode_header_text(f"{name}: {value}") + CRLF)
    return b"".join(out)


def find_headers(headers: list[tuple[str, str]], name: str) -> list[int]:
    lname = name.lower()
    return [i for i, (n, _) in enumerate(headers) if n.strip().lower() == lname]


def first_header(headers: list[tuple[str, str]], name: str) -> str | None:
    found = find_headers(headers, name)
    return headers[found[0]][1] if found else None


def consistent_response_headers(ex: HttpExchange) -> list[tuple[str, str]]:
    """The response headers to store for ``ex`` (rules in the module docstring)."""
    headers = list(ex.response_headers)
    extra: list[tuple[str, str]] = []
    te = find_headers(headers, "Transfer-Encoding")
    if te:
        extra += [(ORIGINAL_TE_HEADER, headers[i][1]) for i in te]
        headers = [h for i, h in enumerate(headers) if i not in set(te)]
    if not ex.body and (100 <= ex.status < 200 or ex.status in (204, 304)):
        return headers + extra
    size = str(len(ex.body))
    cl = find_headers(headers, "Content-Length")
    if not cl:
        headers.append(("Content-Length", size))
    elif ex.truncated is None and any(headers[i][1].strip() != size for i in cl):
        extra += [(ORIGINAL_CL_HEADER, headers[i][1]) for i in cl]
        headers[cl[0]] = (headers[cl[0]][0], size)
        headers = [h for i, h in enumerate(headers) if i not in set(cl[1:])]
    return headers + extra


def status_line(ex: HttpExchange) -> str:
    reason = ex.reason
    if not reason:
        try:
            reason = http.HTTPStatus(ex.status).phrase
        except ValueError:
            reason = ""
    return f"{ex.http_version} {ex.status} {reason}"


# Request headers that carry the proxy's secret, never the site's business: never archived.
PROXY_SECRET_HEADERS = ("proxy-authorization",)


def request_head(ex: HttpExchange) -> bytes:
    """``GET /path?query HTTP/1.1`` and the headers as sent, with a Host header ensured and
    the proxy's credentials (``PROXY_SECRET_HEADERS``) left out."""
    parts = urlsplit(ex.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = [(name, value) for name, value in ex.request_headers
               if name.lower() not in PROXY_SECRET_HEADERS]
    if not find_headers(headers, "Host"):
        host = parts.netloc.rpartition("@")[2]
        headers.insert(0, ("Host", host))
    if ex.request_body and not find_headers(headers, "Content-Length"):
        headers.append(("Content-Length", str(len(ex.request_body))))
    line = encode_header_text(f"{ex.method} {target} {ex.http_version}") + CRLF
    return line + header_lines(headers) + CRLF


def mime_of(headers: list[tuple[str, str]]) -> str | None:
    return first_header(headers, "Content-Type")
