"""The crawl's page fast path: a page's GET as a fast-path GET (crawlers.fastpath.client).

Most page fetches of a crawl are a plain ``200 OK`` with a whole body. The news spider sends its
page URLs (from URL lists, feeds and sitemaps) through this client first:

- a **200** whose body arrives whole, within ``DOWNLOAD_MAXSIZE``, with no Content-Encoding or
  one that Scrapy's decompression middleware decodes (gzip, deflate, br, zstd) is archived here
  (the body as the server sent it, every header as received) and becomes a PageItem, as the
  spider's own ``parse_page`` would make it, which the spider yields to the item pipeline;
- **anything else** — a redirect, 304, 404, 5xx, a cut or oversized body, two codings, a
  timeout, a refused connection, a name that resolves only to private addresses — is closed
  unread and the URL goes to the spider as an ordinary Scrapy request, which handles it as it
  always has (redirects followed and archived hop by hop, errors counted, evidence kept).

No cookies are sent on this path (Scrapy's path sends the ones the site set earlier in the run).
Off with ``FASTPATH_PAGES = False`` (``[crawl] fast_pages``).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from scrapy import Request
from scrapy.exceptions import NotConfigured

from archive.writer.client import ArchiveWriter
from crawlers.fastpath.client import FastPass, FastPathClient, check_allowed, exchange_from
from crawlers.items import LISTED_AT, PageItem
from crawlers.middlewares.decompression import DecompressionMiddleware

logger = logging.getLogger(__name__)

STATS_PREFIX = "fastpath/pages"
DECODABLE = frozenset({b"gzip", b"x-gzip", b"deflate", b"br", b"zstd"})
PageUrl = tuple[str, dict[str, Any]]          # (URL, the source it came from)


class PageClient(FastPathClient):
    """Fetches pages; archives the plain 200s and gives their items, leaves the other URLs."""

    stats_prefix = STATS_PREFIX

    def __init__(self, crawler: Any, writer: ArchiveWriter) -> None:
        super().__init__(crawler, writer)
        self.fingerprint = crawler.request_fingerprinter.fingerprint
        self.seen: set[bytes] = set()

    @classmethod
    def from_crawler(cls, crawler: Any, writer: ArchiveWriter) -> PageClient:
        """Built once the engine exists; NotConfigured when off."""
        if not crawler.settings.getbool("FASTPATH_PAGES"):
            raise NotConfigured("FASTPATH_PAGES is off")
        check_allowed(crawler)
        return cls(crawler, writer)

    def fetch_all(self, pages: list[PageUrl]) -> FastPass[PageUrl, PageItem]:
        """A pass over each new URL of ``pages`` (a URL seen before in this run is dropped, as
        Scrapy's duplicate filter would): it gives the PageItem of each page archived here; its
        ``left`` are the pages left to the spider, in order."""
        fresh = []
        for url, source in pages:
            key = self.fingerprint(Request(url))
            if key not in self.seen:
                self.seen.add(key)
                fresh.append((url, source))
        return self.run(fresh, lambda page: page[0], self.fetch)

    async def fetch(self, session: aiohttp.ClientSession, page: PageUrl) -> PageItem | None:
        """The item of the page, archived here; None leaves it to the spider."""
        url, source = page
        response = await self.get(session, url, self.base_headers)
        if response is None:
            return None
        async with response:
            if response.status != 200:
                return self._refuse(response, f"status/{response.status}")
            coding = (_last(response.headers, "Content-Encoding") or "").strip().lower().encode()
            if coding not in DECODABLE and coding not in (b"", b"identity"):
                return self._refuse(response, "encoding")
            if self.max_size and (response.content_length or 0) > self.max_size:
                return self._refuse(response, "too_big")
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if self.max_size and len(body) > self.max_size:
                    return self._refuse(response, "too_big")
            exchange = exchange_from(response, url, bytes(body))
            headers = response.headers
        decoded = exchange.body
        if coding in DECODABLE:
            try:
                decoded = DecompressionMiddleware._decode(exchange.body, coding, self.max_size)
            except Exception:  # noqa: BLE001 - bad data or over the limit: Scrapy's path decides
                self.count("refused/undecodable")
                return None
        record_id = self.archive(exchange)
        if record_id is None:
            return None
        self.count("pages")
        return PageItem(
            url=url, status=200, record_id=record_id, body=decoded,
            content_type=_last(headers, "Content-Type"), source=source.get("name"),
            platform=source.get("platform"), etag=_last(headers, "ETag"),
            last_modified=_last(headers, "Last-Modified"), fetch_requisites=True,
            watch_text=source.get("watch_text", True), listed_at=source.get(LISTED_AT),
        )

    def _refuse(self, response: aiohttp.ClientResponse, why: str) -> None:
        self.count(f"refused/{why}")
        response.close()


def _last(headers: Any, name: str) -> str | None:
    """The last value of a header, as Scrapy's ``Headers.get`` gives it."""
    values = headers.getall(name, [])
    return values[-1] if values else None
