"""Text pipeline: title, fast main text and its fingerprint for every page (archive.text).

A short 2xx page is also classified (archive.classify): a WeChat tombstone, a captcha wall or a
not-found page answered with 200 is archived as evidence but never becomes the page's last good
capture, nor is it diffed against the article. This runs on every page, so it uses only the
cheap extractor; the full extraction with
trafilatura runs later, in the archive sink, and only for a page whose fingerprint changed.
"""

from __future__ import annotations

import logging
from typing import Any

from archive.classify import Observation, classify, platform_for
from archive.sink import PageText
from archive.text import fast_page_text
from crawlers.items import CheckItem, PageItem

logger = logging.getLogger(__name__)

# Tombstones, walls and not-found pages are short; a page with more text than this is taken as
# the page itself without running the classifier (which costs about 1 ms more per page).
SHORT_PAGE = 3000


class TextPipeline:
    def __init__(self, stats: Any) -> None:
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler: Any) -> TextPipeline:
        return cls(crawler.stats)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, CheckItem) and item.page is not None:
            self.process_item(item.page)
        if not isinstance(item, PageItem):
            return item
        found = fast_page_text(item.body, item.content_type)
        item.page = PageText(title=found.title, text=found.text, text_digest=found.text_digest,
                             encoding=found.encoding)
        self.stats.inc_value("memoryhole/pages")
        if 200 <= item.status < 300 and item.good is None and len(found.text) < SHORT_PAGE:
            verdict = classify(Observation(url=item.url, status=item.status, body=item.body,
                                           platform=platform_for(item.url, item.platform)))
            item.good = verdict.outcome == "alive"
            if not item.good:
                self.stats.inc_value(f"memoryhole/pages_not_alive/{verdict.reason}")
                logger.info("%s is not the page itself: %s (%s)", item.url, verdict.reason,
                            verdict.rule)
        return item
