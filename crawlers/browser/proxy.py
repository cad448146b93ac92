"""The browser's one way out: a forward proxy in the crawl process that applies the URL policy
(crawlers.safety) to every connection Chromium makes.

``page.route`` sees neither redirect hops nor pages a page opens, and Chromium resolves names
itself, so a lookup beside it can be rebound (NOTES.md): the only check that holds is on the
address actually connected to. Chromium is launched with this proxy, loopback included
(``--proxy-bypass-list=<-loopback>``; Chromium otherwise goes direct to loopback and link-local
addresses), so every context without a proxy of its own reaches the network only through it:
navigations and their redirect hops, popups, iframes, workers, fetch, WebSockets (WebRTC's UDP,
which no HTTP proxy carries, is off: crawlers.browser.chromium). For every plain HTTP request
(absolute form) and every CONNECT tunnel (HTTPS, WebSockets):

- the URL policy first: scheme, host, loopback names, IP literals;
- the proxy looks the name up itself (:class:`ProxyResolver`, ``BROWSER_PROXY_RESOLVER``): a
  name that does not resolve is refused; addresses the policy refuses are dropped, as the Scrapy
  path's resolver drops them, and with none left the connection is refused;
- it connects to exactly an address it checked: no second lookup, no DNS rebinding.

A refused CONNECT is answered 403 (Chromium: ``net::ERR_TUNNEL_CONNECTION_FAILED``); a refused
plain request's connection is closed unanswered (``net::ERR_EMPTY_RESPONSE``): no answer the
site never gave can be recorded as its. Refusals are counted
(``memoryhole/browser/proxy/refused/<reason>``) and logged with the URL. A plain request goes
out alone on its connection (``Connection: close`` both ways; hop-by-hop headers are the proxy's,
RFC 9110), so no request reaches a host other than the one checked. Bodies stream through in
bounded chunks.

A page loaded through a vantage (crawlers.spiders.rendered) has a guard proxy of its own in its
context, chained to the vantage's proxy (``upstream``, crawlers.browser.upstream): the same URL
policy on every connection, then the destination through the vantage's proxy, which resolves
the names there (none is looked up here, and no address is known: :meth:`address_of` says None).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from crawlers.browser.upstream import Upstream
from crawlers.safety import Refusal, UrlPolicy, literal_address

logger = logging.getLogger(__name__)

CHUNK = 64 * 1024
HEAD_LIMIT = 256 * 1024              # Chromium's own limit on a response head
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authorization"})
_STATS = "memoryhole/browser/proxy"
_HOST = re.compile(r"[a-z0-9._:-]+")            # a name, an IPv4 or IPv6 literal


class Refused(Exception):
    """A connection the URL policy refuses (``refusal.reason`` for counters)."""

    def __init__(self, reason: str, why: str) -> None:
        super().__init__(why)
        self.refusal = Refusal(reason, why)


class ProxyResolver:
    """The proxy's name lookups, under the URL policy. Subclasses may answer differently (the
    tests' fake DNS, tests.support.fakedns)."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy

    async def lookup(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to (OSError when it does not)."""
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(info[4][0]) for info in found))

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of ``host`` the proxy may connect to, in the resolver's order; Refused
        when its lookup fails or the policy allows none of them."""
        literal = literal_address(host)
        if literal is not None:
            if not self.policy.address_allowed(literal):
                raise Refused("private_address", f"{literal} is not a public address")
            return [literal]
        try:
            found = await self.lookup(host, port)
        except OSError as exc:
            raise Refused("unresolved", f"{host} does not resolve ({exc})") from None
        allowed = [address for address in found if self.policy.address_allowed(address)]
        if not found:
            raise Refused("unresolved", f"{host} does not resolve")
        if not allowed:
            raise Refused("private_address", f"{host} resolves only to addresses that are not "
                                              f"public ({', '.join(found)})")
        return allowed


class _Broken(Exception):
    """A head that cannot be read or parsed: the connection is closed."""


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    """One message head, up to its blank line; None when the peer closed before sending any."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise _Broken("cut head") from None
    except asyncio.LimitOverrunError:
        raise _Broken("head too long") from None


def _header_lines(head: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The start line and each header line with its lower-case name (continuation lines take
    the name of the line they continue)."""
    lines = head[:-4].split(b"\r\n")
    named: list[tuple[str, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and named:
            named.append((named[-1][0], line))
            continue
        name, colon, _ = line.partition(b":")
        if not colon:
            raise _Broken("header line without a colon")
        named.append((name.strip().lower().decode("latin-1"), line))
    return lines[0], named


def _header(named: list[tuple[str, bytes]], name: str) -> str | None:
    for key, line in named:
        if key == name:
            return line.partition(b":")[2].strip().decode("latin-1")
    return None


def _closing_head(start: bytes, named: list[tuple[str, bytes]], extra: tuple[bytes, ...] = ()
                  ) -> bytes:
    """The head with the proxy's hop-by-hop headers replaced by ``Connection: close`` (and
    ``extra`` lines: an upstream proxy's)."""
    kept = [line for key, line in named if key not in _HOP_BY_HOP]
    return b"\r\n".join([start, *kept, *extra, b"Connection: close"]) + b"\r\n\r\n"


def _split_authority(authority: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``) of a CONNECT request."""
    host, colon, port = authority.rpartition(":")
    host = host.removeprefix("[").removesuffix("]").lower()
    if not colon or not port.isdigit() or not 0 < int(port) < 65536 \
            or not _HOST.fullmatch(host):
        raise _Broken("bad CONNECT authority")
    return host, int(port)


def _plain_url(target: str) -> tuple[str, str, int, str]:
    """(URL without credentials or fragment, host, port, origin-form target) of an
    absolute-form request target."""
    try:
        parts = urlsplit(target)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        raise _Broken("bad request target") from None
    netloc = parts.netloc.rpartition("@")[2]
    url = urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return url, host, port or DEFAULT_PORTS.get(parts.scheme.lower(), 80), path


class GuardProxy:
    """The proxy server (see the module's docstring). :meth:`listen` binds it (synchronous, so
    its address is known before Chromium is launched); :meth:`start` serves on the running
    loop. With ``upstream`` every connection goes through that vantage's proxy (``resolver``
    unused), counted under ``stats_prefix`` and logged with ``where``."""

    def __init__(self, policy: UrlPolicy, resolver: ProxyResolver, stats: Any, *,
                 connect_timeout: float = 30.0, upstream: Upstream | None = None,
                 stats_prefix: str = _STATS, where: str = "") -> None:
        self.policy = policy
        self.resolver = resolver
        self.stats = stats
        self.connect_timeout = connect_timeout
        self.upstream = upstream
        self.prefix, self.where = stats_prefix, where
        self.socket: socket.socket | None = None
        self.server: asyncio.AbstractServer | None = None
        self.handlers: set[asyncio.Task[Any]] = set()
        self.streams: set[asyncio.StreamWriter] = set()        # both ends of each connection
        self.connected: dict[tuple[str, int], set[str]] = {}   # (host, port) -> addresses used

    def listen(self) -> str:
        """Bind 127.0.0.1 on a free port; the proxy's URL for Chromium."""
        self.socket = socket.create_server(("127.0.0.1", 0))
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, sock=self.socket, limit=HEAD_LIMIT)

    async def close(self) -> None:
        """Stop listening and end every connection (their handlers see them closed)."""
        if self.server is not None:
            self.server.close()
        for stream in list(self.streams):
            stream.close()
        if self.handlers:
            await asyncio.wait(list(self.handlers), timeout=5)
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    def address_of(self, url: str) -> str | None:
        """The address this proxy connected to for ``url``'s host and port; None when it
        connected to several (which one answered is not known) or to none."""
        try:
            parts = urlsplit(url)
            key = ((parts.hostname or "").lower(),
                   parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0))
        except ValueError:
            return None
        found = self.connected.get(key, set())
        return next(iter(found)) if len(found) == 1 else None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.handlers.add(task)
        self.streams.add(writer)
        try:
            await self._handle(reader, writer)
        except (_Broken, OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
            logger.debug("browser proxy: connection dropped: %s", exc)
        finally:
            writer.close()
            self.streams.discard(writer)
            if task is not None:
                self.handlers.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if head is None:
            return
        start, named = _header_lines(head)
        request_line = start.decode("latin-1").split(" ")
        if len(request_line) != 3:
            raise _Broken("bad request line")
        method, target, version = request_line
        tunnel = method.upper() == "CONNECT"
        if tunnel:
            host, port = _split_authority(target)
            url, path = f"https://{target}/", ""
        else:
            url, host, port, path = _plain_url(target)
        self.stats.inc_value(f"{self.prefix}/connections")
        try:
            refusal = self.policy.refusal(url)
            if refusal is not None:
                raise Refused(refusal.reason, refusal.why)
            if not tunnel and urlsplit(url).scheme != "http":
                raise Refused("scheme", "only http goes as a plain request; https is tunnelled")
            # through a vantage, the name resolves there
            addresses = [] if self.upstream else await self.resolver.addresses(host, port)
        except Refused as refused:
            self._refused(url, refused.refusal, writer, tunnel)
            return
        connection = await self._connect(addresses, host, port, tunnel)
        if connection is None:
            self.stats.inc_value(f"{self.prefix}/unreachable")
            if tunnel:
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        address, up_reader, up_writer = connection
        if address is not None:
            self.connected.setdefault((host, port), set()).add(address)
        self.streams.add(up_writer)
        try:
            if tunnel:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await self._splice(reader, writer, up_reader, up_writer)
            else:               # to an HTTP proxy: in absolute form, with its credentials
                to_proxy = self.upstream is not None and self.upstream.forwards_plain
                await self._forward(f"{method} {url if to_proxy else path} {version}", named,
                                    reader, writer, up_reader, up_writer,
                                    tuple(self.upstream.proxy_headers()) if to_proxy else ())
        finally:
            up_writer.close()
            self.streams.discard(up_writer)

    def _refused(self, url: str, refusal: Refusal, writer: asyncio.StreamWriter,
                 tunnel: bool) -> None:
        self.stats.inc_value(f"{self.prefix}/refused")
        self.stats.inc_value(f"{self.prefix}/refused/{refusal.reason}")
        logger.warning("browser%s: connection refused: %s (%s)", self.where, url, refusal.why)
        if tunnel:
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")

    async def _connect(self, addresses: list[str], host: str, port: int, tunnel: bool
                       ) -> tuple[str | None, asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the first of ``addresses`` that takes one (the checked addresses:
        the host name is never looked up again); through the upstream proxy, its connection
        (no address known)."""
        if self.upstream is not None:
            try:
                return None, *await self.upstream.open(host, port, tunnel)
            except OSError as exc:          # UpstreamFailed: its message has no credentials
                logger.warning("browser%s: %s", self.where, exc)
                return None
        for address in addresses:
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection(address, port, limit=HEAD_LIMIT),
                    self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                logger.debug("browser proxy: %s port %d: %s", address, port, exc)
                continue
            return address, up_reader, up_writer
        return None

    async def _forward(self, request_line: str, named: list[tuple[str, bytes]],
                       reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter,
                       extra: tuple[bytes, ...]) -> None:
        """One plain request (with ``extra`` header lines) and its answer."""
        if _header(named, "transfer-encoding") is not None:
            raise _Broken("a request body without Content-Length")   # Chromium sends none
        length = _header(named, "content-length") or "0"
        if not length.isdigit():
            raise _Broken("bad Content-Length")
        up_writer.write(_closing_head(request_line.encode("latin-1"), named, extra))
        await _copy(reader, up_writer, int(length))
        while True:
            head = await _read_head(up_reader)
            if head is None:
                return
            start, answer = _header_lines(head)
            status = start.split(b" ", 2)[1:2]
            if status == [b"101"]:                  # switching protocols: a tunnel from here
                writer.write(head)
                await self._splice(reader, writer, up_reader, up_writer)
                return
            if status[:1] and status[0].startswith(b"1"):    # 100, 103: the answer follows
                writer.write(head)
                continue
            writer.write(_closing_head(start, answer))
            break
        # the answer until the server closes; anything more from Chromium is dropped
        relay = asyncio.ensure_future(_copy(up_reader, writer))
        drain = asyncio.ensure_future(_copy(reader, None))
        try:
            await asyncio.wait({relay, drain}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, drain):
                task.cancel()
            await asyncio.gather(relay, drain, return_exceptions=True)

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        """Both ways until Chromium is done with the tunnel (the server's end is passed on to
        it), or the server's side fails."""
        to_server = asyncio.ensure_future(_copy(reader, up_writer, eof=True))
        to_client = asyncio.ensure_future(_copy(up_reader, writer, eof=True))
        pending: set[asyncio.Future[None]] = {to_server, to_client}
        try:
            while to_server in pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if to_client in done and to_client.exception() is not None:
                    break
        finally:
            for task in (to_server, to_client):
                task.cancel()
            await asyncio.gather(to_server, to_client, return_exceptions=True)


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None,
                length: int | None = None, eof: bool = False) -> None:
    """``length`` bytes (None: until the end) from ``reader`` to ``writer`` (None: dropped), a
    chunk at a time; with ``eof`` the end is passed on."""
    left = length
    while left is None or left > 0:
        data = await reader.read(CHUNK if left is None else min(CHUNK, left))
        if not data:
            if left:
                raise asyncio.IncompleteReadError(b"", left)
            break
        if left is not None:
            left -= len(data)
        if writer is not None:
            writer.write(data)
            await writer.drain()
    if eof and writer is not None and writer.can_write_eof():
        with contextlib.suppress(OSError):
            writer.write_eof()
