"""The news spider: sources of kind ``feed`` (RSS/Atom), ``sitemap`` and ``page`` (URL lists),
``telegram`` channels (crawlers.spiders.telegram) and ``weibo`` timelines and posts
(crawlers.spiders.weibo).

Feeds and sitemaps are archived too (the recorder sees every response) but only the pages they
list become watched URLs. Every page request sees all statuses: a 404 or 410 page is evidence.

Feeds and sitemaps are hostile input too, so each is bounded: at most ``NEWS_FEED_MAX_ITEMS``
entries of a feed and ``NEWS_SITEMAP_MAX_ITEMS`` URLs of a sitemap are taken (a source's
``max_items`` overrides both), in document order; at most ``NEWS_SITEMAP_MAX_FOLLOWED`` sitemaps
are fetched for one source in a run (from its sitemap indexes and robots.txt) and indexes nested
deeper than ``NEWS_SITEMAP_MAX_DEPTH`` are not followed. Only the part of a document that holds
the entries taken is parsed (a feed: :func:`feed_entries`; a sitemap: Scrapy's streaming
``Sitemap``, left after them): a feed of a million entries costs what its first thousand cost.
Each bound that is hit is counted (``memoryhole/feeds/max_items_reached``,
``memoryhole/sitemaps/max_items_reached``, ``.../max_followed_reached``, ``.../too_deep``) and
logged.

Page URLs first go out as fast-path GETs (crawlers.fastpath.pages), which archive the plain
200s; the spider yields their PageItems, which go through the item pipeline like those of its
own responses. Every other page becomes a Scrapy request. Each page captured with a 200, either
way, gets its requisites fetched (its PageItem says so; crawlers.extensions.requisites does it).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import feedparser
from scrapy import Request, Spider
from scrapy.http import Response
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap, sitemap_urls_from_robots

from archive.platforms.registry import platform_of_kind
from archive.timeutil import iso
from archive.urlnorm import is_http_url
from crawlers.fastpath.client import client_for
from crawlers.fastpath.pages import PageClient, PageUrl
from crawlers.items import LISTED_AT, PageItem
from crawlers.middlewares.recorder import RECORD_ID_META
from crawlers.spiders.rendered import RenderedPages
from crawlers.spiders.telegram import TelegramPages
from crawlers.spiders.weibo import WeiboPages
from crawlers.tls import failure_name

logger = logging.getLogger(__name__)

# Every status reaches the callbacks except redirects, which RedirectMiddleware follows.
PAGE_STATUSES = [s for s in range(100, 600) if s not in (301, 302, 303, 307, 308)]
# the end tag of a feed's entries (RSS item, RSS 1.0 item, Atom entry), any namespace prefix;
# bytes, so that no encoding is guessed before the cut
_FEED_ENTRY_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>")


def cut_after(body: bytes, entry_end: re.Pattern[bytes], count: int) -> bytes | None:
    """``body`` up to the end of its ``count``-th entry, when more entries follow; None when it
    has no more than ``count`` (nothing to cut). What is cut off is never parsed; the parsers
    (feedparser, lxml's recovering parser) read the entries of the open document that remains."""
    found = 0
    end = 0
    for match in entry_end.finditer(body):
        if found == count:
            return body[:end]
        found += 1
        end = match.end()
    return None


def _entry_time(entry: Any) -> str | None:
    """A feed entry's publication time (else its update time) as ISO-8601 UTC; None when the
    feed gives none that parses (feedparser's ``*_parsed`` are UTC)."""
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    try:
        return iso(datetime(*parsed[:6], tzinfo=UTC)) if parsed else None
    except (TypeError, ValueError):
        return None


def feed_entries(body: bytes, content_type: str | None, limit: int) -> tuple[list[Any], bool]:
    """The first ``limit`` entries of a feed (feedparser's) and whether it has more. Only the part
    of ``body`` that holds them is parsed: up to the ``limit``-th entry end tag, twice as far
    each time that part gives fewer entries (end tags inside a text), the whole only when it
    holds no more than that."""
    headers = {"content-type": content_type} if content_type else {}
    count = limit
    while True:
        head = cut_after(body, _FEED_ENTRY_END, count)
        parsed = feedparser.parse(head if head is not None else body, response_headers=headers)
        if head is None or len(parsed.entries) >= limit:
            return parsed.entries[:limit], head is not None or len(parsed.entries) > limit
        count *= 2


class NewsSpider(TelegramPages, WeiboPages, RenderedPages, Spider):
    name = "news"

    def __init__(self, sources: list[dict[str, Any]] | None = None,
                 urls: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = sources or []
        self.extra_urls = urls or []
        self.extra_source = kwargs.get("extra_source")

    async def start(self) -> AsyncIterator[Request | PageItem]:
        pages: list[PageUrl] = []
        for source in self.sources:
            for request in self.source_requests(source, pages):
                yield request
        pages += [(url, {"name": self.extra_source}) for url in self.extra_urls]
        async for output in self.pages(pages):
            yield output

    def source_requests(self, source: dict[str, Any], pages: list[PageUrl]
                        ) -> Iterator[Request]:
        """The feed and sitemap requests of ``source``; its page URLs go onto ``pages``."""
        kind = source["kind"]
        for url in source["urls"]:
            if kind == "feed":
                yield Request(url, callback=self.parse_feed, errback=self.failed,
                              meta={"source": source}, dont_filter=True)
            elif kind == "sitemap":
                yield Request(url, callback=self.parse_sitemap, errback=self.failed,
                              meta={"source": source, "sitemap_depth": 0}, dont_filter=True)
            elif kind == "telegram":
                yield from self.telegram_requests({**source, "urls": [url]}, pages)
            elif kind == "weibo":
                yield from self.weibo_requests({**source, "urls": [url]}, pages)
            else:        # pages; a platform's own kind (wechat) reads them with its rules
                platform = platform_of_kind(kind)
                pages.append((url, source if platform is None else
                              {**source, "platform": source.get("platform") or platform.name}))

    async def pages(self, pages: list[PageUrl]) -> AsyncIterator[Request | PageItem]:
        """Fast-path GETs for ``pages`` first (crawlers.fastpath.pages): the items of the pages
        archived there as they come, then Scrapy requests for the rest; pages of sources that
        render in the browser go to Chromium (crawlers.spiders.rendered)."""
        rendered = self.browser_requests([(url, source) for url, source in pages
                                          if self.renders_in_browser(source)])
        pages = [(url, source) for url, source in pages if not self.renders_in_browser(source)]
        client = self.page_client()
        if client is not None and pages:
            fast = client.fetch_all(pages)
            async for item in fast:
                yield item
            pages = fast.left
        for request in rendered:
            yield request
        for url, source in pages:
            yield self.page_request(url, source)

    def page_client(self) -> PageClient | None:
        """Made on first use (the engine exists by then); None when the fast path is off."""
        if not hasattr(self, "_page_client"):
            self._page_client = client_for(PageClient, self.crawler)
        return self._page_client

    def page_request(self, url: str, source: dict[str, Any]) -> Request:
        return Request(url, callback=self.parse_page, errback=self.failed,
                       meta={"source": source, "handle_httpstatus_list": PAGE_STATUSES})

    async def parse_feed(self, response: Response) -> AsyncIterator[Request | PageItem]:
        source = response.meta["source"]
        limit = self._max_items(source, "NEWS_FEED_MAX_ITEMS")
        entries, more = feed_entries(response.body, _header(response.headers, b"Content-Type"),
                                     limit)
        if more:
            self._bound_hit("memoryhole/feeds/max_items_reached",
                            "feed %s (%s) lists more than %d entries: the first %d are taken "
                            "(raise max_items or [crawl] feed_max_items)",
                            response.url, source.get("name"), limit, limit)
        links: list[tuple[str, dict[str, Any]]] = []
        for entry in entries:
            link = entry.get("link") or ""
            if not link:
                for candidate in entry.get("links", []):
                    if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
                        link = candidate["href"]
                        break
            link = response.urljoin(link) if link else ""
            if is_http_url(link):
                listed = _entry_time(entry)
                links.append((link, {**source, LISTED_AT: listed} if listed else source))
        if not links:
            self.crawler.stats.inc_value("memoryhole/feeds/empty")
            logger.warning("feed %s (%s) lists no links", response.url, source.get("name"))
        self.crawler.stats.inc_value("memoryhole/feeds/parsed")
        async for output in self.pages(links):
            yield output

    async def parse_sitemap(self, response: Response) -> AsyncIterator[Request | PageItem]:
        source = response.meta["source"]
        depth = response.meta.get("sitemap_depth", 0)
        if response.url.endswith("/robots.txt"):
            urls = list(sitemap_urls_from_robots(response.body, base_url=response.url))
            for url in self._followed(urls, source, response.url):
                yield self._sitemap_request(url, source, depth + 1)
            return
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.settings.getint("DOWNLOAD_MAXSIZE"))
            except (ValueError, OSError, EOFError) as exc:    # over the size limit, or broken
                logger.warning("sitemap %s cannot be decompressed: %s", response.url, exc)
                self.crawler.stats.inc_value("memoryhole/sitemaps/invalid")
                return
        # the entries are parsed as they are taken (Scrapy's Sitemap is an lxml iterparse): one
        # past what can be used says there are more, and the rest is never parsed
        try:
            sitemap = Sitemap(body)
            keep = (self._followed_left(source) if sitemap.type == "sitemapindex"
                    else self._max_items(source, "NEWS_SITEMAP_MAX_ITEMS"))
            locs = [entry["loc"] for entry in islice(sitemap, keep + 1) if entry.get("loc")]
        except Exception as exc:  # noqa: BLE001 - lxml raises many kinds on bad XML
            logger.warning("sitemap %s is not valid XML: %s", response.url, exc)
            self.crawler.stats.inc_value("memoryhole/sitemaps/invalid")
            return
        cut = len(locs) > keep
        locs = locs[:keep]
        if sitemap.type == "sitemapindex":
            if depth >= self.settings.getint("NEWS_SITEMAP_MAX_DEPTH"):
                self._bound_hit("memoryhole/sitemaps/too_deep",
                                "sitemap index %s (%s) is nested %d deep: not followed "
                                "(raise [crawl] sitemap_max_depth)", response.url,
                                source.get("name"), depth + 1)
                return
            urls = [response.urljoin(loc) for loc in locs]
            for url in self._followed(urls, source, response.url, more=cut):
                yield self._sitemap_request(url, source, depth + 1)
            return
        if cut:
            self._bound_hit("memoryhole/sitemaps/max_items_reached",
                            "sitemap %s (%s) lists more than %d URLs: the first %d are taken "
                            "(raise max_items or [crawl] sitemap_max_items)",
                            response.url, source.get("name"), keep, keep)
        links = [response.urljoin(loc) for loc in locs]
        chosen = [u for u in links if is_http_url(u)]
        async for output in self.pages([(link, source) for link in chosen]):
            yield output

    def _followed(self, urls: list[str], source: dict[str, Any], where: str,
                  more: bool = False) -> list[str]:
        """Those of ``urls`` (sitemaps) the source may still fetch in this run; counts them."""
        left = self._followed_left(source)
        taken = urls[:left]
        self._sitemaps_followed[source.get("name")] += len(taken)
        if more or len(urls) > left:
            self._bound_hit("memoryhole/sitemaps/max_followed_reached",
                            "%s (%s): sitemaps past the %d a source may fetch in a run are not "
                            "followed (raise [crawl] sitemap_max_followed)", where,
                            source.get("name"), self.settings.getint("NEWS_SITEMAP_MAX_FOLLOWED"))
        return taken

    def _followed_left(self, source: dict[str, Any]) -> int:
        if not hasattr(self, "_sitemaps_followed"):
            self._sitemaps_followed: Counter[str | None] = Counter()
        most = self.settings.getint("NEWS_SITEMAP_MAX_FOLLOWED")
        return max(0, most - self._sitemaps_followed[source.get("name")])

    def _max_items(self, source: dict[str, Any], setting: str) -> int:
        """A source's ``max_items``, else the crawl's bound for its kind (``setting``)."""
        return max(1, source.get("max_items") or self.settings.getint(setting))

    def _bound_hit(self, stat: str, message: str, *args: Any) -> None:
        self.crawler.stats.inc_value(stat)
        logger.warning(message, *args)

    def _sitemap_request(self, url: str, source: dict[str, Any], depth: int) -> Request:
        return Request(url, callback=self.parse_sitemap, errback=self.failed,
                       meta={"source": source, "sitemap_depth": depth})

    def parse_page(self, response: Response) -> Iterator[PageItem]:
        source = response.meta.get("source") or {}
        record_id = response.meta.get(RECORD_ID_META)
        if record_id is None:
            logger.error("no WARC record for %s; the recorder middleware is off?", response.url)
            return
        headers = response.headers
        content_type = _header(headers, b"Content-Type")
        yield PageItem(
            url=response.url,
            status=response.status,
            record_id=record_id,
            body=response.body,
            content_type=content_type,
            source=source.get("name"),
            platform=source.get("platform"),
            etag=_header(headers, b"ETag"),
            last_modified=_header(headers, b"Last-Modified"),
            fetch_requisites=response.status == 200,
            watch_text=source.get("watch_text", True),
            listed_at=source.get(LISTED_AT),
        )

    def failed(self, failure: Any) -> None:
        request = failure.request
        kind = failure_name(failure)
        self.crawler.stats.inc_value("memoryhole/fetch_errors")
        self.crawler.stats.inc_value(f"memoryhole/fetch_errors/{kind}")
        logger.warning("fetch failed: %s: %s: %s", request.url, kind, failure.getErrorMessage())


def _header(headers: Any, name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None
