"""A DNS resolver that never hands a private, loopback or link-local address to the crawler.

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

from crawlers.safety import is_public_address

logger = logging.getLogger(__name__)


@implementer(IResolutionReceiver)
class _PublicOnlyReceiver:
    def __init__(self, receiver: Any, host: str) -> None:
        self.receiver = receiver
        self.host = host
        self.refused: list[str] = []

    def resolutionBegan(self, resolution: Any) -> None:  # noqa: N802 - Twisted interface
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:  # noqa: N802
        if is_public_address(address.host):
            self.receiver.addressResolved(address)
        else:
            self.refused.append(address.host)

    def resolutionComplete(self) -> None:  # noqa: N802
        if self.refused:
            logger.warning(
                "refused %s for %s: not a public address (set allow_private_addresses = true "
                "in [crawl] of memoryhole.toml to allow it)", ", ".join(self.refused), self.host,
            )
        self.receiver.resolutionComplete()


class GuardedResolver(CachingHostnameResolver):
    """CachingHostnameResolver (IPv4 and IPv6) that drops non-public addresses."""

    def __init__(self, reactor: Any, cache_size: int, allow_private: bool = False) -> None:
        super().__init__(reactor, cache_size)
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        cache = crawler.settings.getint("DNSCACHE_SIZE") \
            if crawler.settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, cache,
                   crawler.settings.getbool("SAFETY_ALLOW_PRIVATE_ADDRESSES"))

    def resolveHostName(  # noqa: N802 - Twisted interface
        self,
        resolutionReceiver: Any,  # noqa: N803
        hostName: str,  # noqa: N803
        portNumber: int = 0,  # noqa: N803
        addressTypes: Sequence[type] | None = None,  # noqa: N803
        transportSemantics: str = "TCP",  # noqa: N803
    ) -> Any:
        receiver = resolutionReceiver
        if not self.allow_private:
            receiver = _PublicOnlyReceiver(resolutionReceiver, hostName)
        super().resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)
        return resolutionReceiver
