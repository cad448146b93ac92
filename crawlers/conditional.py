"""The 304 fast path of the re-check: conditional GETs without Scrapy's request cycle.

A Scrapy request and response cost about 4 ms of CPU on our machines, an aiohttp GET about
0.3 ms (BENCHMARKS.md), and most re-checks of a page with an ETag or a Last-Modified are
answered 304 Not Modified. So the re-check spider first sends those URLs' conditional GETs
through this client, on Scrapy's own asyncio loop:

- a **304** is archived here, through the crawl's ArchiveSink like any response (a
  server-not-modified revisit record and its request record, exactly the headers sent), and
  logged as an alive check with the spider's own verdict;
- **anything else** — 200, 404, a redirect, 5xx, 429, a timeout, a refused connection, a name
  that resolves only to private addresses — is closed unread and the URL goes back to the
  spider, which fetches, archives and classifies it as it always has. The fast path can only
  ever say "not modified"; every other verdict, and every piece of evidence, stays the spider's.

The rules of the Scrapy path hold here too: only the allowed schemes; no private, loopback or
link-local address unless allowed (IP literals before the request, host names on every address
they resolve to); robots.txt asked through Scrapy's own robots middleware (so robots.txt is
fetched, archived and cached once); ``CONCURRENT_REQUESTS`` and ``CONCURRENT_REQUESTS_PER_DOMAIN``
as limits, and the spider's requests start only when this pass is over, so a site never gets
more than its share. It is off (``RECHECK_FAST_304 = False``) when a proxy is configured or a
download delay or AutoThrottle asks for pacing, which only Scrapy's downloader does. A host that
answers its first ``RECHECK_FAST_GIVE_UP`` conditional GETs with something other than a 304
(a server that ignores validators) gets no more of them in this run.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.misc import load_object

from archive.sink import ArchiveSink, SinkError
from archive.timeutil import utcnow
from archive.warc import HttpExchange
from crawlers.addresses import is_public_address, literal_address

logger = logging.getLogger(__name__)

STATS_PREFIX = "recheck/fast"


class PublicOnlyResolver(AbstractResolver):
    """Wraps an aiohttp resolver and drops every address that is not public."""

    def __init__(self, inner: AbstractResolver) -> None:
        self.inner = inner

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        found = await self.inner.resolve(host, port, family)
        public = [entry for entry in found if is_public_address(entry["host"])]
        if not public:
            refused = ", ".join(sorted({entry["host"] for entry in found}))
            raise OSError(f"{host} resolves only to non-public addresses ({refused})")
        return public

    async def close(self) -> None:
        await self.inner.close()


class _PeerResponse(aiohttp.ClientResponse):
    """Keeps the peer address: a 304 has no body, so its connection is released (and its
    transport gone) before the caller could ask."""

    peer: tuple[Any, ...] | None = None

    async def start(self, connection: Any) -> aiohttp.ClientResponse:
        transport = connection.transport
        self.peer = transport.get_extra_info("peername") if transport is not None else None
        return await super().start(connection)


class NotModifiedClient:
    """Sends conditional GETs; archives and reports the 304s, hands every other URL back."""

    def __init__(self, crawler: Any, sink: ArchiveSink) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.sink = sink
        self.schemes = {s.lower() for s in settings.getlist("SAFETY_ALLOWED_SCHEMES")}
        self.allow_private = settings.getbool("SAFETY_ALLOW_PRIVATE_ADDRESSES")
        self.concurrency = max(1, settings.getint("CONCURRENT_REQUESTS"))
        self.per_host = max(1, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
        self.timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.give_up_after = max(1, settings.getint("RECHECK_FAST_GIVE_UP"))
        self.resolver_class = load_object(settings.get("RECHECK_FAST_RESOLVER"))
        self.base_headers = _base_headers(settings)
        self.robots = None
        if settings.getbool("ROBOTSTXT_OBEY"):
            self.robots = _robots_middleware(crawler)
            if self.robots is None:
                raise NotConfigured("ROBOTSTXT_OBEY is on but no robots.txt middleware is")

    @classmethod
    def from_crawler(cls, crawler: Any, sink: ArchiveSink) -> NotModifiedClient:
        """Built when the spider starts (the engine must exist); NotConfigured when off."""
        settings = crawler.settings
        if not settings.getbool("RECHECK_FAST_304"):
            raise NotConfigured("RECHECK_FAST_304 is off")
        if settings.getfloat("DOWNLOAD_DELAY") > 0 or settings.getbool("AUTOTHROTTLE_ENABLED"):
            raise NotConfigured("a download delay or AutoThrottle paces requests")
        if urllib.request.getproxies():
            raise NotConfigured("a proxy is configured")
        return cls(crawler, sink)

    def request_headers(self, row: dict[str, Any]) -> list[tuple[str, str]]:
        """The headers to send for ``row`` (aiohttp adds Host; the request record is made from
        what it actually sent, ``request_info.headers``)."""
        headers = []
        if row.get("etag"):
            headers.append(("If-None-Match", row["etag"]))
        if row.get("last_modified"):
            headers.append(("If-Modified-Since", row["last_modified"]))
        return headers + self.base_headers

    async def check_all(self, rows: list[dict[str, Any]],
                        on_not_modified: Any) -> list[dict[str, Any]]:
        """Check ``rows``; calls ``on_not_modified(row, record_id)`` for each archived 304 and
        returns the rows the spider must check itself, in their original order."""
        queues: dict[str, deque[tuple[int, dict[str, Any]]]] = {}
        for index, row in enumerate(rows):
            queues.setdefault(_host(row["url"]), deque()).append((index, row))
        pass_ = _Pass(self, queues, on_not_modified)
        resolver = PublicOnlyResolver(self.resolver_class()) if not self.allow_private \
            else self.resolver_class()
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.per_host,
                                         resolver=resolver, ssl=False)
        async with aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            response_class=_PeerResponse,
            timeout=aiohttp.ClientTimeout(total=self.timeout or None),
        ) as session:
            workers = [asyncio.ensure_future(pass_.work(session))
                       for _ in range(min(self.concurrency, len(rows)))]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()
        logger.info("conditional GETs: %d not modified, %d left to the spider",
                    pass_.not_modified, len(pass_.fallback))
        return [row for _, row in sorted(pass_.fallback, key=lambda pair: pair[0])]

    def allowed(self, url: str) -> bool:
        """The guard's checks that need no network: scheme, and IP-literal or loopback hosts."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in self.schemes or not parts.hostname:
            return False
        if self.allow_private:
            return True
        host = parts.hostname.lower()
        if host == "localhost" or host.endswith(".localhost"):
            return False
        literal = literal_address(host)
        return literal is None or is_public_address(literal)

    async def robots_allow(self, url: str) -> bool:
        if self.robots is None:
            return True
        try:
            await self.robots.process_request(Request(url))
        except IgnoreRequest:
            return False
        return True


