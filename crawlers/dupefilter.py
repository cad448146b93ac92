"""A duplicate filter that can forget: a ``memoryhole worker`` is one crawl that serves run after
run, and a URL fetched in one run must be fetched again in the next (Scrapy's own filter would
drop it as seen for as long as the worker lives). The same request fingerprints as Scrapy's
(``crawler.request_fingerprinter``); :meth:`RunDupeFilter.forget` starts a new run.

Set as ``DUPEFILTER_CLASS`` in a worker's crawl (crawlers.launch.run_worker).
"""

from __future__ import annotations

from typing import Any

from scrapy import Request
from scrapy.dupefilters import BaseDupeFilter


class RunDupeFilter(BaseDupeFilter):
    def __init__(self, fingerprinter: Any) -> None:
        self.fingerprinter = fingerprinter
        self.seen: set[bytes] = set()

    @classmethod
    def from_crawler(cls, crawler: Any) -> RunDupeFilter:
        return cls(crawler.request_fingerprinter)

    def request_seen(self, request: Request) -> bool:
        fingerprint = self.fingerprinter.fingerprint(request)
        if fingerprint in self.seen:
            return True
        self.seen.add(fingerprint)
        return False

    def forget(self) -> None:
        self.seen.clear()
