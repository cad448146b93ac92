"""A hostile site, served by the mock server (tests.support.mockserver) under ``/hostile/``:
decompression bombs in every encoding a crawler accepts, a huge feed, a sitemap index fanning
out to many sitemaps, sitemap indexes nested without end, and a gzip sitemap file that is a bomb.

Endpoints (``mib``: the inflated size of a bomb, default :data:`BOMB_MIB`):

- ``/hostile/bomb/<coding>?mib=N``: ``Content-Encoding: <coding>`` (gzip, deflate, br, zstd), a
  body of spaces after a small HTML head, ``N`` MiB once decoded, a few KB to 1 MB on the wire;
- ``/hostile/turns/<coding>``: the article of ``/plain/turns-<coding>`` at version 0, the bomb of
  that coding from version 1 on (``MockServer.set_version``): a page that turns hostile;
- ``/hostile/feed.xml?n=N&distinct=D``: RSS with ``N`` items linking to ``/articles/<i mod D>``
  (D: N unless given);
- ``/hostile/index.xml?n=N&urls=K``: a sitemap index of ``N`` sitemaps
  ``/hostile/sitemap/<i>.xml?urls=K``, each listing ``K`` articles of its own;
- ``/hostile/nested/<d>.xml``: a sitemap index listing ``/hostile/nested/<d+1>.xml``, for ever;
- ``/hostile/sitemap.xml.gz``: a gzip bomb served as a gzip file (no Content-Encoding).

Bombs are built once per server (a second or so for 1 GiB of brotli) without holding the inflated
bytes, and kept.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from typing import Any

import brotli

if sys.version_info >= (3, 14):
    from compression import zstd
else:
    from backports import zstd

CODINGS = ("gzip", "deflate", "br", "zstd")
BOMB_MIB = 1024
BOMB_HEAD = b"<!DOCTYPE html><html><head><title>bomb</title></head><body>"
_BLOCK = b" " * (1 << 20)
XML = "application/xml"


def _deflate_bomb(mib: int, wbits: int) -> bytes:
    """A deflate stream (``wbits`` 31: gzip, 15: zlib) of ``mib`` MiB of spaces; after a sync
    flush each further MiB compresses to the same bytes, which are repeated."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = comp.compress(BOMB_HEAD + _BLOCK) + comp.flush(zlib.Z_SYNC_FLUSH)
    steady = comp.compress(_BLOCK) + comp.flush(zlib.Z_SYNC_FLUSH)
    if comp.compress(_BLOCK) + comp.flush(zlib.Z_SYNC_FLUSH) != steady:
        raise RuntimeError("deflate output of repeated blocks is not periodic")
    body = first + steady * (mib - 1) + comp.flush()
    if wbits == 15:                      # zlib: header, stream, Adler-32 (big-endian)
        check = zlib.adler32(BOMB_HEAD + _BLOCK)
        for _ in range(mib - 1):
            check = zlib.adler32(_BLOCK, check)
        return b"\x78\xda" + body + check.to_bytes(4, "big")
    crc = zlib.crc32(BOMB_HEAD + _BLOCK)
    for _ in range(mib - 1):
        crc = zlib.crc32(_BLOCK, crc)
    size = (len(BOMB_HEAD) + mib * len(_BLOCK)) & 0xFFFFFFFF
    return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + body + crc.to_bytes(4, "little")
            + size.to_bytes(4, "little"))


def _streamed(process: Callable[[bytes], bytes], finish: Callable[[], bytes], mib: int) -> bytes:
    out = [process(BOMB_HEAD + _BLOCK)]
    out += [process(_BLOCK) for _ in range(mib - 1)]
    out.append(finish())
    return b"".join(out)


