"""A crawl's jobs in a ``memoryhole worker`` (mixed into crawlers.spiders.worker.WorkerSpider,
beside the news spider whose callbacks do the fetching): jobs of kind ``source`` and ``pages``
(archive.cluster.frontier).

The jobs read at once (:meth:`ClusterCrawl.crawl_batch`) are done together: their requests go out,
and when the crawl has nothing left in flight (no request scheduled, downloading or being
parsed, no item in the pipelines, no page owing its requisites) one result answers for all of
them, with every record, page and list they made. Scrapy tells which requests a job led to only
by that: a feed's entries, a sitemap index's sitemaps, a Telegram channel's older pages, a
Weibo post's comments and every page's requisites are requests of their own, made in callbacks
and extensions.

The pages a feed or sitemap lists are not fetched here: they go back in the result
(``discovered``) and the owner hands them out as ``pages`` jobs, each URL once per run, to
whichever worker is free. A new run forgets the last one's duplicate filter, requisites and
sitemap counts, as a new crawl process would.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from scrapy import Request

from archive.cluster.frontier import URLS_PER_JOB
from crawlers.dupefilter import RunDupeFilter
from crawlers.extensions.requisites import RequisiteFollower
from crawlers.fastpath.pages import PageUrl
from crawlers.items import PageItem

logger = logging.getLogger(__name__)

CRAWL_KINDS = ("source", "pages")
QUIET_POLLS = 3        # the crawl looked idle this many times in a row (10 ms apart): jobs done
COUNTED = ("memoryhole/", "spider_exceptions/")   # the crawl counters a result carries


class ClusterCrawl:
    """Needs the news spider's methods (``source_requests``, ``pages``) and the worker's
    ``crawler`` and ``sink``."""

    crawler: Any
    sink: Any
    _crawl_run: str | None = None
    _discovered: list[Any] | None = None

    def crawl_batch(self) -> int:
        """How many crawl jobs to read at once: enough URLs to keep ``CONCURRENT_REQUESTS``
        busy, at most ``CLUSTER_CRAWL_BATCH`` (few, so that a run's jobs spread over every
        worker)."""
        settings = self.crawler.settings
        wanted = -(-settings.getint("CONCURRENT_REQUESTS") // URLS_PER_JOB)
        return max(1, min(wanted, settings.getint("CLUSTER_CRAWL_BATCH")))

    def crawl_job_valid(self, job: dict[str, Any]) -> None:
        """ValueError/KeyError/TypeError when ``job`` is no crawl job this worker can do."""
        if job["kind"] == "source":
            if not isinstance(job["source"], dict) or not isinstance(job["source"]["urls"], list):
                raise ValueError("a source job without a source")
        elif not all(isinstance(url, str) and isinstance(source, dict)
                     for url, source in job["pages"]):
            raise ValueError("a pages job with something else than [url, source] pairs")

    async def crawl_jobs(self, batch: list[tuple[str, dict[str, Any]]]
                         ) -> AsyncIterator[Request | PageItem]:
        """The requests of ``batch`` ((stream id, job) pairs of one run); once they are all done,
        their one result goes to the sink's outbox."""
        run = str(batch[0][1]["run"])
        if run != self._crawl_run:
            self._new_run(run)
        before = self._counters()
        self._discovered = []
        own: list[PageUrl] = []
        try:
            for _entry_id, job in batch:
                self.sink.begin_crawl(job)
                if job["kind"] == "source":
                    pages: list[PageUrl] = []
                    for request in self.source_requests(job["source"], pages):
                        yield request
                    own += pages
                else:
                    own += [(url, source) for url, source in job["pages"]]
            async for output in self.fetch_pages(own):
                yield output
            done = await self._until_idle()
            discovered = self._discovered
        finally:
            self._discovered = None
        if not done:            # the crawl is closing: the jobs are redone elsewhere
            return
        after = self._counters()
        counts = {key: after[key] - before.get(key, 0) for key in after
                  if after[key] != before.get(key, 0)}
        self.sink.end_batch(batch, discovered, counts)

    async def fetch_pages(self, pages: list[PageUrl]) -> AsyncIterator[Request | PageItem]:
        """A job's own pages, fetched here (the news spider's ``pages``)."""
        async for output in super().pages(pages):  # type: ignore[misc]
            yield output

    async def pages(self, pages: list[PageUrl]) -> AsyncIterator[Request | PageItem]:
        """The pages a feed or sitemap lists: handed back to the owner (``discovered``)."""
        if self._discovered is None:       # not in a crawl's jobs: as the news spider does
            async for output in super().pages(pages):  # type: ignore[misc]
                yield output
            return
        self._discovered.extend([url, source] for url, source in pages)
        self.crawler.stats.inc_value("cluster/pages_discovered", len(pages))

    async def _until_idle(self) -> bool:
        """Wait until nothing of the crawl is in flight; False when the crawl closes first."""
        engine = self.crawler.engine
        follower = self.crawler.get_extension(RequisiteFollower)
        quiet = 0
        while quiet < QUIET_POLLS:
            await asyncio.sleep(0.01)
            if not engine.running or engine.scheduler is None:
                return False
            busy = (engine.downloader.active or not engine.scraper.slot.is_idle()
                    or engine.scheduler.has_pending_requests()
                    or (follower is not None and follower.pending > 0))
            quiet = 0 if busy else quiet + 1
        return True

    def _new_run(self, run: str) -> None:
        self._crawl_run = run
        scheduler = self.crawler.engine.scheduler
        dupefilter = getattr(scheduler, "df", None)
        if isinstance(dupefilter, RunDupeFilter):
            dupefilter.forget()
        else:
            logger.warning("the duplicate filter is not crawlers.dupefilter.RunDupeFilter: URLs "
                           "fetched in an earlier run are not fetched again")
        follower = self.crawler.get_extension(RequisiteFollower)
        if follower is not None:
            follower.seen.clear()
        if hasattr(self, "_sitemaps_followed"):
            self._sitemaps_followed.clear()

    def _counters(self) -> dict[str, int]:
        return {key: value for key, value in self.crawler.stats.get_stats().items()
                if key.startswith(COUNTED) and isinstance(value, int)}
