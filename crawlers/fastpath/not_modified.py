"""The 304 fast path of the re-check: its conditional GETs as fast-path GETs
(crawlers.fastpath.client).

Most re-checks of a page with an ETag or a Last-Modified are answered 304 Not Modified. The
re-check spider first sends those URLs' conditional GETs through this client:

- a **304** is archived here (a server-not-modified revisit record and its request record,
  exactly the headers sent) and the spider logs an alive check with the classifier's verdict
  on a 304;
- **anything else** — 200, 404, a redirect, 5xx, 429, a timeout, a refused connection, a name
  that resolves only to private addresses — is closed unread and the URL goes back to the
  spider, which fetches, archives and classifies it as it always has. The fast path can only
  ever say "not modified"; every other verdict, and every piece of evidence, stays the spider's.

The spider's own requests start only when this pass is over, so a site never gets more than its
share of concurrent requests. Off with ``RECHECK_FAST_304 = False`` (``[recheck] fast_304``).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from scrapy.exceptions import NotConfigured

from archive.writer.client import ArchiveWriter
from crawlers.fastpath.client import FastPass, FastPathClient, check_allowed, exchange_from

logger = logging.getLogger(__name__)

STATS_PREFIX = "fastpath/not_modified"
NotModified = tuple[dict[str, Any], str]       # (the urls row, the 304's WARC-Record-ID)


class NotModifiedClient(FastPathClient):
    """Sends conditional GETs; archives the 304s, leaves every other URL to the spider."""

    stats_prefix = STATS_PREFIX

    @classmethod
    def from_crawler(cls, crawler: Any, writer: ArchiveWriter) -> NotModifiedClient:
        """Built when the spider starts (the engine must exist); NotConfigured when off."""
        if not crawler.settings.getbool("RECHECK_FAST_304"):
            raise NotConfigured("RECHECK_FAST_304 is off")
        check_allowed(crawler)
        return cls(crawler, writer)

    def request_headers(self, row: dict[str, Any]) -> list[tuple[str, str]]:
        """The headers to send for ``row`` (aiohttp adds Host; the request record is made from
        what it actually sent, ``request_info.headers``)."""
        headers = []
        if row.get("etag"):
            headers.append(("If-None-Match", row["etag"]))
        if row.get("last_modified"):
            headers.append(("If-Modified-Since", row["last_modified"]))
        return headers + self.base_headers

    def check_all(self, rows: list[dict[str, Any]]) -> FastPass[dict[str, Any], NotModified]:
        """A pass over ``rows``: it gives ``(row, record_id)`` of each 304 archived here; its
        ``left`` are the rows the spider must check itself, in their original order."""
        return self.run(rows, lambda row: row["url"], self.check)

    async def check(self, session: aiohttp.ClientSession, row: dict[str, Any]
                    ) -> NotModified | None:
        """``(row, record_id)`` when a 304 was archived; None hands the row to the spider."""
        url = row["url"]
        response = await self.get(session, url, self.request_headers(row))
        if response is None:
            return None
        async with response:
            if response.status != 304:
                self.count(f"not_304/{response.status}")
                response.close()
                return None
            exchange = exchange_from(response, url, await response.read())
        record_id = self.archive(exchange)
        if record_id is None:
            return None
        self.count("not_modified")
        return row, record_id
