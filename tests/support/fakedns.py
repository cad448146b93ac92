"""A DNS for tests: names ending in ``.test`` resolve to 127.0.0.1, through the real
GuardedResolver, so the address guard is exercised on a host name without touching real DNS.

For the browser's guard proxy (``BROWSER_PROXY_RESOLVER``), :class:`ProxyTestNames`: the same
names, and besides them ``public.test`` (and names below it), a public site of the test's that
happens to be at 127.0.0.1; any other name does not resolve (no real DNS in tests)."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver
from twisted.internet.address import IPv4Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from zope.interface import implementer

from crawlers.browser.proxy import ProxyResolver
from crawlers.resolver import GuardedResolver
from crawlers.safety import UrlPolicy


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        pass


@implementer(IHostnameResolver)
class _StaticNames:
    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback

    def resolveHostName(self, receiver: Any, hostName: str, portNumber: int = 0,  # noqa: N802,N803
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:  # noqa: N803
        if not hostName.endswith(".test"):
            return self.fallback.resolveHostName(receiver, hostName, portNumber, addressTypes,
                                                 transportSemantics)
        receiver.resolutionBegan(_Resolution(hostName))
        receiver.addressResolved(IPv4Address("TCP", "127.0.0.1", portNumber))
        receiver.resolutionComplete()
        return receiver


class TestNamesResolver(GuardedResolver):
    def __init__(self, reactor: Any, cache_size: int, policy: UrlPolicy | None = None) -> None:
        super().__init__(reactor, cache_size, policy)
        self.original_resolver = _StaticNames(self.original_resolver)


class AiohttpTestNames(AbstractResolver):
    """The same names for the re-check's aiohttp client (``FASTPATH_RESOLVER``)."""

    def __init__(self) -> None:
        self.fallback = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[dict[str, Any]]:
        if not host.endswith(".test"):
            return await self.fallback.resolve(host, port, family)
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        await self.fallback.close()


class ProxyTestNames(ProxyResolver):
    """The guard proxy's lookups in tests (see the module's docstring)."""

    async def addresses(self, host: str, port: int) -> list[str]:
        if host == "public.test" or host.endswith(".public.test"):
            return ["127.0.0.1"]              # taken as public: the test's "internet"
        return await super().addresses(host, port)

    async def lookup(self, host: str, port: int) -> list[str]:
        if host.endswith(".test"):
            return ["127.0.0.1"]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
