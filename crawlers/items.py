"""Items the spiders yield."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from archive.jobs import ListJob, PageText

# the key, in the source dict a page URL travels with, of the time the feed that listed the page
# gives it (crawlers.spiders.news), which its PageItem carries as ``listed_at``
LISTED_AT = "listed_at"


@dataclass
class PageItem:
    """One archived page response (any status) of a URL memoryhole watches."""

    url: str                       # the response URL (after redirects)
    status: int
    record_id: str                 # WARC-Record-ID of the response record
    body: bytes                    # decoded body (Content-Encoding removed)
    content_type: str | None
    source: str | None = None
    platform: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    page: PageText | None = None   # the fast text, if the spider made it (else the writer does)
    good: bool | None = None       # False: a 2xx that is a tombstone, wall or not-found page
    fetch_requisites: bool = False  # a crawl's page: fetch its requisites (crawlers.extensions)
    watch_text: bool = True        # False: watched for its existence only (a channel's card)
    listed_at: str | None = None   # the time the feed that listed it gives it (ISO-8601 UTC)


@dataclass
class CheckItem:
    """One re-check of a watched URL: the classifier's verdict and, for a 2xx, the page."""

    row: dict[str, Any]            # the urls row (archive.catalogue.due.select_urls)
    verdict: Any                   # archive.detect.classify.Verdict
    status: int | None
    record_id: str | None
    page: PageItem | None
    checked_at: datetime
    offsets: list[str] | None = None
    answer: str | None = None      # archive.detect.run.answer_fingerprint of the answer
    probe_answer: str | None = None   # the soft-404 probe's, for a soft_404 verdict
    vantage: str | None = None     # checked from this [[vantage]] (None: the control)


@dataclass
class ListItem:
    """The items an archived list page showed (a channel page): archive.writer.lists records
    them."""

    job: ListJob
