"""Pages rendered in Chromium: sources with ``render = "browser"``, through scrapy-playwright.

Only a crawl with such a source loads scrapy-playwright (crawlers.launch adds
crawlers.browser.chromium's settings); every other request still goes through Scrapy's own HTTP
handler. Debian's Chromium is used as it is (``[browser] executable``, else
``$MEMORYHOLE_CHROMIUM``, else ``chromium`` on the PATH): nothing is downloaded.

scrapy-playwright hands the spider the rendered DOM, not bytes from the wire (NOTES.md), so the
WARC gets what the browser itself received instead: :class:`BrowserRecorder` listens to every
response of the page (the document, its scripts, images, XHR and fetch answers) and writes each
as a response record with its request, ``via = "browser"``. The browser gives bodies already
decoded: their ``Content-Encoding`` is kept as ``X-Memoryhole-Original-Content-Encoding`` and
the length fixed, so every record stays consistent. When the page has settled, its full-page
screenshot (``urn:screenshot:<url>``, image/png) and its DOM (``urn:dom:<url>``, text/html)
follow as resource records, concurrent to the document's record.

Safety: every connection Chromium makes goes through the crawl's guard proxy
(crawlers.browser.proxy), which applies the URL policy (crawlers.safety) to the address actually
connected to, redirect hops, popups and WebSockets included. The recorder's route guard refuses
what needs no lookup (a scheme not configured, an IP literal or a loopback name) before the
request is made; data:, blob: and about: never reach the network. Bodies are bounded by
``DOWNLOAD_MAXSIZE`` as Scrapy's are: one declared (``Content-Length``) or received over it is
not read, or not kept, and never recorded (``memoryhole/browser/too_big``); one Chromium no longer
holds (its inspector evicts bodies of some 20 MB and more) is recorded empty with
``WARC-Truncated``. The full-page screenshot is clipped to ``BROWSER_SCREENSHOT_MAX_HEIGHT`` by
``BROWSER_SCREENSHOT_MAX_WIDTH`` CSS pixels. Pages share a context a few at a time
(crawlers.spiders.rendered), closed after its last page, so a long run keeps no state and its memory
stays bounded; ``[browser] concurrency`` pages at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from crawlers.safety import UrlPolicy

logger = logging.getLogger(__name__)

# the rendered DOM's size as the page's content would be: UTF-8 bytes of its serialisation
_DOM_BYTES = ("() => { const d = document.documentElement; return d ? new TextEncoder()"
              ".encode(d.outerHTML).length : 0; }")


class DomTooLarge(RuntimeError):
    """A rendered DOM over the size limit: the page's download fails with it."""

ORIGINAL_CE_HEADER = "X-Memoryhole-Original-Content-Encoding"
_HOP_HEADERS = frozenset({"content-encoding", "transfer-encoding"})
_LOCAL_SCHEMES = ("data", "blob", "about")      # never reach the network


