"""Sources of kind ``telegram``: a public channel through its web preview.

For each channel the spider fetches

- its card, ``<base>/<channel>``, as a page watched for its existence only (its subscriber count
  changes all the time: no diffs): a channel that is banned, deleted or renamed shows the
  generic card there, and its re-checks log an ``account_gone`` deletion;
- its preview, ``<base>/s/<channel>``, and up to ``max_pages`` (default 3) older pages
  (``?before=<id>``). Each page is archived and its messages go to the catalogue as items of the
  channel (archive.writer.lists): a message that was there before, inside the range of ids a page
  shows, and is gone now is a suspected deletion, confirmed through the message's embed page.

A preview that redirects away (t.me does so for a channel with no public preview) shows no
messages: nothing is suspected from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.http import Response

from archive.platforms.registry import source_setting
from archive.platforms.telegram import Channel, list_job, parse_channel_page
from crawlers.items import ListItem
from crawlers.middlewares.recorder import RECORD_ID_META

logger = logging.getLogger(__name__)

PLATFORM = "telegram"


class TelegramPages:
    """Mixed into the news spider (one spider runs a crawl's sources): ``crawler`` is its."""

    crawler: Any

    def telegram_requests(self, source: dict[str, Any],
                          pages: list[tuple[str, dict[str, Any]]]) -> Iterator[Request]:
        source = {**source, "platform": source.get("platform") or PLATFORM}
        for url in source["urls"]:
            channel = Channel.from_url(url)          # validated with the seeds
            # watched for its existence: its subscriber count changes its text all the time
            pages.append((channel.card_url, {**source, "watch_text": False}))
            yield self._preview_request(channel, None, source, 1)

    def _preview_request(self, channel: Channel, before: int | None, source: dict[str, Any],
                         page_no: int) -> Request:
        return Request(channel.page_url(before), callback=self.parse_telegram_page,
                       errback=getattr(self, "failed", None), dont_filter=True,
                       meta={"source": source, "channel": channel, "page_no": page_no,
                             "before": before})

    def parse_telegram_page(self, response: Response) -> Iterator[ListItem | Request]:
        meta = response.meta
        source, channel, page_no = meta["source"], meta["channel"], meta["page_no"]
        stats = self.crawler.stats
        record_id = meta.get(RECORD_ID_META)
        if urlsplit(response.url).path.rstrip("/") != f"/s/{channel.name}":
            stats.inc_value("memoryhole/telegram/no_preview")
            logger.warning("telegram channel %s has no public preview (%s answered with %s); "
                           "its card is watched", channel.name, channel.preview_url, response.url)
            return
        if record_id is None or response.status != 200:
            stats.inc_value("memoryhole/telegram/bad_pages")
            logger.warning("telegram page %s: HTTP %s, no messages read", response.url,
                           response.status)
            return
        content_type = response.headers.get(b"Content-Type")
        page = parse_channel_page(response.body, content_type.decode("latin-1")
                                  if content_type else None, channel, before=meta["before"])
        stats.inc_value("memoryhole/telegram/pages")
        stats.inc_value("memoryhole/telegram/messages", len(page.messages))
        yield ListItem(list_job(page, channel, record_id, source=source.get("name"),
                                platform=source["platform"]))
        limit = source_setting(source, "max_pages") or 0
        if page.before is not None and page_no < limit and page.messages:
            yield self._preview_request(channel, page.before, source, page_no + 1)
