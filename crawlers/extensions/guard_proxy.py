"""The guard proxy of a crawl whose pages render in Chromium (crawlers.browser.proxy): started
with the engine, stopped with it, and made Chromium's proxy for every context that has none of
its own (a vantage's)."""

from __future__ import annotations

from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import load_object

from crawlers.browser.proxy import GuardProxy
from crawlers.safety import UrlPolicy


class BrowserGuardProxy:
    """The Scrapy extension that runs the guard proxy of a crawl whose pages render in Chromium
    (``BROWSER_ENABLED``) and makes it Chromium's proxy. Built with the other extensions, before
    Scrapy freezes the settings and before scrapy-playwright reads its launch options."""

    def __init__(self, crawler: Any) -> None:
        settings = crawler.settings
        if not settings.getbool("BROWSER_ENABLED"):
            raise NotConfigured
        policy = UrlPolicy.from_settings(settings)
        resolver = load_object(settings.get("BROWSER_PROXY_RESOLVER"))(policy)
        self.proxy = GuardProxy(policy, resolver, crawler.stats,
                                connect_timeout=settings.getfloat("DOWNLOAD_TIMEOUT") or 30.0)
        options = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
        # "<-loopback>": loopback and link-local addresses go through it too
        options["proxy"] = {"server": self.proxy.listen(), "bypass": "<-loopback>"}
        settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", options, priority="cmdline")
        crawler.signals.connect(self.engine_started, signal=signals.engine_started)
        crawler.signals.connect(self.engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Any) -> BrowserGuardProxy:
        return cls(crawler)

    async def engine_started(self) -> None:
        await self.proxy.start()

    async def engine_stopped(self) -> None:
        await self.proxy.close()