def build_bomb(coding: str, mib: int = BOMB_MIB) -> bytes:
    """A body in ``coding`` that decodes to :data:`BOMB_HEAD` and ``mib`` MiB of spaces."""
    if coding == "gzip":
        return _deflate_bomb(mib, 31)
    if coding == "deflate":
        return _deflate_bomb(mib, 15)
    if coding == "br":
        compressor = brotli.Compressor(quality=5)
        return _streamed(compressor.process, compressor.finish, mib)
    if coding == "zstd":
        compressor = zstd.ZstdCompressor(level=3)
        return _streamed(compressor.compress, compressor.flush, mib)
    raise ValueError(f"no bomb in {coding!r}")


def rss(base: str, count: int, distinct: int) -> bytes:
    items = "".join(f"<item><title>Regional digest {n}</title><link>{base}/articles/"
                    f"{n % distinct}</link><guid>{base}/items/{n}</guid></item>\n"
                    for n in range(count))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            f"<title>Hostile feed</title><link>{base}/</link><description>{count} items"
            f"</description>\n{items}</channel></rss>\n").encode()


def urlset(locs: list[str]) -> bytes:
    urls = "".join(f"<url><loc>{loc}</loc></url>\n" for loc in locs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns='
            f'"http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n').encode()


def sitemapindex(locs: list[str]) -> bytes:
    maps = "".join(f"<sitemap><loc>{loc}</loc></sitemap>\n" for loc in locs)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns='
            f'"http://www.sitemaps.org/schemas/sitemap/0.9">\n{maps}</sitemapindex>\n').encode()


def serve(handler: Any, name: str, query: dict[str, str], article: Callable[[str], bytes]) -> None:
    """Answer ``/hostile/<name>`` on the mock server's ``handler`` (its ``server.state`` caches
    what is built); ``article(name)`` is the plain article page of that name."""
    state = handler.server.state
    base = handler.server.base
    kind, _, rest = name.partition("/")
    mib = min(int(query.get("mib", BOMB_MIB)), 16 * 1024)
    if kind == "bomb" and rest in CODINGS:
        body = state.cached(("bomb", rest, mib), lambda: build_bomb(rest, mib))
        return handler.send_raw(200, body, [("Content-Encoding", rest)])
    if kind == "turns" and rest in CODINGS:
        if state.version(f"/hostile/{name}") == 0:
            return handler.send_raw(200, article(f"turns-{rest}"))
        body = state.cached(("bomb", rest, mib), lambda: build_bomb(rest, mib))
        return handler.send_raw(200, body, [("Content-Encoding", rest)])
    if name == "feed.xml":
        count = min(int(query.get("n", "100000")), 1_000_000)
        distinct = max(1, min(int(query.get("distinct", count)), 100_000))
        body = state.cached(("feed", count, distinct), lambda: rss(base, count, distinct))
        return handler.send_raw(200, body, ctype="application/rss+xml; charset=utf-8")
    if name == "index.xml":
        count, urls = int(query.get("n", "1000")), int(query.get("urls", "1"))
        return handler.send_raw(200, sitemapindex(
            [f"{base}/hostile/sitemap/{n}.xml?urls={urls}" for n in range(count)]), ctype=XML)
    if kind == "sitemap" and rest.endswith(".xml") and rest[:-4].isdigit():
        first, urls = int(rest[:-4]) * int(query.get("urls", "1")), int(query.get("urls", "1"))
        return handler.send_raw(200, urlset(
            [f"{base}/articles/{n}" for n in range(first, first + urls)]), ctype=XML)
    if kind == "nested" and rest.endswith(".xml") and rest[:-4].isdigit():
        deeper = f"{base}/hostile/nested/{int(rest[:-4]) + 1}.xml"
        return handler.send_raw(200, sitemapindex([deeper]), ctype=XML)
    if name == "sitemap.xml.gz":
        body = state.cached(("bomb", "gzip", mib), lambda: build_bomb("gzip", mib))
        return handler.send_raw(200, body, ctype="application/x-gzip")
    handler.send_raw(404, b"<html><body><h1>no such hostile page</h1></body></html>")
