"""Page requisites in a crawl: each page captured with a 200 gets its images, stylesheets,
scripts and fonts fetched too, so replay shows the page as it was. Stylesheets are followed
one level (their fonts and background images).

The requisites are found where the page's text is extracted (archive.text.extract's fast pass lists
them from the tree it parses anyway: a separate scan of every page in the crawl process cost
it a sixth of its time). When the crawl process extracts the text itself, the catalogue
pipeline hands them over at once; otherwise the archive writer sends them back with the page
(``PageJob.requisites_limit``), and the spider is kept open until it has answered for every
page.

Every requisite goes through Scrapy like any request (the address guard, robots.txt, the WARC
recorder, which archives whatever comes back, 404s included). None becomes a watched URL; like
every archived response each gets its ``captures`` row, and replay finds them in the index.
A requisite the index already holds from within ``REQUISITES_REFRESH`` is not fetched again,
and each URL is asked for once per run, so a site's logo and stylesheet are fetched once, not
once per page.

An extension; off with ``REQUISITES_ENABLED = False`` (``[crawl] requisites = false``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from scrapy import Request, signals
from scrapy.exceptions import DontCloseSpider, NotConfigured
from scrapy.http import Response

from archive.home import Home
from archive.text.markup_urls import is_css
from archive.text.requisites import css_requisites
from archive.timeutil import parse_age, timestamp14, utcnow
from archive.warc.cdxj_lookup import captures_of
from crawlers.extensions.archiving import ArchiveExtension

logger = logging.getLogger(__name__)

STATS_PREFIX = "memoryhole/requisites"
DEPTH_META = "requisite_depth"
MAX_DEPTH = 2                     # a page's stylesheet (1) may name fonts and images (2)
SEEN_MEMO = 100_000


class RequisiteFollower:
    """Turns the requisites of captured pages (and stylesheets) into requests."""

    def __init__(self, crawler: Any, home: Home, limit: int, refresh: timedelta) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.home = home
        self.limit = limit
        self.refresh = refresh
        # URLs asked for (or found archived recently) in this run: a site's stylesheet and logo
        # are named by every page, and a Request per page for each, even one Scrapy's duplicate
        # filter drops, cost more than the page's own fetch
        self.seen: set[str] = set()
        self.pending = 0             # pages whose requisites the archive writer still owes
        self.writer: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> RequisiteFollower:
        settings = crawler.settings
        if not settings.getbool("REQUISITES_ENABLED"):
            raise NotConfigured("REQUISITES_ENABLED is off")
        home = settings.get("ARCHIVE_HOME")
        if not home:
            raise NotConfigured("ARCHIVE_HOME is not set")
        follower = cls(crawler, Home(Path(home)), settings.getint("REQUISITES_MAX_PER_PAGE"),
                       parse_age(settings.get("REQUISITES_REFRESH")))
        crawler.signals.connect(follower.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(follower.spider_idle, signal=signals.spider_idle)
        return follower

    # -- signals (the reactor thread) -----------------------------------------------------------
    def spider_opened(self, spider: Any) -> None:
        extension = self.crawler.get_extension(ArchiveExtension)
        if extension is not None:
            self.writer = extension.writer
            self.writer.on_requisites = self._from_writer

    def spider_idle(self, spider: Any) -> None:
        """Keep the spider open while the archive writer still owes requisites."""
        if self.pending > 0 and not (self.writer is not None and self.writer.failed):
            raise DontCloseSpider

    # -- requisites found -----------------------------------------------------------------------
    def expect(self) -> None:
        """A page went to the archive writer, which will answer with its requisites."""
        self.pending += 1

    def accept(self, page_url: str, urls: Iterable[str], *, owed: bool = False) -> None:
        """Fetch ``urls``, the requisites of ``page_url`` (on the reactor thread)."""
        for request in self.requests(urls, depth=0):
            self.crawler.engine.crawl(request)
        if owed:
            self.pending -= 1
            if self.pending == 0:
                self._wake_engine()

    def _from_writer(self, page_url: str, urls: list[str]) -> None:
        """The archive writer's answer (its answer thread): handed to the reactor thread."""
        from twisted.internet import reactor

        reactor.callFromThread(self.accept, page_url, urls, owed=True)

    def _wake_engine(self) -> None:
        # after DontCloseSpider the engine looks at idleness again on its 5 s heartbeat; the
        # last answer may bring no request, so ask it to look now
        slot = getattr(self.crawler.engine, "_slot", None)
        nextcall = getattr(slot, "nextcall", None)
        if nextcall is not None:
            nextcall.schedule()

    def requests(self, urls: Iterable[str], depth: int) -> list[Request]:
        """Requests for those of ``urls`` not asked for in this run nor archived recently."""
        fresh_after = None
        chosen = []
        for url in urls:
            if url in self.seen:
                continue
            if len(self.seen) >= SEEN_MEMO:        # bounded; Scrapy's filter still dedupes
                self.seen.clear()
            self.seen.add(url)
            fresh_after = fresh_after or timestamp14(utcnow() - self.refresh)
            if any(c.timestamp >= fresh_after for c in captures_of(self.home, url)):
                self.stats.inc_value(f"{STATS_PREFIX}/archived_recently")
                continue
            chosen.append(Request(
                url, callback=self.parse_requisite, errback=self.failed, priority=1,
                meta={DEPTH_META: depth + 1, "handle_httpstatus_all": True}))
        if chosen:
            self.stats.inc_value(f"{STATS_PREFIX}/requested", len(chosen))
        return chosen

    # -- callbacks ------------------------------------------------------------------------------
    def parse_requisite(self, response: Response) -> Iterator[Request]:
        """A requisite is archived by the recorder; a stylesheet's own requisites follow."""
        depth = int(response.meta.get(DEPTH_META, 0))
        content_type = response.headers.get(b"Content-Type")
        content_type = content_type.decode("latin-1") if content_type else None
        if response.status == 200 and depth < MAX_DEPTH and is_css(content_type):
            yield from self.requests(css_requisites(response.body, content_type, response.url,
                                                    self.limit), depth)

    def failed(self, failure: Any) -> None:
        request = failure.request
        kind = failure.type.__name__ if failure.type else "Error"
        self.stats.inc_value(f"{STATS_PREFIX}/fetch_errors")
        logger.info("requisite not fetched: %s: %s: %s", request.url, kind,
                    failure.getErrorMessage())
