"""Re-checks from a vantage point (``[[vantage]] name, proxy``): the same URLs, fetched
through the vantage's proxy (HTTP or SOCKS5, names resolved at the vantage), archived and
classified like the direct checks, on the fast path's machinery (per-host limits, robots.txt,
the URL policy, verified certificates).

A vantage's check never moves the URL's state: only the control (the direct egress) confirms
a deletion. The archive writer holds each vantage's answer against the control's of the same
run (archive.writer.vantages): alive at the control and failing or walled at the vantage is
``blocked`` there. Records of a vantage's exchanges carry its name (``WARC-Memoryhole-Vantage``)
and no ``WARC-IP-Address`` (the address connected to is the proxy's); the proxy's credentials
are never logged nor archived.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import yarl
from aiohttp_socks import ProxyConnectionError, ProxyConnector, ProxyTimeoutError
from scrapy.exceptions import NotConfigured

from archive.detect.classify import classify
from archive.detect.run import answer_fingerprint
from archive.detect.verdict import Observation
from archive.platforms.registry import platform_for
from archive.text.extract import had_text
from archive.timeutil import utcnow
from archive.urlnorm import without_credentials
from archive.writer.client import ArchiveWriter
from crawlers.fastpath.client import FastPass, FastPathClient, exchange_from
from crawlers.items import CheckItem, PageItem
from crawlers.middlewares.decompression import DecompressionMiddleware
from crawlers.tls import failure_name, is_tls_failure

logger = logging.getLogger(__name__)

DECODABLE = frozenset({b"gzip", b"x-gzip", b"deflate", b"br", b"zstd"})
PROXY_DOWN = (aiohttp.ClientProxyConnectionError, ProxyConnectionError, ProxyTimeoutError)


class VantageClient(FastPathClient):
    """Checks URLs through one vantage's proxy; every URL gets a check, whatever happens."""

    def __init__(self, crawler: Any, writer: ArchiveWriter, name: str, proxy: str,
                 offsets: dict[str, list[str]]) -> None:
        super().__init__(crawler, writer)
        self.name = name
        self.proxy = proxy
        self.offsets = offsets
        self.stats_prefix = f"vantage/{name}"
        parts = urlsplit(proxy)
        self.socks = parts.scheme.lower().startswith("socks")
        self.auth = aiohttp.BasicAuth(unquote(parts.username or ""),
                                      unquote(parts.password or "")) if parts.username else None
        # the proxy as aiohttp's proxy= wants it: credentials passed apart (never in a URL
        # that could reach a log)
        self.proxy_url = without_credentials(proxy)

    @classmethod
    def from_crawler(cls, crawler: Any, writer: ArchiveWriter, name: str = "", proxy: str = "",
                     offsets: dict[str, list[str]] | None = None) -> VantageClient:
        if not name or not proxy:
            raise NotConfigured("no vantage")
        return cls(crawler, writer, name, proxy, offsets or {})

    def session(self) -> aiohttp.ClientSession:
        if not self.socks:
            return super().session()
        connector = ProxyConnector.from_url(self.proxy, rdns=True, ssl=self.ssl,
                                            limit=self.concurrency, limit_per_host=self.per_host)
        return aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=self.timeout or None))

    def check_all(self, rows: list[dict[str, Any]]) -> FastPass[dict[str, Any], CheckItem]:
        """A pass over ``rows``: the check of each from this vantage (no row is left over)."""
        logger.info("re-checking %d URL(s) from vantage %s (%s)", len(rows), self.name,
                    without_credentials(self.proxy))
        return self.run(rows, lambda row: row["url"], self.check)

    async def check(self, session: aiohttp.ClientSession, row: dict[str, Any]) -> CheckItem:
        url = row["url"]
        if self.policy.refusal(url) is not None or not await self.robots_allow(url):
            return self._failed(row, "Refused", "refused by the URL policy or robots.txt")
        self.count("requests")
        kwargs: dict[str, Any] = {"headers": self.base_headers, "allow_redirects": False}
        if not self.socks:
            kwargs.update(proxy=self.proxy_url, proxy_auth=self.auth)
        try:
            async with session.get(yarl.URL(url, encoded=True), **kwargs) as response:
                body, truncated = await self._body(response)
                exchange = exchange_from(response, url, body)
        except PROXY_DOWN as exc:
            self.count("proxy_down")
            return self._failed(row, "ProxyDown", f"the vantage's proxy does not answer "
                                f"({type(exc).__name__})")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            name = _error_name(exc)
            return self._failed(row, name, str(exc) or type(exc).__name__)
        exchange.ip_address = None            # the proxy's: never the server's
        exchange.vantage = self.name
        if truncated:
            exchange.truncated = "length"
        record_id = self.archive(exchange)
        coding = (response.headers.get("Content-Encoding") or "").strip().lower().encode()
        decoded = exchange.body
        if coding in DECODABLE:
            try:
                decoded = DecompressionMiddleware._decode(exchange.body, coding, self.max_size)
            except Exception:  # noqa: BLE001 - bad data or over the limit: cut short
                truncated = True
        location = response.headers.get("Location")
        observation = Observation(
            url=url, status=exchange.status, headers=exchange.response_headers, body=decoded,
            location=str(response.url.join(yarl.URL(location))) if location else None,
            truncated=truncated, platform=platform_for(url, row.get("platform")),
            previous_title=row.get("title"), had_text=had_text(row.get("last_text_digest")))
        self.count(f"status/{exchange.status}")
        page = PageItem(url=url, status=exchange.status, record_id=record_id, body=decoded,
                        content_type=response.headers.get("Content-Type"),
                        source=row.get("source"), platform=row.get("platform")) \
            if record_id is not None and 200 <= exchange.status < 300 else None
        return self._item(row, classify(observation), exchange.status, record_id,
                          answer_fingerprint(observation.status, observation.location, decoded),
                          page)

    async def _body(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        body = bytearray()
        async for chunk in response.content.iter_any():
            body += chunk
            if self.max_size and len(body) > self.max_size:
                return bytes(body[: self.max_size]), True
        return bytes(body), False

    def _failed(self, row: dict[str, Any], error: str, why: str) -> CheckItem:
        logger.info("vantage %s: %s: %s: %s", self.name, row["url"], error, why)
        verdict = classify(Observation(url=row["url"], status=None, error=error,
                                       platform=platform_for(row["url"], row.get("platform"))))
        return self._item(row, verdict, None, None, None)

    def _item(self, row: dict[str, Any], verdict: Any, status: int | None,
              record_id: str | None, answer: str | None,
              page: PageItem | None = None) -> CheckItem:
        """The check; its page (a 2xx) gets its text on its capture, never the URL's."""
        return CheckItem(row=row, verdict=verdict, status=status, record_id=record_id,
                         page=page, checked_at=utcnow(), offsets=self.offsets.get(row["source"])
                         if row.get("source") else None, answer=answer, vantage=self.name)


def _error_name(exc: BaseException) -> str:
    """The name the classifier reads (as :func:`crawlers.tls.failure_name` names Twisted's):
    aiohttp's ``ClientOSError`` is named by its errno (``ConnectionResetError``), a server
    that hung up without an answer is a reset."""
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "ConnectionResetError"
    if isinstance(exc, OSError) and exc.errno and not is_tls_failure(exc):
        return type(OSError(exc.errno, "")).__name__
    return failure_name(_Failure(exc))


class _Failure:
    """What :func:`crawlers.tls.failure_name` reads of a Twisted failure, for an exception."""

    def __init__(self, exc: BaseException) -> None:
        self.value = exc
        self.type = type(exc)
