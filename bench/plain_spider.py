"""The "plain Scrapy" contender: Scrapy's default settings, no WARC, one item per page.

``python -m bench.plain_spider URLS_FILE --concurrency C --stats-file F [--log-file L]``
requests every URL of ``URLS_FILE`` and yields ``{url, status, length}`` per page, as a user
starting from ``scrapy startproject`` would. Only these settings differ from Scrapy's defaults:
the concurrency (global and per domain, as memoryhole's run gets), ``ROBOTSTXT_OBEY`` (on, as
in memoryhole), ``LOG_LEVEL = INFO`` and the telnet console and remote control servers off.
``CONCURRENT_ITEMS = 100`` and ``WARN_ON_GENERATOR_RETURN_VALUE = True`` stay as shipped.
The final crawl stats go to ``--stats-file`` as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from scrapy import Request, Spider
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response


class PlainSpider(Spider):
    name = "plain"

    def __init__(self, urls_file: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.urls_file = urls_file

    async def start(self) -> AsyncIterator[Request]:
        for url in Path(self.urls_file).read_text(encoding="utf-8").split():
            yield Request(url, callback=self.parse)

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        yield {"url": response.url, "status": response.status, "length": len(response.body)}


def plain_settings(concurrency: int, log_file: str | None = None) -> dict[str, Any]:
    """The only settings that differ from Scrapy's defaults."""
    settings: dict[str, Any] = {
        "CONCURRENT_REQUESTS": concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "ROBOTSTXT_OBEY": True,
        "LOG_LEVEL": "INFO",
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
    }
    if log_file:
        settings["LOG_FILE"] = log_file
    return settings


def run(urls_file: Path, concurrency: int, stats_file: Path, log_file: str | None) -> int:
    """Crawl in this process (the reactor runs once) and write the stats; 0 on success."""
    process = CrawlerProcess(plain_settings(concurrency, log_file))
    crawler = process.create_crawler(PlainSpider)
    process.crawl(crawler, urls_file=str(urls_file))
    process.start()
    collected = crawler.stats.get_stats() if crawler.stats else {}
    stats_file.write_text(json.dumps(collected, default=str, sort_keys=True), encoding="utf-8")
    return 0 if collected.get("finish_reason") == "finished" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="plain Scrapy benchmark contender")
    parser.add_argument("urls_file", type=Path)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--stats-file", type=Path, required=True)
    parser.add_argument("--log-file")
    args = parser.parse_args(argv)
    return run(args.urls_file, args.concurrency, args.stats_file, args.log_file)


if __name__ == "__main__":
    raise SystemExit(main())
