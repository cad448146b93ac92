"""Safety guard: only http(s), and no private, loopback or link-local IP literals.

Runs first on every request (order 50), redirect hops included. Host names are checked on the
address they resolve to by crawlers.resolver.GuardedResolver.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from crawlers.safety import is_public_address, literal_address

logger = logging.getLogger(__name__)


class BlockedRequest(IgnoreRequest):
    """A request the safety rules refuse."""


class SafetyGuardMiddleware:
    def __init__(self, stats: Any, schemes: list[str], allow_private: bool) -> None:
        self.stats = stats
        self.schemes = {s.lower() for s in schemes}
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any) -> SafetyGuardMiddleware:
        return cls(
            crawler.stats,
            crawler.settings.getlist("SAFETY_ALLOWED_SCHEMES"),
            crawler.settings.getbool("SAFETY_ALLOW_PRIVATE_ADDRESSES"),
        )

    def process_request(self, request: Request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme.lower() not in self.schemes:
            self._block(request, "scheme", f"scheme {parts.scheme!r} is not allowed")
        host = (parts.hostname or "").lower()
        if not host:
            self._block(request, "no_host", "URL has no host")
        if self.allow_private:
            return
        if host == "localhost" or host.endswith(".localhost"):
            self._block(request, "private_address", f"{host} is a loopback name")
        literal = literal_address(host)
        if literal is not None and not is_public_address(literal):
            self._block(request, "private_address", f"{literal} is not a public address")

    def _block(self, request: Request, reason: str, why: str) -> None:
        self.stats.inc_value(f"safety/blocked/{reason}")
        logger.warning("refused %s: %s (allow_private_addresses = true in [crawl] of "
                       "memoryhole.toml allows private addresses)", request.url, why)
        raise BlockedRequest(why)
