"""The re-check spider: one conditional GET per watched URL, classified by archive.detect.classify.

Redirects are not followed (a redirect is itself the evidence), every status reaches the
callback, and connection failures reach the errback: a check needs every answer, and none of
them may be lost to Scrapy's defaults. A 200 page whose text changed is compared with a random
sibling URL on the same site (Bar-Yossef's soft-404 probe), once per site folder per run.

URLs with an ETag or Last-Modified first get their conditional GET on the fast path
(crawlers.fastpath.not_modified), which archives the 304s; the spider yields their checks, with
the classifier's verdict like every other answer. It requests every other URL, and every URL
whose conditional GET got any other answer.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from scrapy import Request, Spider
from scrapy.http import Response

from archive.catalogue import db as catalogue
from archive.catalogue.due import Selection, select_urls
from archive.detect.classify import classify, probe_url
from archive.detect.run import answer_fingerprint
from archive.detect.verdict import Observation, SiteProbe, Verdict
from archive.home import Home
from archive.platforms.registry import platform_for
from archive.text.extract import fast_page_text, had_text
from archive.timeutil import utcnow
from crawlers.fastpath.client import client_for
from crawlers.fastpath.not_modified import NotModifiedClient
from crawlers.fastpath.vantage import VantageClient
from crawlers.items import CheckItem, PageItem
from crawlers.middlewares.recorder import RECORD_ID_META, header_pairs
from crawlers.middlewares.retry import STATUS_FINAL
from crawlers.spiders.news import _header
from crawlers.spiders.rendered import BrowserVantage, RenderedPages
from crawlers.tls import failure_name

logger = logging.getLogger(__name__)

CHECK_META = "memoryhole_check"

class RecheckSpider(RenderedPages, Spider):
    name = "recheck"
    # A 5xx is a transient check, re-checked on its own schedule: its requests say STATUS_FINAL
    # (crawlers.middlewares.retry); transport errors still get Scrapy's quick retries, so that
    # one dropped connection does not make a run degraded.

    def __init__(self, selection: dict[str, Any] | None = None,
                 source_offsets: dict[str, list[str]] | None = None,
                 vantages: dict[str, str] | None = None,
                 source_vantages: dict[str, list[str]] | None = None,
                 control_vantage: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # {"name", "proxy"} of the [[vantage]] that is the control; None: the direct egress
        # (crawlers.middlewares.control_proxy sends every request through it)
        self.control_vantage = control_vantage
        self.vantages = vantages or {}                  # name -> proxy URL (a secret)
        self.source_vantages = source_vantages or {}    # source -> vantage names
        self.selection = Selection(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in (selection or {}).items()})
        self.source_offsets = source_offsets or {}
        self.probes: dict[tuple[str, str], SiteProbe | None] = {}
        self.waiting: dict[tuple[str, str], list[dict[str, Any]]] = {}

    async def start(self) -> AsyncIterator[Request | CheckItem]:
        db = catalogue.open_existing(Home(Path(self.settings.get("ARCHIVE_HOME"))).db_path)
        try:
            rows = select_urls(db, self.selection, utcnow())
            everything = list(rows)
        finally:
            db.conn.close()
        self.crawler.stats.set_value("memoryhole/checks_selected", len(rows))
        logger.info("re-checking %d URL(s)", len(rows))
        conditional = [row for row in rows if row.get("etag") or row.get("last_modified")]
        client = client_for(NotModifiedClient, self.crawler) if conditional else None
        if client is not None:
            # conditional GETs on the fast path first (crawlers.fastpath.not_modified): the
            # 304s archived there become checks here, the other rows Scrapy requests
            fast = client.check_all(conditional)
            async for row, record_id in fast:
                yield self.not_modified(row, record_id)
            left = {id(row) for row in fast.left}
            logger.info("conditional GETs: %d not modified, %d left to the spider",
                        len(conditional) - len(left), len(left))
            asked = {id(row) for row in conditional}
            rows = [row for row in rows if id(row) in left or id(row) not in asked]
        for row in rows:
            yield self.check_request(row)
        async for item in self.vantage_checks(everything):      # every URL selected
            yield item

    async def vantage_checks(self, rows: list[dict[str, Any]]
                             ) -> AsyncIterator[CheckItem | Request]:
        """The same URLs from each vantage their source names (crawlers.fastpath.vantage); a
        page the browser rendered whose answer there cannot decide is loaded in Chromium
        through a guard proxy chained to the vantage's proxy, as the control's is directly."""
        for name, proxy in self.vantages.items():
            picked = [row for row in rows if name in self.source_vantages.get(row.get("source")
                                                                              or "", ())]
            client = client_for(VantageClient, self.crawler, name=name, proxy=proxy,
                                offsets=self.source_offsets) if picked else None
            if client is None:
                continue
            async for item in client.check_all(picked):
                if not self._undecided_without_browser(item.row, item.verdict):
                    yield item
                else:
                    self.crawler.stats.inc_value(f"vantage/{name}/checks_in_browser")
                    for request in self.browser_requests(
                            [(item.row["url"], {"render": "browser"})], check=item.row,
                            vantage=BrowserVantage(name, proxy)):
                        yield request

    def not_modified(self, row: dict[str, Any], record_id: str) -> CheckItem:
        """The check of a 304 the fast path archived, with the classifier's verdict on it."""
        verdict = classify(Observation(url=row["url"], status=304, platform=row.get("platform")))
        return CheckItem(row=row, verdict=verdict, status=304, record_id=record_id, page=None,
                         checked_at=utcnow(), offsets=self.source_offsets.get(row.get("source")))

    def check_request(self, row: dict[str, Any]) -> Request:
        headers = {}
        if row.get("etag"):
            headers["If-None-Match"] = row["etag"]
        if row.get("last_modified"):
            headers["If-Modified-Since"] = row["last_modified"]
        return Request(row["url"], headers=headers, callback=self.parse_check,
                       errback=self.check_failed, dont_filter=True,
                       meta={CHECK_META: row, "dont_redirect": True, STATUS_FINAL: True,
                             "handle_httpstatus_all": True})

    def parse_check(self, response: Response) -> Iterator[Any]:
        row = response.meta[CHECK_META]
        page = self._page_item(response, row) if 200 <= response.status < 300 else None
        observation = self._observation(response, row)
        verdict = classify(observation)
        if response.status == 304:
            yield self._item(row, verdict, response, None, observation)
            return
        if self._undecided_without_browser(row, verdict):
            # the HTTP answer of a page a browser rendered says what a script-less reader saw:
            # the check's answer is the page as the browser renders it (this one is evidence)
            self.crawler.stats.inc_value("memoryhole/checks_in_browser")
            yield from self.browser_requests([(row["url"], {"render": "browser"})], check=row,
                                             vantage=self._control_in_browser())
            return
        needs_probe = False
        if (verdict.outcome == "alive" and page is not None and observation.platform == "news"
                and row.get("last_text_digest")):
            page.page = fast_page_text(response.body, page.content_type)   # the writer reuses it
            needs_probe = page.page.text_digest != row["last_text_digest"]
        if not needs_probe:
            yield self._item(row, verdict, response, page, observation)
            return
        key = _folder(row["url"])
        if key in self.probes:
            probed = _with_probe(observation, self.probes[key])
            yield self._item(row, classify(probed), response, page, probed)
            return
        pending = {"row": row, "observation": observation, "page": page,
                   "record_id": response.meta.get(RECORD_ID_META), "status": response.status}
        first = key not in self.waiting
        self.waiting.setdefault(key, []).append(pending)
        if first:
            yield Request(probe_url(row["url"], secrets.token_hex(6)), callback=self.parse_probe,
                          errback=self.probe_failed, dont_filter=True,
                          meta={"probe_key": key, "handle_httpstatus_all": True,
                                STATUS_FINAL: True})

    def _control_in_browser(self) -> BrowserVantage | None:
        """The control's vantage for the browser (None: the direct egress)."""
        control = self.control_vantage
        if control is None:
            return None
        return BrowserVantage(control["name"], control["proxy"], is_control=True)

    def _undecided_without_browser(self, row: dict[str, Any], verdict: Verdict) -> bool:
        """A URL whose last good capture was rendered in the browser, answered over HTTP with
        a page that reads as alive (or as nothing): only the browser can tell."""
        return row.get("via") == "browser" and self.crawler.settings.getbool(
            "BROWSER_ENABLED") and (verdict.outcome == "alive"
                                    or verdict.reason == "empty_replacement")

    async def parse_rendered_check(self, response: Response) -> AsyncIterator[Any]:
        """A re-check's page as the browser rendered it: the verdict is on its DOM."""
        row = response.meta["browser_check"]
        page = await self.rendered_page(response)
        if page is None:
            return
        page.source, page.platform = row.get("source"), row.get("platform")
        observation = Observation(
            url=row["url"], status=page.status, headers=[("Content-Type", page.content_type)],
            body=page.body, platform=platform_for(row["url"], row.get("platform")),
            previous_title=row.get("title"), had_text=had_text(row.get("last_text_digest")))
        yield self._check(row, classify(observation), observation, page.status, page.record_id,
                          page, vantage=response.meta.get("browser_vantage"))

    def parse_probe(self, response: Response) -> Iterator[Any]:
        found = fast_page_text(response.body, _header(response.headers, b"Content-Type")) \
            if response.status == 200 else None
        location = _header(response.headers, b"Location")
        probe = SiteProbe(status=response.status, final_url=response.url,
                          title=found.title if found else None, text=found.text if found else "",
                          answer=answer_fingerprint(response.status, location, response.body))
        yield from self._release(response.meta["probe_key"], probe)

    def probe_failed(self, failure: Any) -> Iterator[Any]:
        logger.info("soft-404 probe failed: %s", failure.getErrorMessage())
        yield from self._release(failure.request.meta["probe_key"], None)

    def _release(self, key: tuple[str, str], probe: SiteProbe | None) -> Iterator[Any]:
        self.probes[key] = probe
        self.crawler.stats.inc_value("memoryhole/probes")
        for pending in self.waiting.pop(key, []):
            probed = _with_probe(pending["observation"], probe)
            yield self._check(pending["row"], classify(probed), probed, pending["status"],
                              pending["record_id"], pending["page"])

    def check_failed(self, failure: Any) -> Iterator[Any]:
        request = failure.request
        row = request.meta.get(CHECK_META) or request.meta["browser_check"]
        error = failure_name(failure)
        observation = Observation(url=row["url"], status=None, error=error,
                                  platform=platform_for(row["url"], row.get("platform")))
        verdict = classify(observation)
        vantage = request.meta.get("browser_vantage")
        logger.info("check failed%s: %s: %s: %s", f" at vantage {vantage}" if vantage else "",
                    row["url"], error, failure.getErrorMessage())
        yield CheckItem(row=row, verdict=verdict, status=None, record_id=None, page=None,
                        checked_at=utcnow(), offsets=self.source_offsets.get(row.get("source")),
                        vantage=vantage)

    def _observation(self, response: Response, row: dict[str, Any]) -> Observation:
        location = _header(response.headers, b"Location")
        return Observation(
            url=row["url"], status=response.status, headers=header_pairs(response.headers),
            body=response.body, location=response.urljoin(location) if location else None,
            platform=platform_for(row["url"], row.get("platform")),
            previous_title=row.get("title"), had_text=had_text(row.get("last_text_digest")),
        )

    def _page_item(self, response: Response, row: dict[str, Any]) -> PageItem | None:
        record_id = response.meta.get(RECORD_ID_META)
        if record_id is None:
            return None
        return PageItem(
            url=response.url, status=response.status, record_id=record_id, body=response.body,
            content_type=_header(response.headers, b"Content-Type"), source=row.get("source"),
            platform=row.get("platform"), etag=_header(response.headers, b"ETag"),
            last_modified=_header(response.headers, b"Last-Modified"),
        )

    def _item(self, row: dict[str, Any], verdict: Verdict, response: Response,
              page: PageItem | None, observation: Observation) -> CheckItem:
        return self._check(row, verdict, observation, response.status,
                           response.meta.get(RECORD_ID_META), page)

    def _check(self, row: dict[str, Any], verdict: Verdict, observation: Observation,
               status: int | None, record_id: str | None, page: PageItem | None,
               vantage: str | None = None) -> CheckItem:
        """The check, with what was answered (and, for a soft-404, what the probe was) so the
        archive writer can tell a portal's answers from the sites' (archive.detect.run)."""
        probe = observation.probe
        return CheckItem(
            row=row, verdict=verdict, status=status, record_id=record_id, page=page,
            checked_at=utcnow(), offsets=self.source_offsets.get(row.get("source")),
            answer=answer_fingerprint(observation.status, observation.location,
                                      observation.body),
            probe_answer=probe.answer if probe is not None and verdict.reason == "soft_404"
            else None, vantage=vantage)


def _folder(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.netloc, str(PurePosixPath(parts.path or "/").parent)


def _with_probe(observation: Observation, probe: SiteProbe | None) -> Observation:
    return replace(observation, probe=probe)
