"""Safety guard: the URL policy (crawlers.safety) on every request Scrapy sends.

Runs first on every request (order 50), redirect hops included: the scheme, the host, loopback
names and IP literals. Host names are checked on the address they resolve to by
crawlers.resolver.GuardedResolver.
"""

from __future__ import annotations

import logging
from typing import Any

from scrapy import Request
from scrapy.exceptions import IgnoreRequest

from crawlers.safety import FIX, UrlPolicy

logger = logging.getLogger(__name__)


class BlockedRequest(IgnoreRequest):
    """A request the safety rules refuse."""


class SafetyGuardMiddleware:
    def __init__(self, stats: Any, policy: UrlPolicy) -> None:
        self.stats = stats
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Any) -> SafetyGuardMiddleware:
        return cls(crawler.stats, UrlPolicy.from_settings(crawler.settings))

    def process_request(self, request: Request) -> None:
        refusal = self.policy.refusal(request.url)
        if refusal is not None:
            self.stats.inc_value(f"safety/blocked/{refusal.reason}")
            logger.warning("refused %s: %s (%s)", request.url, refusal.why, FIX)
            raise BlockedRequest(refusal.why)
