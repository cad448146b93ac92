"""Catalogue pipeline: hands each page's text to the archive sink, which stores it on the capture
row, updates the watched URL and diffs it against the previous capture when it changed."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import NotConfigured

from archive.checks import CheckJob
from archive.sink import PageJob
from crawlers.archiving import ArchiveExtension
from crawlers.items import CheckItem, PageItem


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
        if isinstance(item, CheckItem):
            self.sink.submit_check(check_job(item))
        elif isinstance(item, PageItem) and item.page is not None:
            self.sink.submit_page(page_job(item))
        return item


def page_job(item: PageItem) -> PageJob:
    return PageJob(
        record_id=item.record_id, url=item.url, status=item.status, body=item.body,
        content_type=item.content_type, page=item.page, source=item.source,
        platform=item.platform, etag=item.etag, last_modified=item.last_modified,
        good=item.good,
    )


def check_job(item: CheckItem) -> CheckJob:
    verdict = item.verdict
    page = page_job(item.page) if item.page is not None and item.page.page is not None else None
    return CheckJob(
        url_id=item.row["id"], url=item.row["url"], checked_at=item.checked_at,
        outcome=verdict.outcome, reason=verdict.reason, rule=verdict.rule,
        detail=verdict.detail, http_status=verdict.http_status or item.status,
        record_id=item.record_id, page=page, retry_after=verdict.retry_after,
        offsets=tuple(item.offsets) if item.offsets else None,
    )
