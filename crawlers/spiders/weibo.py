"""Sources of kind ``weibo``: a user's timeline or one post, through the mobile JSON API
(archive.platforms.weibo has the endpoints and the JSON).

For a user the spider fetches the timeline and up to ``max_pages`` (default 3) older pages:
the first page is also a watched URL (an account that is banned or closed answers ``"ok": 0``
there, and its re-checks log ``account_gone``); every post is an item of the timeline, so a
post that vanishes is suspected and confirmed at ``statuses/show?id=`` (Weiboscope's method),
whose answer gives the reason. A long post's whole text (``statuses/extend``) is read before the
timeline page's items are stored. For one post, ``statuses/show`` is the watched URL.

For each post (up to ``max_items`` per timeline page), ``comment_pages`` (default 1) pages of
its newest comments and one of its hottest are fetched: every comment is an item of the post's
comment list; one gone from the newest list while the list still covers it is confirmed by
the list (archive.writer.lists).

Answers that are not ``"ok": 1`` (a visitor wall, a login wall, a rate limit) are archived and
read as nothing: no item is suspected from them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from scrapy import Request
from scrapy.http import Response

from archive.jobs import ListJob
from archive.platforms.registry import source_setting
from archive.platforms.weibo import (
    WeiboTarget,
    comments_page,
    loads,
    long_text,
    timeline_page,
    with_long_texts,
)
from crawlers.items import ListItem, PageItem
from crawlers.middlewares.recorder import RECORD_ID_META

logger = logging.getLogger(__name__)

PLATFORM = "weibo"
JSON_HEADERS = {"Accept": "application/json, text/plain, */*",
                "X-Requested-With": "XMLHttpRequest"}


class WeiboPages:
    """Mixed into the news spider (one spider runs a crawl's sources): ``crawler`` is its."""

    crawler: Any

    def weibo_requests(self, source: dict[str, Any],
                       pages: list[tuple[str, dict[str, Any]]]) -> Iterator[Request]:
        source = {**source, "platform": source.get("platform") or PLATFORM}
        for url in source["urls"]:
            target = WeiboTarget.from_url(url)        # validated with the seeds
            if target.uid is not None:
                yield self._weibo_request(target.timeline_url(), self.parse_weibo_timeline,
                                          source, target, page_no=1)
            else:
                assert target.post_id is not None
                yield self._weibo_request(target.status_url(target.post_id),
                                          self.parse_weibo_status, source, target)
                yield from self._comment_requests(target, target.post_id, source)

    def _weibo_request(self, url: str, callback: Any, source: dict[str, Any],
                       target: WeiboTarget, **meta: Any) -> Request:
        return Request(url, callback=callback, errback=getattr(self, "failed", None),
                       headers=JSON_HEADERS, dont_filter=True,
                       meta={"source": source, "target": target, **meta,
                             "handle_httpstatus_list": [200, 403, 404, 410, 418, 432]})

    def _comment_requests(self, target: WeiboTarget, post_id: str,
                          source: dict[str, Any]) -> Iterator[Request]:
        if (source_setting(source, "comment_pages") or 0) <= 0:
            return
        yield self._weibo_request(target.comments_url(post_id), self.parse_weibo_comments,
                                  source, target, post_id=post_id, page_no=1, hot=False)
        yield self._weibo_request(target.hot_comments_url(post_id), self.parse_weibo_comments,
                                  source, target, post_id=post_id, page_no=1, hot=True)

    def _answer(self, response: Response) -> dict[str, Any] | None:
        data = loads(response.body) if response.status == 200 else None
        if data is None or response.meta.get(RECORD_ID_META) is None:
            self.crawler.stats.inc_value("memoryhole/weibo/not_ok")
            logger.warning("weibo %s: HTTP %s, not an ok answer (a wall, a rate limit or an "
                           "error): archived, nothing read", response.url, response.status)
            return None
        return data

    def _watched(self, response: Response, source: dict[str, Any]) -> PageItem:
        headers = response.headers
        content_type = headers.get(b"Content-Type")
        return PageItem(url=response.url, status=response.status,
                        record_id=response.meta[RECORD_ID_META], body=response.body,
                        content_type=content_type.decode("latin-1") if content_type else None,
                        source=source.get("name"), platform=source["platform"])

    def parse_weibo_timeline(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        source, target, page_no = meta["source"], meta["target"], meta["page_no"]
        if page_no == 1 and meta.get(RECORD_ID_META) is not None:
            yield self._watched(response, source)     # the account's own watched URL
        data = self._answer(response)
        if data is None:
            return
        page = timeline_page(data, target, meta[RECORD_ID_META], source=source.get("name"),
                             platform=source["platform"], since_id=meta.get("since_id"))
        self.crawler.stats.inc_value("memoryhole/weibo/timeline_pages")
        if page.long_text_ids:          # the items are stored once their whole texts are read
            yield self._long_text_request(page.job, list(page.long_text_ids), {}, source, target)
        else:
            yield ListItem(page.job)
        limit = source.get("max_items")
        for post_id in page.post_ids[:limit] if limit else page.post_ids:
            yield from self._comment_requests(target, post_id, source)
        if page.since_id and page_no < (source_setting(source, "max_pages") or 0):
            yield self._weibo_request(target.timeline_url(page.since_id),
                                      self.parse_weibo_timeline, source, target,
                                      page_no=page_no + 1, since_id=page.since_id)

    def _long_text_request(self, job: ListJob, left: list[str], texts: dict[str, str | None],
                           source: dict[str, Any], target: WeiboTarget) -> Request:
        """The next long post's whole text; the page's items travel along until the last."""
        request = self._weibo_request(target.extend_url(left[0]), self.parse_weibo_long_text,
                                      source, target, list_job=job, long_left=left,
                                      long_texts=texts)
        return request.replace(errback=self.failed_weibo_long_text)

    def parse_weibo_long_text(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        data = self._answer(response)
        whole = long_text(data) if data is not None else None
        self.crawler.stats.inc_value("memoryhole/weibo/long_texts" if whole is not None
                                     else "memoryhole/weibo/long_texts_missing")
        yield from self._next_long_text(meta, whole)

    def failed_weibo_long_text(self, failure: Any) -> Iterator[Any]:
        logger.warning("weibo: the whole text of %s was not read: %s", failure.request.url,
                       failure.value)
        self.crawler.stats.inc_value("memoryhole/weibo/long_texts_missing")
        yield from self._next_long_text(failure.request.meta, None)

    def _next_long_text(self, meta: dict[str, Any], whole: str | None) -> Iterator[Any]:
        left, texts = meta["long_left"], {**meta["long_texts"], meta["long_left"][0]: whole}
        if left[1:]:
            yield self._long_text_request(meta["list_job"], left[1:], texts, meta["source"],
                                          meta["target"])
        else:
            yield ListItem(with_long_texts(meta["list_job"], texts))

    def parse_weibo_status(self, response: Response) -> Iterator[PageItem]:
        if response.meta.get(RECORD_ID_META) is not None:
            yield self._watched(response, response.meta["source"])

    def parse_weibo_comments(self, response: Response) -> Iterator[Any]:
        meta = response.meta
        source, target = meta["source"], meta["target"]
        data = self._answer(response)
        if data is None:
            return
        job = comments_page(data, target, meta["post_id"], meta[RECORD_ID_META], hot=meta["hot"],
                            source=source.get("name"), platform=source["platform"])
        self.crawler.stats.inc_value("memoryhole/weibo/comment_pages")
        yield ListItem(job)
        pages = source_setting(source, "comment_pages") or 0
        if not meta["hot"] and meta["page_no"] < pages and job.items:
            yield self._weibo_request(
                target.comments_url(meta["post_id"], meta["page_no"] + 1),
                self.parse_weibo_comments, source, target, post_id=meta["post_id"],
                page_no=meta["page_no"] + 1, hot=False)
