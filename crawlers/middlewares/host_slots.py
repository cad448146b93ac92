"""``per_domain`` across a cluster's workers: every download of a ``memoryhole worker`` first takes
one of its host's shared slots in Redis (archive.cluster.slots) and gives it back when the answer
(or the failure) comes in, so a site sees at most ``CONCURRENT_REQUESTS_PER_DOMAIN`` requests at
once from all the workers together, as from one process.

It sits last before the download (the highest number): robots.txt and the address guard have
passed, and the slot is held only around the download itself. A request waiting for a slot
waits in ``process_request`` (a coroutine, the reactor runs on); it counts among the
downloader's active requests, so the worker reads no more jobs meanwhile. Held slots' leases are
renewed every third of ``CLUSTER_SLOT_LEASE``; a dead worker's slots free themselves when their
lease ends. Only in a worker's crawl (``CLUSTER_WORKER_NAME``); elsewhere NotConfigured.

Redis away (restarting, say): a request waits for its slot and tries again after a growing nap,
one warning per outage (the worker spider's :class:`archive.cluster.keys.Outage`, so the worker
logs it once); it is never downloaded without its slot nor failed for it. A slot not given back
(Redis away) is given back before the next one is taken (archive.cluster.slots), or freed by its
lease; giving back never raises out of the middleware.
"""

from __future__ import annotations

import asyncio
import logging

from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached

from archive.cluster.keys import Keys, Outage, async_client, redis_away
from archive.cluster.slots import HostSlots

logger = logging.getLogger(__name__)

SLOT_META = "memoryhole_host_slot"


class HostSlotsMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.per_domain = max(1, crawler.settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"))
        self.lease = crawler.settings.getfloat("CLUSTER_SLOT_LEASE")
        self.slots: HostSlots | None = None
        self._renewer: asyncio.Task[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> HostSlotsMiddleware:
        if not crawler.settings.get("CLUSTER_WORKER_NAME"):
            raise NotConfigured("not a cluster worker")
        middleware = cls(crawler)
        crawler.signals.connect(middleware.spider_closed, signal=signals.spider_closed)
        return middleware

    def _slots(self) -> HostSlots:
        if self.slots is None:
            cluster = getattr(self.crawler.spider, "cluster", None) or {}
            # the URL comes from the worker's job file, never from the settings Scrapy logs
            client = async_client(cluster["redis"])
            self.slots = HostSlots(client, Keys(cluster.get("home_id", "main")),
                                   self.crawler.settings.get("CLUSTER_WORKER_NAME"), self.lease)
            self._renewer = asyncio.ensure_future(self._renew())
        return self.slots

    async def process_request(self, request: Request) -> None:
        host = (urlparse_cached(request).hostname or "").lower()
        token = await self._acquire(host)
        request.meta[SLOT_META] = token
        self.crawler.stats.inc_value("cluster/host_slots_taken")

    async def _acquire(self, host: str) -> str:
        """One of ``host``'s slots, however long Redis is away (an outage logged once)."""
        slots = self._slots()
        while True:
            try:
                token = await slots.acquire(host, self.per_domain)
            except redis_away() as exc:
                await asyncio.sleep(self._outage().failed(exc))
                continue
            self._outage().ok()
            return token

    def _outage(self) -> Outage:
        """The worker spider's outage: one warning per outage for the whole worker."""
        return self.crawler.spider.outage

    async def process_response(self, request: Request, response: Response) -> Response:
        await self._release(request)
        return response

    async def process_exception(self, request: Request, exception: Exception) -> None:
        await self._release(request)

    async def _release(self, request: Request) -> None:
        token = request.meta.pop(SLOT_META, None)
        if token is not None and self.slots is not None:
            try:
                await self.slots.release(token)
            except redis_away() as exc:         # given back later (or its lease ends)
                self._outage().failed(exc)
            except Exception as exc:  # noqa: BLE001 - the lease frees it
                logger.warning("host slot not given back (its lease frees it): %s", exc)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                if self.slots is not None:
                    await self.slots.renew()
            except asyncio.CancelledError:
                raise
            except redis_away() as exc:         # tried again next time
                self._outage().failed(exc)
            except Exception as exc:  # noqa: BLE001 - try again next time
                logger.warning("renewing host slots: %s", exc)

    async def spider_closed(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        if self.slots is not None:
            try:
                await self.slots.release_all()
            except Exception as exc:  # noqa: BLE001 - their leases free them
                logger.warning("host slots not given back at close: %s", exc)
