"""Progress extension: one JSON line a second on stdout for the parent ``memoryhole`` process,
which shows it as a progress bar on a terminal or as plain log lines under cron."""

from __future__ import annotations

import json
import sys
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

# each shown count is the sum of these stats (fast-path GETs count as requests and responses)
PROGRESS_KEYS = {
    "responses": ("response_received_count", "fastpath/handled"),
    "pages": ("memoryhole/pages",),
    "errors": ("memoryhole/fetch_errors",),
    "requests": ("scheduler/enqueued", "fastpath/handled"),
}


class ProgressExtension:
    def __init__(self, crawler: Any, interval: float) -> None:
        self.crawler = crawler
        self.interval = interval
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> ProgressExtension:
        if not crawler.settings.getbool("PROGRESS_ENABLED"):
            raise NotConfigured
        ext = cls(crawler, crawler.settings.getfloat("PROGRESS_INTERVAL"))
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def snapshot(self) -> dict[str, int]:
        stats = self.crawler.stats
        return {name: sum(int(stats.get_value(key, 0) or 0) for key in keys)
                for name, keys in PROGRESS_KEYS.items()}

    def emit(self) -> None:
        sys.stdout.write(json.dumps({"progress": self.snapshot()}) + "\n")
        sys.stdout.flush()

    def spider_opened(self, spider: Any) -> None:
        self.loop = task.LoopingCall(self.emit)
        self.loop.start(self.interval, now=True)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        self.emit()
