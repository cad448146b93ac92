"""A vantage's proxy as the guard proxy's way out (crawlers.browser.proxy, ``upstream``).

A page re-checked through a vantage (crawlers.spiders.rendered) goes through a guard proxy of its
own, chained to the vantage's proxy: the guard applies the URL policy to every connection
Chromium makes (redirect hops and popups included), then reaches the destination through the
vantage's proxy with :class:`Upstream`. Names are not looked up here: they resolve at the
vantage, as on the vantage's other paths (crawlers.fastpath.vantage), so what holds is the URL
policy (schemes, IP literals, loopback names); the vantage's proxy is never asked for its own
loopback, link-local or metadata address by a literal.

- SOCKS5 (``socks5``, ``socks5h``; the name is sent to the proxy either way): every connection
  is one the proxy makes (python-socks, with the proxy's user name and password);
- HTTP(S) proxies: a tunnel is a CONNECT (python-socks; TLS to an ``https`` proxy); a plain
  request goes to the proxy in absolute form with ``Proxy-Authorization``, as a browser sends
  it (a proxy may refuse CONNECT to port 80, and a plain request is what it sees of the site).

The credentials stay in this object: Chromium talks to the local guard without any, they are in
no log (:attr:`Upstream.label` is ``scheme://host:port``) and in no record (the recorder sees
the requests Chromium made). What fails is an :class:`UpstreamFailed`, its message without them.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from urllib.parse import unquote, urlsplit

from python_socks import ProxyError, ProxyTimeoutError, ProxyType
from python_socks.async_.asyncio import Proxy
from python_socks.async_.asyncio.v2 import Proxy as TlsProxy

from archive.urlnorm import without_credentials

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class UpstreamFailed(OSError):
    """The vantage's proxy did not give a connection (down, refused, timed out)."""


class Upstream:
    """One vantage's proxy (``proxy_url``: ``http``, ``https``, ``socks5`` or ``socks5h``, with
    or without ``user:password@``). ``tls``: the context that verifies an ``https`` proxy."""

    def __init__(self, proxy_url: str, tls: ssl.SSLContext | None = None, *,
                 timeout: float = 30.0, limit: int = 2 ** 16) -> None:
        parts = urlsplit(proxy_url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "socks5", "socks5h") or not parts.hostname \
                or parts.port is None:
            raise ValueError("a vantage's proxy is an http(s) or socks5 URL with a port")
        self.socks = scheme.startswith("socks")
        self.host, self.port = parts.hostname, parts.port
        self.label = without_credentials(proxy_url)
        self.tls = (tls or ssl.create_default_context()) if scheme == "https" else None
        self.timeout, self.limit = timeout, limit
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password or "") if parts.username else None

    @property
    def forwards_plain(self) -> bool:
        """Whether plain requests go to the proxy itself, in absolute form."""
        return not self.socks

    def proxy_headers(self) -> list[bytes]:
        """The header lines a plain request to the proxy carries (its credentials)."""
        if self._user is None:
            return []
        token = base64.b64encode(f"{self._user}:{self._password}".encode()).decode("ascii")
        return [f"Proxy-Authorization: Basic {token}".encode("latin-1")]

    async def open(self, host: str, port: int, tunnel: bool) -> Streams:
        """A connection for a request to ``host:port``: to the destination through the proxy
        (SOCKS5; a tunnel through an HTTP proxy), or to the HTTP proxy itself (a plain
        request, :attr:`forwards_plain`). UpstreamFailed when there is none."""
        try:
            async with asyncio.timeout(self.timeout):
                if self.socks:
                    sock = await Proxy(ProxyType.SOCKS5, self.host, self.port, self._user,
                                       self._password, rdns=True).connect(host, port)
                    return await asyncio.open_connection(sock=sock, limit=self.limit)
                if not tunnel:
                    return await asyncio.open_connection(
                        self.host, self.port, ssl=self.tls, limit=self.limit,
                        server_hostname=self.host if self.tls else None)
                stream = await TlsProxy(ProxyType.HTTP, self.host, self.port, self._user,
                                        self._password, proxy_ssl=self.tls).connect(host, port)
                return stream.reader, stream.writer
        except (ProxyError, ProxyTimeoutError, OSError, ValueError) as exc:
            raise UpstreamFailed(f"{self.label}: no connection to {host} port {port} "
                                 f"({type(exc).__name__}: {exc})") from None
