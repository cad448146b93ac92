"""A DNS resolver that hands the crawler only the addresses the URL policy (crawlers.safety)
allows: no private, loopback or link-local one unless the config allows them.

Installed as ``TWISTED_DNS_RESOLVER``; every connection, redirect hops included, resolves through
it, so the check is on the address actually connected to (no time-of-check gap as with a separate
lookup). IP-literal hosts never reach a resolver: crawlers.middlewares.guard checks those.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from scrapy.resolver import CachingHostnameResolver
from twisted.internet.interfaces import IResolutionReceiver
from zope.interface import implementer

from crawlers.safety import FIX, UrlPolicy

logger = logging.getLogger(__name__)


@implementer(IResolutionReceiver)
class _PublicOnlyReceiver:
    def __init__(self, receiver: Any, host: str, policy: UrlPolicy) -> None:
        self.receiver = receiver
        self.host = host
        self.policy = policy
        self.refused: list[str] = []

    def resolutionBegan(self, resolution: Any) -> None:  # noqa: N802 - Twisted interface
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        if self.policy.address_allowed(address.host):
            self.receiver.addressResolved(address)
        else:
            self.refused.append(address.host)

    def resolutionComplete(self) -> None:  # noqa: N802
        if self.refused:
            logger.warning(
                "refused %s for %s: not a public address (%s)", ", ".join(self.refused),
                self.host, FIX)
        self.receiver.resolutionComplete()


class GuardedResolver(CachingHostnameResolver):
    """CachingHostnameResolver (IPv4 and IPv6) that drops non-public addresses."""

    def __init__(self, reactor: Any, cache_size: int, policy: UrlPolicy | None = None) -> None:
        super().__init__(reactor, cache_size)
        self.policy = policy or UrlPolicy()

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        cache = crawler.settings.getint("DNSCACHE_SIZE") \
            if crawler.settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache, UrlPolicy.from_settings(crawler.settings))

    def resolveHostName(  # noqa: N802 - Twisted interface
        self,
        resolutionReceiver: Any,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> Any:
        receiver = resolutionReceiver
        if not self.policy.allow_private:
            receiver = _PublicOnlyReceiver(resolutionReceiver, hostName, self.policy)
        super().resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)
        return resolutionReceiver
