"""Page requisites in a crawl: each page captured with a 200 gets its images, stylesheets,
scripts and fonts fetched too (archive.requisites finds them), so replay shows the page as it
was. Stylesheets are followed one level (their fonts and background images).

Every requisite goes through Scrapy like any request (the address guard, robots.txt, the WARC
recorder, which archives whatever comes back, 404s included). None becomes a watched URL; like
every archived response each gets its ``captures`` row, and replay finds them in the index.
A requisite the index already holds from within ``REQUISITES_REFRESH`` is not fetched again,
and Scrapy's duplicate filter keeps one fetch per URL in a run, so a site's logo and
stylesheet are fetched once, not once per page.

Off with ``REQUISITES_ENABLED = False`` (``[crawl] requisites = false``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from scrapy import Request
from scrapy.exceptions import NotConfigured
from scrapy.http import Response

from archive.home import Home
from archive.index_lookup import captures_of
from archive.requisites import is_css, requisites
from archive.timeutil import parse_age, timestamp14, utcnow

logger = logging.getLogger(__name__)

STATS_PREFIX = "memoryhole/requisites"
DEPTH_META = "requisite_depth"
MAX_DEPTH = 2                     # a page's stylesheet (1) may name fonts and images (2)
SEEN_MEMO = 100_000


class RequisiteFollower:
    """Makes the requests for a captured page's (or stylesheet's) requisites."""

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

    @classmethod
    def from_crawler(cls, crawler: Any) -> RequisiteFollower:
        settings = crawler.settings
        if not settings.getbool("REQUISITES_ENABLED"):
            raise NotConfigured("REQUISITES_ENABLED is off")
        home = settings.get("ARCHIVE_HOME")
        if not home:
            raise NotConfigured("ARCHIVE_HOME is not set")
        return cls(crawler, Home(Path(home)), settings.getint("REQUISITES_MAX_PER_PAGE"),
                   parse_age(settings.get("REQUISITES_REFRESH")))

    def requests_for(self, url: str, status: int, body: bytes, content_type: str | None,
                     callback: Callable[[Response], Any], depth: int = 0) -> list[Request]:
        """Requests for what the response at ``url`` needs; none unless it is a 200 HTML page
        (or a stylesheet, below ``MAX_DEPTH``)."""
        if status != 200 or depth >= MAX_DEPTH or (depth and not is_css(content_type)):
            return []
        found = requisites(body, content_type, url, self.limit)
        if not found:
            return []
        fresh_after = timestamp14(utcnow() - self.refresh)
        chosen = []
        for requisite in found:
            if requisite in self.seen:
                continue
            if len(self.seen) >= SEEN_MEMO:        # bounded; Scrapy's filter still dedupes
                self.seen.clear()
            self.seen.add(requisite)
            if any(c.timestamp >= fresh_after for c in captures_of(self.home, requisite)):
                self.stats.inc_value(f"{STATS_PREFIX}/archived_recently")
                continue
            chosen.append(Request(
                requisite, callback=callback, errback=self.failed, priority=1,
                meta={DEPTH_META: depth + 1, "handle_httpstatus_all": True}))
        self.stats.inc_value(f"{STATS_PREFIX}/requested", len(chosen))
        return chosen

    def crawl(self, requests: list[Request]) -> None:
        """Hand ``requests`` to the engine (from a direct GET, which has no callback to yield
        them from)."""
        for request in requests:
            self.crawler.engine.crawl(request)

    def failed(self, failure: Any) -> None:
        request = failure.request
        kind = failure.type.__name__ if failure.type else "Error"
        self.stats.inc_value(f"{STATS_PREFIX}/fetch_errors")
        logger.info("requisite not fetched: %s: %s: %s", request.url, kind,
                    failure.getErrorMessage())


def depth_of(response: Response) -> int:
    return int(response.meta.get(DEPTH_META, 0))
