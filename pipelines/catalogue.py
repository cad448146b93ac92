"""Catalogue pipeline: hands each page and each re-check result to the archive writer.

The writer process (archive.writer.process) extracts the page's fast text and fingerprint, stores
them on the capture row, classifies short pages (a tombstone answered with 200 is never the page
itself), updates the watched URL and diffs the page against its previous capture when it changed.

The text extraction is the biggest part of the writer's work per page. While the writer keeps up it
is done there, off the crawl's thread; when ``ARCHIVE_SHARE_TEXT_BACKLOG`` or more items wait
for the writer, this pipeline extracts the fast text of the next pages itself, so the two processes
share the work and both cores stay busy. The result is the same either way.
"""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import NotConfigured

from archive.jobs import CheckJob, PageJob, page_body_needed
from archive.text.extract import fast_page_text
from crawlers.extensions.archiving import ArchiveExtension
from crawlers.extensions.requisites import RequisiteFollower
from crawlers.items import CheckItem, ListItem, PageItem


class CataloguePipeline:
    def __init__(self, extension: ArchiveExtension, stats: Any, share_backlog: int,
                 requisites: RequisiteFollower | None = None) -> None:
        self.writer = extension.writer
        self.stats = stats
        self.share_backlog = share_backlog
        self.requisites = requisites

    @classmethod
    def from_crawler(cls, crawler: Any) -> CataloguePipeline:
        extension = crawler.get_extension(ArchiveExtension)
        if extension is None:
            raise NotConfigured("the archive extension is off")
        return cls(extension, crawler.stats,
                   crawler.settings.getint("ARCHIVE_SHARE_TEXT_BACKLOG"),
                   crawler.get_extension(RequisiteFollower))

    def process_item(self, item: Any) -> Any:
        if isinstance(item, CheckItem):
            if item.page is not None:
                self.stats.inc_value("memoryhole/pages")
            self.writer.submit_check(check_job(item))
        elif isinstance(item, PageItem):
            self.stats.inc_value("memoryhole/pages")
            follower = self.requisites if item.fetch_requisites and item.status == 200 else None
            if item.page is None and 0 <= self.share_backlog <= self.writer.backlog():
                item.page = fast_page_text(
                    item.body, item.content_type,
                    requisites_of=item.url if follower is not None else None,
                    requisites_limit=follower.limit if follower is not None else 0)
                self.stats.inc_value("memoryhole/text_in_crawl")
            limit = 0
            if follower is not None:
                if item.page is not None and item.page.requisites is not None:
                    follower.accept(item.url, item.page.requisites)
                else:                      # the archive writer lists them with the text
                    limit = follower.limit
                    follower.expect()
            self.writer.submit_page(page_job(item, requisites_limit=limit))
        elif isinstance(item, ListItem):
            self.stats.inc_value("memoryhole/lists")
            self.writer.submit_list(item.job)
        return item


def page_job(item: PageItem, requisites_limit: int = 0) -> PageJob:
    return PageJob(
        record_id=item.record_id, url=item.url, status=item.status,
        body=item.body if page_body_needed(item.page) else None,
        content_type=item.content_type, page=item.page, source=item.source,
        platform=item.platform, etag=item.etag, last_modified=item.last_modified,
        good=item.good, requisites_limit=requisites_limit, watch_text=item.watch_text,
        listed_at=item.listed_at,
    )


def check_job(item: CheckItem) -> CheckJob:
    verdict = item.verdict
    return CheckJob(
        url_id=item.row["id"], url=item.row["url"], checked_at=item.checked_at,
        outcome=verdict.outcome, reason=verdict.reason, rule=verdict.rule,
        detail=verdict.detail, http_status=verdict.http_status or item.status,
        record_id=item.record_id, page=page_job(item.page) if item.page is not None else None,
        retry_after=verdict.retry_after,
        offsets=tuple(item.offsets) if item.offsets else None,
        answer=item.answer, probe_answer=item.probe_answer,
        control=bool(item.row.get("control")) and item.vantage is None,
        vantage=item.vantage,
    )
