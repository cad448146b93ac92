"""Scrapy's downloader with each slot's concurrency held (``DOWNLOADER``).

Scrapy 2.19 under the asyncio reactor counts a request as transferring only when the task that
downloads it starts: the slot's queue is drained while those tasks wait to run, so several
requests to one host can start at once past ``CONCURRENT_REQUESTS_PER_DOMAIN``. Measured on
loopback: 8 to 10 requests at once to a host with a limit of 2, as a spider yields a batch of
requests. Here a request counts as transferring from the moment it leaves its slot's queue, so
``per_domain`` is what the site sees (tests/test_crawl_politeness.py).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from scrapy.core.downloader import Downloader, Slot


class _TransferQueue(deque):
    """A slot's queue whose ``popleft`` counts the request it hands out as transferring."""

    def __init__(self, slot: Slot) -> None:
        super().__init__(slot.queue)
        self.transferring = slot.transferring

    def popleft(self) -> Any:
        entry = super().popleft()
        self.transferring.add(entry[0])          # (request, deferred)
        return entry


class PoliteDownloader(Downloader):
    """:class:`scrapy.core.downloader.Downloader` whose slots count a request as transferring
    as it leaves the queue (Scrapy removes it from ``transferring`` when its download ends)."""

    def _get_slot(self, request: Any, spider: Any = None) -> tuple[str, Slot]:
        key, slot = super()._get_slot(request)
        if not isinstance(slot.queue, _TransferQueue):
            slot.queue = _TransferQueue(slot)
        return key, slot
