"""Catalogue pipeline: hands each page's text to the archive sink, which stores it on the capture
row, updates the watched URL and diffs it against the previous capture when it changed."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import NotConfigured

from archive.sink import PageJob
from crawlers.archiving import ArchiveExtension
from crawlers.items import PageItem


class CataloguePipeline:
    def __init__(self, extension: ArchiveExtension) -> None:
        self.sink = extension.sink

    @classmethod
    def from_crawler(cls, crawler: Any) -> CataloguePipeline:
        extension = crawler.get_extension(ArchiveExtension)
        if extension is None:
            raise NotConfigured("the archive extension is off")
        return cls(extension)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, PageItem) or item.page is None:
            return item
        self.sink.submit_page(PageJob(
            record_id=item.record_id, url=item.url, status=item.status, body=item.body,
            content_type=item.content_type, page=item.page, source=item.source,
            platform=item.platform, etag=item.etag, last_modified=item.last_modified,
        ))
        return item