class BrowserRecorder:
    """Records one rendered page's network responses (one instance per page)."""

    def __init__(self, writer: Any, stats: Any, page_url: str, policy: UrlPolicy,
                 vantage: str | None = None, vantage_is_control: bool = False, *,
                 max_body: int = 0, address_of: Callable[[str], str | None] | None = None
                 ) -> None:
        """``max_body``: bodies larger than this are not recorded (0: no limit);
        ``address_of``: the address connected to for a URL (the guard proxy's
        ``address_of``), else Chromium's own (direct connections)."""
        self.writer = writer
        self.max_body = max_body
        self.address_of = address_of
        self.vantage = vantage          # loaded through this vantage's proxy (None: direct)
        self.vantage_is_control = vantage_is_control
        self.stats = stats
        self.page_url = page_url
        self.policy = policy
        self.document: tuple[str, int] | None = None     # (record id, status) of the document
        self.pending: set[asyncio.Task[None]] = set()
        self.context: Any = None                          # the page's browser context
        self.screenshot: bytes | None = None

    async def attach(self, page: Any) -> None:
        """Before navigation: guard every request, record every response."""
        self.context = page.context
        await page.route("**/*", self._guard)
        page.on("response", self._on_response)

    async def finish(self, page: Any, screenshot_timeout_ms: float,
                     max_size: tuple[int, int]) -> None:
        """Once loaded: wait for the bodies still being read, take the full-page screenshot,
        clipped to ``max_size`` (width, height; ``BROWSER_SCREENSHOT_MAX_*``) CSS pixels from
        the top left."""
        await self.settled()
        await self._bound_dom(page)
        width, height = max_size
        try:
            self.screenshot = await page.screenshot(
                full_page=True, type="png", timeout=screenshot_timeout_ms,
                clip={"x": 0, "y": 0, "width": width, "height": height})
        except Exception as exc:  # noqa: BLE001 - Playwright's errors: the records stay
            logger.warning("browser: %s: no screenshot (%s)", self.page_url, exc)
            return
        shot_width, shot_height = png_size(self.screenshot)
        if shot_width >= width or shot_height >= height:      # the page may go on below
            self.stats.inc_value("memoryhole/browser/screenshot_clipped")

    async def _bound_dom(self, page: Any) -> None:
        """DomTooLarge when the rendered DOM, serialised as UTF-8, is over ``max_body``: a page
        that builds a huge document by script is not read whole into this process (its DOM and
        screenshot are not archived; its responses are, as recorded)."""
        if not self.max_body:
            return
        size = await page.evaluate(_DOM_BYTES)
        if size > self.max_body:
            self.stats.inc_value("memoryhole/browser/dom_too_large")
            raise DomTooLarge(f"the rendered DOM of {self.page_url} is {size} bytes, over the "
                              f"limit of {self.max_body} ([crawl] max_response_mb)")

    async def _guard(self, route: Any) -> None:
        """The URL policy's refusals that need no lookup (schemes, IP literals, loopback
        names); addresses are the guard proxy's (through a vantage, the chained guard proxy
        checks the URL and the vantage resolves the name)."""
        url = route.request.url
        if urlsplit(url).scheme in _LOCAL_SCHEMES:
            await route.continue_()
            return
        refusal = self.policy.refusal(url)
        if refusal is None:
            await route.continue_()
            return
        self.stats.inc_value("memoryhole/browser/blocked")
        if refusal.reason == "private_address":
            logger.warning("browser request to a private address refused: %s", url)
            await route.abort("addressunreachable")
        else:
            await route.abort("blockedbyclient")

    def _on_response(self, response: Any) -> None:
        task = asyncio.ensure_future(self._record(response))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def settled(self, timeout: float = 10.0) -> None:
        """Wait (a while) for the bodies still being read."""
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=timeout)

    async def _body(self, response: Any) -> tuple[bytes, str | None] | None:
        """The body as the browser has it and its ``WARC-Truncated`` reason; None when it is
        over ``max_body`` (declared, received on the wire, or decoded): it is not recorded."""
        if 300 <= response.status < 400:
            return b"", None
        limit = self.max_body
        if limit:
            declared = (response.headers.get("content-length") or "").strip()
            size = int(declared) if declared.isdigit() else None
            if size is None:            # no length given: what came over the wire, once done
                try:
                    size = (await response.request.sizes()).get("responseBodySize")
                except Exception as exc:  # noqa: BLE001 - Playwright raises its own Error kinds
                    logger.debug("no size for %s: %s", response.url, exc)
            if size is not None and size > limit:
                return None
        try:
            body = await response.body()
        except Exception as exc:  # noqa: BLE001 - Playwright raises its own Error kinds
            logger.debug("no body for %s: %s", response.url, exc)
            return b"", "unspecified"
        if limit and len(body) > limit:
            return None
        return body, None

    async def _record(self, response: Any) -> None:
        request = response.request
        read = await self._body(response)
        if read is None:
            self.stats.inc_value("memoryhole/browser/too_big")
            logger.warning("browser: %s: the body is over the limit of %d bytes: not recorded",
                           response.url, self.max_body)
            return
        body, truncated = read
        headers = []
        for name, value in await _header_pairs(response):
            if name.lower() in _HOP_HEADERS:
                if name.lower() == "content-encoding":
                    headers.append((ORIGINAL_CE_HEADER, value))
                continue
            headers.append((name, value))
        # the proxy's credentials are left out by the WARC writer (http_message.request_head)
        request_headers = await _header_pairs(request)
        if not any(name.lower() == "host" for name, _ in request_headers):
            request_headers.insert(0, ("Host", urlsplit(request.url).netloc.rsplit("@", 1)[-1]))
        if self.vantage is not None:    # through a vantage's proxy: the proxy's, none is kept
            address = None
        elif self.address_of is not None:   # through the guard proxy: the address it checked
            address = self.address_of(response.url)
        else:
            server = await response.server_addr() if hasattr(response, "server_addr") else None
            address = server.get("ipAddress") if server else None
        exchange = HttpExchange(
            url=response.url, status=response.status, response_headers=headers, body=body,
            date=utcnow(), method=request.method, request_headers=request_headers,
            request_body=request.post_data_buffer or b"", reason=response.status_text or "",
            ip_address=address, truncated=truncated, vantage=self.vantage,
            vantage_is_control=self.vantage_is_control)
        record_id = self.writer.submit_exchange(exchange, via="browser")
        self.stats.inc_value("memoryhole/browser/responses")
        if (self.document is None and request.is_navigation_request()
                and request.frame == request.frame.page.main_frame
                and not 300 <= response.status < 400):
            self.document = (record_id, response.status)


async def _header_pairs(message: Any) -> list[tuple[str, str]]:
    """A Playwright request's or response's headers as sent on the wire; once its page is
    closed (a navigation that failed after a redirect hop: scrapy-playwright closes the page at
    once), the headers its event carried, so the hop is still recorded."""
    try:
        return [(p["name"], p["value"]) for p in await message.headers_array()]
    except Exception as exc:  # noqa: BLE001 - Playwright raises its own Error kinds
        logger.debug("browser: %s: the headers its event carried (%s)", message.url, exc)
        return list(message.headers.items())


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height of a PNG (its IHDR)."""
    return struct.unpack(">II", png[16:24]) if len(png) >= 24 else (0, 0)


def browser_rss_mb(root_pid: int | None = None) -> float:
    """Resident memory of the Chromium processes started below ``root_pid`` (this process)."""
    root = root_pid or os.getpid()
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            names[int(entry.name)] = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(
                "utf-8", "replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    below: set[int] = set()
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if pid not in below and (parent == root or parent in below):
                below.add(pid)
                changed = True
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in below:
        if "chrom" not in Path(names.get(pid, "")).name:
            continue
        try:
            total += int((Path("/proc") / str(pid) / "statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total / (1024 * 1024)
