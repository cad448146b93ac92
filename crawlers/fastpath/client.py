"""Fast-path GETs on Scrapy's asyncio loop, for the cases where a Scrapy request costs more than it
gives: the re-check's 304s (crawlers.fastpath.not_modified) and a crawl's plain 200 pages
(crawlers.fastpath.pages).

A Scrapy request and response cost an order of magnitude more CPU than an aiohttp GET
(BENCHMARKS.md). A fast-path GET handles one narrow answer itself and hands the URL back
to the spider for anything else, so every unusual case (redirects, errors, retries, limits,
odd encodings) keeps the Scrapy path's handling. What a fast-path GET archives goes through the
crawl's ArchiveWriter like any response: the request record is made from the headers aiohttp
sent (``request_info.headers``), the response record from the raw headers it received.

The rules of the Scrapy path hold here too:

- the URL policy (crawlers.safety): the scheme, host and IP literals before the request, host
  names on every address they resolve to (PolicyResolver);
- robots.txt, asked through Scrapy's own robots middleware, so robots.txt is fetched, archived
  and cached once;
- ``CONCURRENT_REQUESTS`` and ``CONCURRENT_REQUESTS_PER_DOMAIN`` across all fast-path GETs.

Fast-path GETs are off when a proxy is configured, or when a download delay or AutoThrottle asks
for pacing, which only Scrapy's downloader does. A host that answers its first
``FASTPATH_GIVE_UP`` fast-path GETs with something the fast path does not take gets no more of them
in this run.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.request
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import aiohttp
import yarl
from aiohttp.abc import AbstractResolver
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import ACCEPTED_ENCODINGS
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import NotConfigured
from scrapy.utils.misc import load_object

from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.writer.client import ArchiveWriter, WriterError
from crawlers.extensions.archiving import ArchiveExtension
from crawlers.safety import UrlPolicy
from crawlers.tls import client_context, ssl_object_certificates

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C", bound="FastPathClient")
Attempt = Callable[[aiohttp.ClientSession, T], Awaitable[R | None]]
TRANSPORT_ERRORS = (TimeoutError, aiohttp.ClientError, OSError)
POLL_SECONDS = 0.05


class PolicyResolver(AbstractResolver):
    """Wraps an aiohttp resolver and drops every address the URL policy refuses."""

    def __init__(self, inner: AbstractResolver, policy: UrlPolicy) -> None:
        self.inner = inner
        self.policy = policy

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        found = await self.inner.resolve(host, port, family)
        public = [entry for entry in found if self.policy.address_allowed(entry["host"])]
        if not public:
            refused = ", ".join(sorted({entry["host"] for entry in found}))
            raise OSError(f"{host} resolves only to non-public addresses ({refused})")
        return public

    async def close(self) -> None:
        await self.inner.close()


class PeerResponse(aiohttp.ClientResponse):
    """Keeps the peer address and certificates: a response without a body releases its
    connection (and its transport) before the caller could ask."""

    peer: tuple[Any, ...] | None = None
    certificates: tuple[bytes, ...] = ()

    async def start(self, connection: Any) -> aiohttp.ClientResponse:
        transport = connection.transport
        if transport is not None:
            self.peer = transport.get_extra_info("peername")
            self.certificates = ssl_object_certificates(transport.get_extra_info("ssl_object"))
        return await super().start(connection)


def check_allowed(crawler: Any) -> None:
    """NotConfigured when fast-path GETs must not be used in this crawl."""
    settings = crawler.settings
    if settings.getfloat("DOWNLOAD_DELAY") > 0 or settings.getbool("AUTOTHROTTLE_ENABLED"):
        raise NotConfigured("a download delay or AutoThrottle paces requests")
    if urllib.request.getproxies():
        raise NotConfigured("a proxy is configured")


class FastPathClient:
    """The shared part: settings, safety checks, robots.txt, limits and the per-host queues.

    ``stats_prefix`` names this client's counters (``<prefix>/requests``, ...)."""

    stats_prefix = "fastpath"

    def __init__(self, crawler: Any, writer: ArchiveWriter) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.writer = writer
        self.policy = UrlPolicy.from_settings(settings)
        self.ssl = client_context(settings.get("SAFETY_CA_FILE") or None)   # always verifying
        self.concurrency = max(1, settings.getint("CONCURRENT_REQUESTS"))
        self.per_host = max(1, settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
        self.timeout = settings.getfloat("DOWNLOAD_TIMEOUT")
        self.max_size = settings.getint("DOWNLOAD_MAXSIZE")
        self.give_up_after = max(1, settings.getint("FASTPATH_GIVE_UP"))
        self.resolver_class = load_object(settings.get("FASTPATH_RESOLVER"))
        self.base_headers = _base_headers(settings)
        self.robots = None
        # the agent Scrapy's robots middleware asks for (its ROBOTSTXT_USER_AGENT, else USER_AGENT)
        self.robots_agent = settings.get("ROBOTSTXT_USER_AGENT") or settings.get("USER_AGENT")
        if settings.getbool("ROBOTSTXT_OBEY"):
            self.robots = _robots_middleware(crawler)
            if self.robots is None:
                raise NotConfigured("ROBOTSTXT_OBEY is on but no robots.txt middleware is")
        self.active: Counter[str] = Counter()       # per host, over every pass
        self.slots = asyncio.Semaphore(self.concurrency)
        self.freed = asyncio.Event()

    def session(self) -> aiohttp.ClientSession:
        resolver = self.resolver_class()
        if not self.policy.allow_private:
            resolver = PolicyResolver(resolver, self.policy)
        connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=self.per_host,
                                         resolver=resolver, ssl=self.ssl)
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            response_class=PeerResponse,
            timeout=aiohttp.ClientTimeout(total=self.timeout or None),
        )

    def run(self, items: list[T], url_of: Callable[[T], str],
            attempt: Attempt[T, R]) -> FastPass[T, R]:
        """A pass that tries ``attempt`` on every item (a result: answered here; None: left to
        the spider). Iterate it for the results; then its ``left`` holds the other items."""
        return FastPass(self, items, url_of, attempt)

    async def robots_allow(self, url: str) -> bool:
        """What robots.txt says of ``url``, from the robots middleware's parser for its host
        (fetched, archived and cached once). A forbidden URL goes on to the spider, whose
        request the middleware refuses and counts in ``robotstxt/forbidden``, once."""
        if self.robots is None:
            return True
        parser = await self.robots.robot_parser(Request(url))
        return parser is None or parser.allowed(url, self.robots_agent)

    async def get(self, session: aiohttp.ClientSession, url: str,
                  headers: list[tuple[str, str]]) -> aiohttp.ClientResponse | None:
        """A GET of ``url`` as given (no redirects followed, the URL not re-encoded), counted
        in ``<prefix>/requests``; None, with nothing sent, when the address guard or
        robots.txt says no. Use the response with ``async with``."""
        # a refused URL goes on to the spider, whose guard refuses it and counts it, once
        if self.policy.refusal(url) is not None or not await self.robots_allow(url):
            return None
        self.count("requests")
        return await session.get(yarl.URL(url, encoded=True), headers=headers,
                                 allow_redirects=False)

    def scrapy_active(self, host: str) -> int:
        """Scrapy's requests in flight to ``host`` (its downloader slot, keyed by host name)."""
        downloader = getattr(self.crawler.engine, "downloader", None)
        slot = getattr(downloader, "slots", {}).get(host)
        return len(getattr(slot, "active", ()))

    def engine_running(self) -> bool:
        return bool(getattr(self.crawler.engine, "running", True))

    def archive(self, exchange: HttpExchange) -> str | None:
        """Hand ``exchange`` to the archive writer, as the recorder middleware does; its
        WARC-Record-ID, or None when the writer has failed (the spider then fetches the URL and
        meets the same failure on Scrapy's path)."""
        try:
            record_id = self.writer.submit_exchange(exchange)
        except WriterError:
            return None
        self.stats.inc_value("archive/recorded")
        self.stats.inc_value(f"archive/recorded/status/{exchange.status}")
        return record_id

    def count(self, name: str) -> None:
        self.stats.inc_value(f"{self.stats_prefix}/{name}")


