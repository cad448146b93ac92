"""The guard proxies of a crawl whose pages render in Chromium (crawlers.browser.proxy): the
crawl's own, made Chromium's proxy for every context that has none of its own, and one for each
vantage a page is re-checked through, chained to that vantage's proxy
(crawlers.browser.upstream) and made the proxy of that vantage's contexts. Started with the
engine (a vantage's on its first page), stopped with it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import load_object

from crawlers.browser.proxy import HEAD_LIMIT, GuardProxy
from crawlers.browser.upstream import Upstream
from crawlers.safety import UrlPolicy
from crawlers.tls import client_context

logger = logging.getLogger(__name__)

# "<-loopback>": loopback and link-local addresses go through the proxy too
BYPASS = "<-loopback>"


class BrowserGuardProxy:
    """The Scrapy extension that runs the guard proxies of a crawl whose pages render in
    Chromium (``BROWSER_ENABLED``) and makes the crawl's Chromium's proxy. Built with the other
    extensions, before Scrapy freezes the settings and before scrapy-playwright reads its launch
    options."""

    def __init__(self, crawler: Any) -> None:
        settings = crawler.settings
        if not settings.getbool("BROWSER_ENABLED"):
            raise NotConfigured
        self.policy = UrlPolicy.from_settings(settings)
        self.resolver = load_object(settings.get("BROWSER_PROXY_RESOLVER"))(self.policy)
        self.stats = crawler.stats
        self.timeout = settings.getfloat("DOWNLOAD_TIMEOUT") or 30.0
        self.ca_file = settings.get("SAFETY_CA_FILE") or None
        self.proxy = GuardProxy(self.policy, self.resolver, crawler.stats,
                                connect_timeout=self.timeout)
        self.vantages: dict[str, tuple[GuardProxy, dict[str, str]]] = {}
        self.starting: set[asyncio.Task[None]] = set()
        options = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
        options["proxy"] = {"server": self.proxy.listen(), "bypass": BYPASS}
        settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", options, priority="cmdline")
        crawler.signals.connect(self.engine_started, signal=signals.engine_started)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Any) -> BrowserGuardProxy:
        return cls(crawler)

    async def engine_started(self) -> None:
        await self.proxy.start()

    def vantage_proxy(self, name: str, proxy_url: str) -> dict[str, str]:
        """Playwright's ``proxy`` for the contexts of vantage ``name`` (its proxy: ``proxy_url``,
        credentials included, which stay in this process): the local guard proxy chained to it,
        started on first use (it listens at once: Chromium's first connection waits for it)."""
        if name not in self.vantages:
            upstream = Upstream(proxy_url, client_context(self.ca_file), timeout=self.timeout,
                                limit=HEAD_LIMIT)
            chained = GuardProxy(self.policy, self.resolver, self.stats,
                                 connect_timeout=self.timeout, upstream=upstream,
                                 stats_prefix=f"vantage/{name}/browser_proxy",
                                 where=f" at vantage {name}")
            server = chained.listen()
            task = asyncio.ensure_future(chained.start())
            self.starting.add(task)
            task.add_done_callback(self.starting.discard)
            self.vantages[name] = (chained, {"server": server, "bypass": BYPASS})
            logger.info("browser: vantage %s through a guard proxy at %s, chained to %s", name,
                        server.removeprefix("http://"), upstream.label)
        return dict(self.vantages[name][1])

    async def engine_stopped(self) -> None:
        if self.starting:
            await asyncio.gather(*self.starting, return_exceptions=True)
        for chained, _ in self.vantages.values():
            await chained.close()
        await self.proxy.close()
