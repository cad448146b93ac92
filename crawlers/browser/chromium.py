"""Finding Chromium, and the Scrapy settings that render pages in it (crawlers.browser.recorder does
the rendering). Light on purpose: the ``memoryhole`` command imports it before every crawl."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

# WebRTC sends UDP, which no HTTP proxy carries: only through the proxy (crawlers.browser.proxy)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--webrtc-ip-handling-policy=disable_non_proxied_udp"]
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"


class BrowserMissing(RuntimeError):
    """No Chromium to render with."""


def find_chromium(configured: str | None = None) -> str:
    """The Chromium to launch: ``[browser] executable``, else ``$MEMORYHOLE_CHROMIUM``, else
    the first of :data:`CANDIDATES` on the PATH."""
    for candidate in (configured, os.environ.get("MEMORYHOLE_CHROMIUM")):
        if candidate:
            if not Path(candidate).is_file():
                raise BrowserMissing(f"Chromium not found at {candidate}; fix [browser] "
                                     "executable (or $MEMORYHOLE_CHROMIUM)")
            return candidate
    for name in CANDIDATES:
        if found := shutil.which(name):
            return found
    raise BrowserMissing('render = "browser" needs Chromium: apt-get install -y chromium, or '
                         "set [browser] executable (or $MEMORYHOLE_CHROMIUM) to its path")


def find_certutil() -> str:
    """NSS's certutil (Debian's libnss3-tools), which gives ``[crawl] ca_file``'s trust anchors
    to Chromium (crawlers.tls)."""
    found = shutil.which("certutil")
    if found is None:
        raise BrowserMissing('[crawl] ca_file with render = "browser" needs certutil to give the '
                             "anchors to Chromium: apt-get install -y libnss3-tools")
    return found


def browser_settings(executable: str, *, timeout_s: float, concurrency: int) -> dict[str, Any]:
    """Scrapy settings that route ``meta["playwright"]`` requests through Chromium, at most
    ``concurrency`` pages at once (crawlers.spiders.rendered starts them one by one).
    Contexts are not capped (scrapy-playwright would make a request wait for one): each closes
    after its last page, so no more are open than pages are."""
    return {
        "DOWNLOAD_HANDLERS": {"http": HANDLER, "https": HANDLER},
        "BROWSER_CONCURRENCY": concurrency,
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": {"executable_path": executable, "args": CHROMIUM_ARGS,
                                      "headless": True},
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": int(timeout_s * 1000),
        "BROWSER_ENABLED": True,
    }
