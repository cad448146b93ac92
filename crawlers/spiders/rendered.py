"""Page URLs of sources with ``render = "browser"``: loaded in Chromium (crawlers.browser).

Each such page is a Scrapy request that scrapy-playwright runs in a page of its own context.
Before it navigates, a :class:`~crawlers.browser.BrowserRecorder` is attached; once the page
has loaded (``BROWSER_WAIT_UNTIL``), the spider waits for the bodies still being read, takes
the full-page screenshot and the DOM, closes the page and its context, and yields the page:
its capture is the document's record as the browser received it, its text that of the DOM
(what a reader saw, scripts run). Every ``BROWSER_MEMORY_EVERY`` pages the browser's memory is
logged and kept in the stats (``memoryhole/browser/rss_mb_*``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request
from scrapy.http import Response

from archive.timeutil import utcnow
from crawlers.archiving import ArchiveExtension
from crawlers.browser import BrowserRecorder, browser_rss_mb
from crawlers.items import PageItem

logger = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_MS = 15_000


class RenderedPages:
    """Mixed into the news spider: ``crawler`` is its."""

    crawler: Any

    def renders_in_browser(self, source: dict[str, Any]) -> bool:
        return source.get("render") == "browser" and self.crawler.settings.getbool(
            "BROWSER_ENABLED")

    def browser_request(self, url: str, source: dict[str, Any]) -> Request:
        if not hasattr(self, "_contexts"):
            self._contexts = itertools.count(1)
            self._rendered = 0
        settings = self.crawler.settings
        recorder = BrowserRecorder(self.crawler.get_extension(ArchiveExtension).sink,
                                   self.crawler.stats, url,
                                   settings.getbool("SAFETY_ALLOW_PRIVATE_ADDRESSES"))

        async def init_page(page: Any, _request: Request) -> None:
            await recorder.attach(page)

        return Request(url, callback=self.parse_rendered, errback=self.failed_rendered,
                       dont_filter=True, meta={
                           "source": source, "playwright": True,
                           "playwright_include_page": True,
                           "playwright_context": f"memoryhole-{next(self._contexts)}",
                           "playwright_page_init_callback": init_page,
                           "playwright_page_goto_kwargs": {
                               "wait_until": settings.get("BROWSER_WAIT_UNTIL")},
                           "browser_recorder": recorder,
                       })

    async def parse_rendered(self, response: Response) -> AsyncIterator[PageItem]:
        meta = response.meta
        recorder: BrowserRecorder = meta["browser_recorder"]
        source = meta.get("source") or {}
        page = meta["playwright_page"]
        stats = self.crawler.stats
        shot = dom = None
        try:
            await recorder.settled()
            dom = await page.content()
            shot = await page.screenshot(full_page=True, type="png",
                                         timeout=SCREENSHOT_TIMEOUT_MS)
        except Exception as exc:  # noqa: BLE001 - Playwright's errors; the records stay
            logger.warning("browser: %s: no screenshot or DOM (%s)", response.url, exc)
            stats.inc_value("memoryhole/browser/incomplete")
        finally:
            await _close(page)
        self._after_page()
        if recorder.document is None:
            logger.warning("browser: %s: the document's response was not recorded", response.url)
            stats.inc_value("memoryhole/browser/no_document")
            return
        record_id, status = recorder.document
        sink = self.crawler.get_extension(ArchiveExtension).sink
        now = utcnow()
        if shot:
            sink.submit_resource(f"urn:screenshot:{response.url}", "image/png", shot, now,
                                 concurrent_to=record_id)
        if dom is not None:
            sink.submit_resource(f"urn:dom:{response.url}", "text/html; charset=utf-8",
                                 dom.encode("utf-8"), now, concurrent_to=record_id)
        stats.inc_value("memoryhole/browser/pages")
        yield PageItem(url=response.url, status=status, record_id=record_id,
                       body=(dom or "").encode("utf-8"), content_type="text/html; charset=utf-8",
                       source=source.get("name"), platform=source.get("platform"))

    async def failed_rendered(self, failure: Any) -> None:
        page = failure.request.meta.get("playwright_page")
        if page is not None:
            await _close(page)
        self._after_page()
        self.failed(failure)

    def _after_page(self) -> None:
        self._rendered += 1
        every = self.crawler.settings.getint("BROWSER_MEMORY_EVERY")
        if every and self._rendered % every == 0:
            rss = round(browser_rss_mb(), 1)
            stats = self.crawler.stats
            stats.set_value(f"memoryhole/browser/rss_mb_at_{self._rendered}", rss)
            stats.max_value("memoryhole/browser/rss_mb_max", rss)
            logger.info("browser: %d pages rendered, Chromium uses %.0f MB", self._rendered,
                        rss)


async def _close(page: Any) -> None:
    try:
        context = page.context
        await page.close()
        await context.close()
    except Exception as exc:  # noqa: BLE001 - already closed, browser gone: nothing to keep
        logger.debug("browser: closing a page: %s", exc)
