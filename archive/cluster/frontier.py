"""A cluster run's jobs, as its owner plans them: a re-check's ``check`` jobs
(:meth:`Frontier.checks`,
one per URL the selection picks), and a crawl's jobs from its sources and URLs, with the pages that
its feeds and sitemaps list handed out as jobs of their own, each URL once per run.

A ``source`` job is a source's job dict (crawlers.launch) with at most :data:`URLS_PER_JOB` of its
URLs: the worker fetches them as the news spider would (a feed, a sitemap and its indexes, a
Telegram channel, a Weibo timeline with its posts and comments, a list of pages). The pages a
feed or sitemap lists come back in the result (``discovered``) and become ``pages`` jobs here, so
that a sitemap of 10,000 articles is spread over every worker, and a URL that two sources list
is fetched once in the run. Each job carries ``last``: the last full capture of each URL it
names that the catalogue knows, so that an unchanged page is written as a revisit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from archive.catalogue import db as catalogue
from archive.catalogue.due import Selection, select_urls
from archive.cluster import codec
from archive.home import Home
from archive.jobs import WriterSettings
from archive.timeutil import utcnow
from archive.urlnorm import canonical_url
from archive.writer.pages import PageRecorder

URLS_PER_JOB = 20        # URLs of a source, or pages, in one job: small jobs spread evenly

T = TypeVar("T")


def chunked(values: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


class Frontier:
    """The jobs of one run (``run_id``); :meth:`discovered` is called from one thread at a time
    (the owner's results thread, after :meth:`plan`)."""

    def __init__(self, home: Home, run_id: int) -> None:
        self.run_id = run_id
        self._db = catalogue.open_existing(home.db_path)
        self._pages = PageRecorder(self._db, home, WriterSettings(), None,
                                   first_recheck=timedelta(0))
        self._seen: set[str] = set()
        self._count = 0

    def close(self) -> None:
        self._db.conn.close()

    def checks(self, selection: dict[str, Any]) -> list[dict[str, Any]]:
        """One ``check`` job per URL ``selection`` (archive.catalogue.due.Selection's fields)
        picks, each with the URL's last full capture."""
        rows = select_urls(self._db, Selection(**{k: tuple(v) if isinstance(v, list) else v
                                                  for k, v in selection.items()}), utcnow())
        return [{"run": self.run_id, "id": f"{self.run_id}:check:{row['id']}", "kind": "check",
                 "row": row, "last": self._last(row["url"])} for row in rows]

    def plan(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        """The first jobs of a crawl ``job`` (the job file a local crawl process would get)."""
        jobs = []
        for source in job.get("sources", []):
            for urls in chunked(source["urls"], URLS_PER_JOB):
                self._seen.update(canonical_url(url) for url in urls)
                jobs.append(self._job("source", urls, source={**source, "urls": urls}))
        extra = {"name": job.get("extra_source")}
        return jobs + self.discovered([[url, extra] for url in job.get("urls", [])])

    def discovered(self, pages: list[Any]) -> list[dict[str, Any]]:
        """``pages`` jobs for those of ``pages`` (``[url, source]``) not yet in this run."""
        new = []
        for url, source in pages:
            key = canonical_url(url)
            if key not in self._seen:
                self._seen.add(key)
                new.append([url, source])
        return [self._job("pages", [url for url, _ in chunk], pages=chunk)
                for chunk in chunked(new, URLS_PER_JOB)]

    def _job(self, kind: str, urls: list[str], **fields: Any) -> dict[str, Any]:
        self._count += 1
        last = {url: hint for url in urls if (hint := self._last(url)) is not None}
        return {"run": self.run_id, "id": f"{self.run_id}:{kind}:{self._count}", "kind": kind,
                "last": last, **fields}

    def _last(self, url: str) -> dict[str, Any] | None:
        """The URL's last full capture, as a job's ``last`` names it (None: the catalogue has
        none)."""
        return codec.revisit_hint(self._pages.last_full_capture(url))
