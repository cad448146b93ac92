"""WARC recorder: every response, as the server sent it, into the archive writer.

Order 950 on the downloader side: ``process_response`` runs from high to low numbers, so this
sees each response before RedirectMiddleware (600) follows it and before the decompression
middleware (590) decodes it — the body is still gzip/br encoded, every header (duplicates too) is
there, and each redirect hop and each retried 5xx is recorded. Twisted has already removed
chunked framing; the WARC writer gives such a body a correct Content-Length.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro

from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.writer.client import WriterError
from crawlers.extensions.archiving import ArchiveExtension
from crawlers.tls import twisted_certificates

logger = logging.getLogger(__name__)

RECORD_ID_META = "memoryhole_record_id"
# a request sent through a vantage's proxy: (vantage name, whether it is the control); set by
# crawlers.middlewares.control_proxy
VANTAGE_META = "memoryhole_vantage"


def header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Scrapy Headers as (name, value) pairs, duplicates kept in order."""
    pairs: list[tuple[str, str]] = []
    for name, values in headers.items():
        key = name.decode("latin-1")
        for value in values:
            pairs.append((key, value.decode("latin-1")))
    return pairs


class WarcRecorderMiddleware:
    def __init__(self, extension: ArchiveExtension, crawler: Any) -> None:
        self.writer = extension.writer
        self.crawler = crawler
        self.stats = crawler.stats
        self.stopping = False

    @classmethod
    def from_crawler(cls, crawler: Any) -> WarcRecorderMiddleware:
        extension = crawler.get_extension(ArchiveExtension)
        if extension is None:
            raise NotConfigured("the archive extension is off")
        return cls(extension, crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        if request.meta.get("playwright"):
            return response     # the rendered DOM: the browser recorded what it received
        # the proxy's credentials are left out by the WARC writer (http_message.request_head)
        request_headers = header_pairs(request.headers)
        proxied = request.meta.get(VANTAGE_META)
        if not any(name.lower() == "host" for name, _ in request_headers):
            # Twisted sends the Host header after the request's own (tests/test_recheck_fast.py)
            netloc = urlsplit(request.url).netloc
            request_headers.append(("Host", netloc.rsplit("@", 1)[-1]))
        exchange = HttpExchange(
            url=response.url,
            status=response.status,
            response_headers=header_pairs(response.headers),
            body=response.body,
            date=utcnow(),
            method=request.method,
            request_headers=request_headers,
            request_body=request.body,
            http_version=response.protocol or "HTTP/1.1",
            # through a proxy, the address connected to is the proxy's: none is kept
            ip_address=str(response.ip_address) if response.ip_address and not proxied
            else None,
            peer_certificates=twisted_certificates(response.certificate),
            vantage=proxied[0] if proxied else None,
            vantage_is_control=bool(proxied and proxied[1]),
        )
        try:
            request.meta[RECORD_ID_META] = self.writer.submit_exchange(exchange)
        except WriterError as exc:
            self._stop(exc)
            raise IgnoreRequest(f"not archived: {exc}") from exc
        self.stats.inc_value("archive/recorded")
        self.stats.inc_value(f"archive/recorded/status/{response.status}")
        return response

    def _stop(self, exc: WriterError) -> None:
        """Nothing can be archived any more: stop the crawl instead of fetching in vain."""
        if self.stopping:
            return
        self.stopping = True
        logger.error("%s; stopping the crawl", exc)
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="archive_failed"))
