"""Page URLs of sources with ``render = "browser"``: loaded in Chromium (crawlers.browser.recorder).

Each such page is a Scrapy request that scrapy-playwright runs in a page of its own, in a
browser context it shares with at most ``PAGES_PER_CONTEXT`` pages. The spider keeps the
pages queued and starts one when another is done: ``[browser] concurrency`` pages at once
(Scrapy's download slots do not hold back scrapy-playwright's requests). Chromium reaches the
network only through the crawl's guard proxy (crawlers.extensions.guard_proxy), or, for a page
checked at a vantage, through a guard proxy chained to the vantage's proxy; downloads are
refused. Before it navigates, a
:class:`~crawlers.browser.recorder.BrowserRecorder` is attached; once the page has loaded
(``BROWSER_WAIT_UNTIL``), still inside the download, the recorder waits for the bodies still
being read and takes the full-page screenshot; scrapy-playwright then closes the page and hands
over its DOM. The spider writes the screenshot and the DOM, closes the context after its last
page, and yields the page: its capture is the document's record as the browser received it,
its text that of the DOM (what a reader saw, scripts run). Every ``BROWSER_MEMORY_EVERY`` pages
the browser's memory is logged and kept in the stats (``memoryhole/browser/rss_mb_*``).
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from scrapy import Request
from scrapy.http import Response
from scrapy_playwright.page import PageMethod

from archive.timeutil import utcnow
from crawlers.browser.recorder import BrowserRecorder, browser_rss_mb
from crawlers.extensions.archiving import ArchiveExtension
from crawlers.extensions.guard_proxy import BrowserGuardProxy
from crawlers.items import LISTED_AT, PageItem
from crawlers.middlewares.retry import STATUS_FINAL
from crawlers.safety import UrlPolicy

logger = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_MS = 15_000
# Pages share a context this many at a time, then it is closed with its last page: a new
# context for every page started a new renderer process for each (most of the CPU of a page).
PAGES_PER_CONTEXT = 10


@dataclass(frozen=True)
class BrowserVantage:
    """A vantage point's name and proxy URL (a secret: its contexts go through a guard proxy
    chained to it, crawlers.extensions.guard_proxy)."""

    name: str
    proxy: str = field(repr=False)
    is_control: bool = False          # the [[vantage]] with control = true


class RenderedPages:
    """Mixed into the news spider: ``crawler`` is its."""

    crawler: Any

    def renders_in_browser(self, source: dict[str, Any]) -> bool:
        return source.get("render") == "browser" and self.crawler.settings.getbool(
            "BROWSER_ENABLED")

    def browser_requests(self, jobs: list[tuple[str, dict[str, Any]]],
                         check: dict[str, Any] | None = None,
                         vantage: BrowserVantage | None = None) -> list[Request]:
        """Queue ``jobs``; the requests that may start now. At most ``BROWSER_CONCURRENCY``
        pages are open at once: each one done starts the next (:meth:`_page_done`). With
        ``check`` (a re-check's urls row) the page is that re-check's answer
        (:meth:`parse_rendered_check`, in the re-check spider); with ``vantage`` it is loaded
        through that vantage's proxy, in contexts of its own."""
        if not hasattr(self, "_browser_queue"):
            self._browser_queue: deque[tuple[str, dict[str, Any], dict[str, Any] | None,
                                             BrowserVantage | None]] = deque()
            self._in_flight = 0
            self._rendered = 0
            self._contexts = itertools.count(1)
            self._context: dict[str | None, str] = {}   # vantage -> the context new pages go to
            self._context_issued: dict[str, int] = {}   # pages given to each context
            self._context_pages: dict[str, int] = {}     # pages not done yet, per context
            self._context_vantage: dict[str, str | None] = {}
        self._browser_queue.extend((url, source, check, vantage) for url, source in jobs)
        return self._next_browser_requests()

    def _next_browser_requests(self) -> list[Request]:
        limit = self.crawler.settings.getint("BROWSER_CONCURRENCY")
        started = []
        while self._browser_queue and self._in_flight < limit:
            self._in_flight += 1
            started.append(self.browser_request(*self._browser_queue.popleft()))
        return started

    def browser_request(self, url: str, source: dict[str, Any],
                        check: dict[str, Any] | None = None,
                        vantage: BrowserVantage | None = None) -> Request:
        key = vantage.name if vantage is not None else None
        context = self._context.get(key)
        if context is None or self._context_issued[context] >= PAGES_PER_CONTEXT:
            context = f"memoryhole-{next(self._contexts)}" + (f"-{key}" if key else "")
            self._context[key], self._context_issued[context] = context, 0
            self._context_vantage[context] = key
        self._context_issued[context] += 1
        self._context_pages[context] = self._context_pages.get(context, 0) + 1
        settings = self.crawler.settings
        guard = self.crawler.get_extension(BrowserGuardProxy)
        if guard is None:           # Chromium would connect wherever a page sends it
            raise RuntimeError("pages render in Chromium only through the guard proxy: EXTENSIONS "
                               "must have crawlers.extensions.guard_proxy.BrowserGuardProxy")
        recorder = BrowserRecorder(self.crawler.get_extension(ArchiveExtension).writer,
                                   self.crawler.stats, url, UrlPolicy.from_settings(settings),
                                   vantage=key,
                                   vantage_is_control=vantage is not None and vantage.is_control,
                                   max_body=settings.getint("DOWNLOAD_MAXSIZE"),
                                   address_of=guard.proxy.address_of)
        shot = (settings.getint("BROWSER_SCREENSHOT_MAX_WIDTH"),
                settings.getint("BROWSER_SCREENSHOT_MAX_HEIGHT"))

        async def init_page(page: Any, _request: Request) -> None:
            await recorder.attach(page)

        async def finish(page: Any) -> None:        # still inside the download: the page
            await recorder.finish(page, SCREENSHOT_TIMEOUT_MS, shot)   # closes right after it

        callback = self.parse_rendered if check is None else self.parse_rendered_check
        return Request(url, callback=callback, errback=self.failed_rendered,
                       dont_filter=True, meta={
                           "source": source, "playwright": True, "browser_check": check,
                           STATUS_FINAL: check is not None,     # a re-check's answer: a verdict
                           # the check's vantage: None for the control's
                           "browser_vantage": None if vantage is None or vantage.is_control
                           else key, "playwright_context": context,
                           # read when the context is made (its first page): a vantage's
                           # guard proxy, chained to its proxy (whose password stays in this
                           # process); without one, the context uses Chromium's, the crawl's
                           # guard proxy. Downloads (a file of any size, to disk) are refused
                           "playwright_context_kwargs": {"accept_downloads": False, **(
                               {"proxy": guard.vantage_proxy(key, vantage.proxy)}
                               if vantage is not None else {})},
                           "playwright_page_init_callback": init_page,
                           "playwright_page_goto_kwargs": {
                               "wait_until": settings.get("BROWSER_WAIT_UNTIL")},
                           "playwright_page_methods": [PageMethod(finish)],
                           "browser_recorder": recorder,
                       })

    async def parse_rendered(self, response: Response) -> AsyncIterator[PageItem]:
        """The page, closed by now; its body is the DOM (scrapy-playwright's page content)."""
        source = response.meta.get("source") or {}
        page = await self.rendered_page(response)
        if page is not None:
            yield PageItem(url=response.url, status=page.status, record_id=page.record_id,
                           body=page.body, content_type=page.content_type,
                           source=source.get("name"), platform=source.get("platform"),
                           listed_at=source.get(LISTED_AT))

    async def rendered_page(self, response: Response) -> PageItem | None:
        """Count the page done, archive its screenshot and DOM beside the document's record;
        the page as a PageItem of the DOM (None when the document was not recorded)."""
        meta = response.meta
        recorder: BrowserRecorder = meta["browser_recorder"]
        stats = self.crawler.stats
        await self._page_done(recorder, meta["playwright_context"])
        if recorder.document is None:
            logger.warning("browser: %s: the document's response was not recorded", response.url)
            stats.inc_value("memoryhole/browser/no_document")
            return None
        record_id, status = recorder.document
        writer = self.crawler.get_extension(ArchiveExtension).writer
        now = utcnow()
        if recorder.screenshot:
            writer.submit_resource(f"urn:screenshot:{response.url}", "image/png",
                                   recorder.screenshot, now, concurrent_to=record_id,
                                   vantage=recorder.vantage,
                                   vantage_is_control=recorder.vantage_is_control)
        else:
            stats.inc_value("memoryhole/browser/no_screenshot")
        dom = response.body
        writer.submit_resource(f"urn:dom:{response.url}", "text/html; charset=utf-8", dom, now,
                               concurrent_to=record_id, vantage=recorder.vantage,
                               vantage_is_control=recorder.vantage_is_control)
        stats.inc_value("memoryhole/browser/pages")
        return PageItem(url=response.url, status=status, record_id=record_id, body=dom,
                        content_type="text/html; charset=utf-8")

    async def failed_rendered(self, failure: Any) -> AsyncIterator[Any]:
        meta = failure.request.meta
        recorder: BrowserRecorder = meta["browser_recorder"]
        await recorder.settled()           # a redirect hop's record, before its context goes
        await self._page_done(recorder, meta["playwright_context"])
        if meta.get("browser_check") is not None:
            for item in self.check_failed(failure):     # a re-check's page that did not load
                yield item
        else:
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

    async def _page_done(self, recorder: BrowserRecorder, context_name: str) -> None:
        """Count the page; close its context after the context's last page (its state goes
        with it); start the next queued page."""
        self._after_page()
        self._in_flight -= 1
        left = self._context_pages.get(context_name, 1) - 1
        self._context_pages[context_name] = left
        key = self._context_vantage.get(context_name)
        filled = context_name != self._context.get(key) \
            or self._context_issued.get(context_name, 0) >= PAGES_PER_CONTEXT \
            or not self._browser_queue
        if left <= 0 and filled:
            del self._context_pages[context_name]
            self._context_issued.pop(context_name, None)
            self._context_vantage.pop(context_name, None)
            if context_name == self._context.get(key):
                del self._context[key]
            if recorder.context is not None:
                try:
                    await recorder.context.close()
                except Exception as exc:  # noqa: BLE001 - already closed, browser gone
                    logger.debug("browser: closing a context: %s", exc)
        for request in self._next_browser_requests():      # (url, source, check)
            self.crawler.engine.crawl(request)
