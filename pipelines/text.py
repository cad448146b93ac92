"""Text pipeline: title, fast main text and its fingerprint for every page (archive.text).

This runs on every page, so it uses only the cheap extractor; the full extraction with
trafilatura runs later, in the archive sink, and only for a page whose fingerprint changed.
"""

from __future__ import annotations

import logging
from typing import Any

from archive.sink import PageText
from archive.text import fast_page_text
from crawlers.items import CheckItem, PageItem

logger = logging.getLogger(__name__)


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
        return item
