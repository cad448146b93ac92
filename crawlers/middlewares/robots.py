"""robots.txt that holds for concurrent requests.

Scrapy 2.19's RobotsTxtMiddleware hands the parser only to the first request waiting on a host's
robots.txt; requests that arrived while it was downloading get ``None`` and go out unchecked
(``maybe_deferred_to_future`` consumes the shared Deferred's result). Here the later requests wait
until the parser (or the failure to get one) is in place, then ask again.
"""

from __future__ import annotations

import asyncio
from typing import Any

from scrapy import Request
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware as ScrapyRobotsTxt
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

WAIT_STEP = 0.02


class RobotsTxtMiddleware(ScrapyRobotsTxt):
    async def robot_parser(self, request: Request) -> Any:
        netloc = urlparse_cached(request).netloc
        while isinstance(self._parsers.get(netloc), Deferred):
            await asyncio.sleep(WAIT_STEP)
        return await super().robot_parser(request)