class _Pass:
    """One run over the queued rows: per-host queues taken round-robin within the limits."""

    def __init__(self, client: NotModifiedClient,
                 queues: dict[str, deque[tuple[int, dict[str, Any]]]],
                 on_not_modified: Any) -> None:
        self.client = client
        self.queues = queues
        self.on_not_modified = on_not_modified
        self.ready: deque[str] = deque(queues)
        self.in_ready = set(queues)
        self.active: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()       # per host: 304s
        self.misses: Counter[str] = Counter()        # per host: anything else
        self.changed = asyncio.Event()
        self.fallback: list[tuple[int, dict[str, Any]]] = []
        self.not_modified = 0

    def take(self) -> tuple[str, int, dict[str, Any]] | None:
        while self.ready:
            host = self.ready.popleft()
            self.in_ready.discard(host)
            queue = self.queues[host]
            if not queue:
                continue
            index, row = queue.popleft()
            self.active[host] += 1
            self._offer(host)
            return host, index, row
        return None

    def _offer(self, host: str) -> None:
        if self.queues[host] and self.active[host] < self.client.per_host \
                and host not in self.in_ready:
            self.ready.append(host)
            self.in_ready.add(host)

    def pending(self) -> bool:
        return any(self.queues.values()) or sum(self.active.values()) > 0

    async def work(self, session: aiohttp.ClientSession) -> None:
        while True:
            taken = self.take()
            if taken is None:
                if not self.pending():
                    return
                self.changed.clear()
                await self.changed.wait()
                continue
            host, index, row = taken
            try:
                answered = await self.check(session, host, row)
            finally:
                self.active[host] -= 1
                self._offer(host)
                self.changed.set()
            if not answered:
                self.fallback.append((index, row))
                self.misses[host] += 1
                if self.answers[host] == 0 and self.misses[host] >= self.client.give_up_after:
                    self.give_up(host)

    def give_up(self, host: str) -> None:
        left = self.queues[host]
        if left:
            self.client.stats.inc_value(f"{STATS_PREFIX}/hosts_given_up")
            logger.info("conditional GETs to %s get no 304: the spider checks its %d other "
                        "URL(s)", host, len(left))
        self.fallback.extend(left)
        left.clear()

    async def check(self, session: aiohttp.ClientSession, host: str,
                    row: dict[str, Any]) -> bool:
        """True when a 304 was archived and reported; False hands the row to the spider."""
        client = self.client
        url = row["url"]
        if not client.allowed(url) or not await client.robots_allow(url):
            return False
        headers = client.request_headers(row)
        stats = client.stats
        stats.inc_value(f"{STATS_PREFIX}/requests")
        try:
            async with session.get(yarl.URL(url, encoded=True), headers=headers,
                                   allow_redirects=False) as response:
                if response.status != 304:
                    stats.inc_value(f"{STATS_PREFIX}/not_304/{response.status}")
                    response.close()
                    return False
                peer = getattr(response, "peer", None)
                body = await response.read()
                version = response.version
                exchange = HttpExchange(
                    url=url, status=304, reason=response.reason or "",
                    response_headers=[(k.decode("latin-1"), v.decode("latin-1"))
                                      for k, v in response.raw_headers],
                    body=body, date=utcnow(), method="GET",
                    request_headers=list(response.request_info.headers.items()),
                    http_version=f"HTTP/{version.major}.{version.minor}" if version
                    else "HTTP/1.1",
                    ip_address=str(peer[0]) if peer else None,
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            stats.inc_value(f"{STATS_PREFIX}/failed/{type(exc).__name__}")
            return False
        try:
            record_id = client.sink.submit_exchange(exchange)
        except SinkError:
            return False
        stats.inc_value("archive/recorded")
        stats.inc_value("archive/recorded/status/304")
        stats.inc_value(f"{STATS_PREFIX}/not_modified")
        self.answers[host] += 1
        self.not_modified += 1
        self.on_not_modified(row, record_id)
        return True


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _base_headers(settings: Any) -> list[tuple[str, str]]:
    """What Scrapy's header middlewares add to a re-check request, in the order they add it."""
    headers = [(str(k), str(v)) for k, v in (settings.getdict("DEFAULT_REQUEST_HEADERS")
                                             or {}).items()]
    headers.append(("User-Agent", settings.get("USER_AGENT")))
    headers.append(("Accept-Encoding", b", ".join(ACCEPTED_ENCODINGS).decode("ascii")))
    return headers


def _robots_middleware(crawler: Any) -> RobotsTxtMiddleware | None:
    middlewares: Iterable[Any] = crawler.engine.downloader.middleware.middlewares
    return next((mw for mw in middlewares if isinstance(mw, RobotsTxtMiddleware)), None)