def exchange_from(response: aiohttp.ClientResponse, url: str, body: bytes) -> HttpExchange:
    """The exchange as sent and received: aiohttp's sent headers, the raw response headers."""
    peer = getattr(response, "peer", None)
    version = response.version
    return HttpExchange(
        url=url, status=response.status, reason=response.reason or "",
        response_headers=[(k.decode("latin-1"), v.decode("latin-1"))
                          for k, v in response.raw_headers],
        body=body, date=utcnow(), method="GET",
        request_headers=list(response.request_info.headers.items()),
        http_version=f"HTTP/{version.major}.{version.minor}" if version else "HTTP/1.1",
        ip_address=str(peer[0]) if peer else None,
        peer_certificates=getattr(response, "certificates", ()),
    )


class FastPass(Generic[T, R]):
    """One run over items: per-host queues taken round-robin within the client's limits (shared
    with any other pass running at the same time).

    ``async for result in fast_pass`` gives the result of each item the fast path answered, as
    it comes, for the spider to yield (so it flows through Scrapy's item pipeline like any other
    item); at most ``CONCURRENT_REQUESTS`` results wait for the spider, further GETs wait for
    room. Once the iteration is over, :attr:`left` holds the items left to the spider, in their
    original order.
    """

    def __init__(self, client: FastPathClient, items: list[T], url_of: Callable[[T], str],
                 attempt: Attempt[T, R]) -> None:
        self.client = client
        self.count = len(items)
        self.queues: dict[str, deque[tuple[int, T]]] = {}
        for index, item in enumerate(items):
            self.queues.setdefault(_host(url_of(item)), deque()).append((index, item))
        self.attempt = attempt
        self.ready: deque[str] = deque(self.queues)
        self.running = 0
        self.answers: Counter[str] = Counter()       # per host: handled here
        self.misses: Counter[str] = Counter()        # per host: left to the spider
        self.fallback: list[tuple[int, T]] = []

    @property
    def left(self) -> list[T]:
        """The items left to the spider, in their original order (complete once iterated)."""
        return [item for _, item in sorted(self.fallback, key=lambda pair: pair[0])]

    async def __aiter__(self) -> AsyncIterator[R]:
        if not self.count:
            return
        results: asyncio.Queue[R] = asyncio.Queue(maxsize=self.client.concurrency)
        runner = asyncio.ensure_future(self._run_all(results))
        try:
            while True:
                while not results.empty():       # what is ready, without a wait
                    yield results.get_nowait()
                getter = asyncio.ensure_future(results.get())
                done, _ = await asyncio.wait({getter, runner},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                while not results.empty():
                    yield results.get_nowait()
                runner.result()              # a worker's failure is the spider's
                return
        finally:
            if not runner.done():
                runner.cancel()

    async def _run_all(self, results: asyncio.Queue[R]) -> None:
        async with self.client.session() as session:
            # no more workers than could ever run at once (fewer waiting ones polling)
            count = min(self.client.concurrency, self.count,
                        self.client.per_host * len(self.queues))
            workers = [asyncio.ensure_future(self.work(session, results)) for _ in range(count)]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()

    def take(self) -> tuple[str, int, T] | None:
        """The next item of the next host with room, round-robin; hosts at their limit (fast-path
        GETs and Scrapy's own requests to it together) are skipped."""
        client, ready = self.client, self.ready
        for _ in range(len(ready)):
            host = ready.popleft()
            queue = self.queues[host]
            if not queue:
                continue                                # done with this host
            ready.append(host)
            if client.active[host] + client.scrapy_active(host) < client.per_host:
                index, item = queue.popleft()
                client.active[host] += 1
                return host, index, item
        return None

    def pending(self) -> bool:
        return self.running > 0 or any(self.queues.values())

    async def work(self, session: aiohttp.ClientSession, results: asyncio.Queue[R]) -> None:
        client = self.client
        while True:
            if not client.engine_running():
                # the crawl is stopping (Ctrl-C, SIGTERM): Scrapy waits for the callback that
                # runs this pass, so it takes nothing more; what it had not fetched is dropped
                for queue in self.queues.values():
                    queue.clear()
            taken = self.take()
            if taken is None:
                if not self.pending():
                    return
                client.freed.clear()
                try:    # woken by a fast-path GET ending; Scrapy's own end unannounced: poll
                    await asyncio.wait_for(client.freed.wait(), POLL_SECONDS)
                except TimeoutError:
                    pass
                continue
            host, index, item = taken
            self.running += 1
            result: R | None = None
            try:
                async with client.slots:
                    result = await self.attempt(session, item)
            except TRANSPORT_ERRORS as exc:
                client.count(f"failed/{type(exc).__name__}")
            finally:
                self.running -= 1
                client.active[host] -= 1
                client.freed.set()
            if result is not None:
                self.answers[host] += 1
                client.stats.inc_value("fastpath/handled")    # progress: a request and its answer
                await results.put(result)      # waits while the spider is that far behind
                continue
            self.fallback.append((index, item))
            self.misses[host] += 1
            if self.answers[host] == 0 and self.misses[host] >= client.give_up_after:
                self.give_up(host)

    def give_up(self, host: str) -> None:
        left = self.queues[host]
        if left:
            self.client.count("hosts_given_up")
            logger.info("fast-path GETs to %s get no answer the fast path takes: the spider "
                        "fetches its %d other URL(s)", host, len(left))
        self.fallback.extend(left)
        left.clear()


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _base_headers(settings: Any) -> list[tuple[str, str]]:
    """What Scrapy's header middlewares add to a request, in the order they add it."""
    headers = [(str(k), str(v)) for k, v in (settings.getdict("DEFAULT_REQUEST_HEADERS")
                                             or {}).items()]
    headers.append(("User-Agent", settings.get("USER_AGENT")))
    headers.append(("Accept-Encoding", b", ".join(ACCEPTED_ENCODINGS).decode("ascii")))
    return headers


def _robots_middleware(crawler: Any) -> RobotsTxtMiddleware | None:
    middlewares: Iterable[Any] = crawler.engine.downloader.middleware.middlewares
    return next((mw for mw in middlewares if isinstance(mw, RobotsTxtMiddleware)), None)


def client_for(client_class: type[C], crawler: Any, **options: Any) -> C | None:
    """``client_class`` for this crawl, built on its archive writer (with ``options``); None
    (logged) when the fast path is off."""
    extension = crawler.get_extension(ArchiveExtension)
    if extension is None:
        return None
    try:
        return client_class.from_crawler(crawler, extension.writer, **options)
    except NotConfigured as exc:
        logger.info("%s off, requests go through Scrapy: %s", client_class.__name__, exc)
        return None
