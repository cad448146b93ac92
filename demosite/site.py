"""The demo site's HTTP server, the :class:`DemoSite` runner and the demo seeds.

``python -m demosite`` serves the portal on 127.0.0.1 (free port) and prints its base URL.
Paths: ``/`` (home), ``/rss.xml``, the articles and WeChat-like ``/s/<id>`` pages of
:mod:`demosite.content`, the reprints of :data:`demosite.reprints.SERVED`, ``/robots.txt``;
``POST /_control/phase`` with ``{"phase": 2}`` switches to the edited-and-deleted site,
``{"phase": 3}`` to that site with one reprint censored too (demosite.reprints.PHASE3);
``GET /_control/phase`` reports the phase.
"""

from __future__ import annotations

import json
import logging
import threading
import zlib
from collections import Counter
from datetime import datetime
from email.utils import format_datetime
from html import escape

from demosite.content import (
    ARTICLES,
    FEED_PHASE1,
    FEED_PHASE2,
    NEW_IN_PHASE2,
    PHASE2,
    WECHAT_ARTICLES,
    Article,
    Change,
    WeChatArticle,
    article_by_path,
)
from demosite.httpkit import HTML, QuietServer, RawHandler, ServerProcess, serve_main
from demosite.pages import news_page, wechat_page, wechat_tombstone
from demosite.reprints import PHASE3, SERVED, Reprint, served_reprint

logger = logging.getLogger(__name__)

PHASES = (1, 2, 3)
SITE_TITLE = "The Steppe Herald | 草原新闻网"
META_UTF8 = '<meta charset="utf-8">'


def _parse_utc(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _chrome_date(iso: str) -> str:
    return _parse_utc(iso).strftime("%d %B %Y").lstrip("0")


def render_article(article: Article, paragraphs: tuple[str, ...] | None = None) -> bytes:
    """The article page as bytes in the article's own encoding."""
    meta = META_UTF8 if article.encoding == "utf-8" else ""
    html = news_page(article.title, paragraphs or article.paragraphs, lang=article.lang,
                     meta=meta, byline=article.byline, chrome_date=_chrome_date(article.published))
    return html.encode(article.encoding)


def render_wechat(article: WeChatArticle) -> bytes:
    return wechat_page(article.title, article.account, article.published, article.paragraphs,
                       article.author).encode()


def phase_change(phase: int, path: str) -> Change | None:
    """What ``phase`` does to ``path``: phase 2's changes, and in phase 3 also PHASE3's."""
    if phase == 3 and path in PHASE3:
        return PHASE3[path]
    return PHASE2.get(path) if phase >= 2 else None


class DemoState:
    """The current phase and the per-path request counts of flaky pages."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = 1
        self.flaky: Counter[str] = Counter()

    def set_phase(self, phase: int) -> None:
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, not {phase!r}")
        with self.lock:
            self.phase = phase
            self.flaky.clear()

    def flaky_hit(self, path: str) -> int:
        with self.lock:
            self.flaky[path] += 1
            return self.flaky[path]


class DemoServer(QuietServer):
    """The demo portal server, holding a :class:`DemoState`."""

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        super().__init__(address, DemoHandler)
        self.state = DemoState()


class DemoHandler(RawHandler):
    """Serves the portal as it is in the current phase."""

    server_version = "nginx/1.18.0"
    server: DemoServer

    def route(self, path: str, query: dict[str, str]) -> None:
        state = self.server.state
        if path == "/_control/phase":
            if self.command == "POST":
                state.set_phase(int(self.read_json()["phase"]))
            return self.send_json({"phase": state.phase})
        if path in ("/", "/index.html"):
            return self.send_raw(200, self.home_page(state.phase).encode())
        if path == "/rss.xml":
            return self.send_raw(200, self.feed(state.phase), ctype="application/rss+xml")
        if path == "/robots.txt":
            return self.send_raw(200, b"User-agent: *\nAllow: /\n", ctype="text/plain")
        item = article_by_path(path) or served_reprint(path)
        if item is None or (state.phase == 1 and path in NEW_IN_PHASE2):
            return self.not_found(404)
        change = phase_change(state.phase, path)
        if change is None or change.reason == "edited":
            paragraphs = change.paragraphs if change else None
            return self.serve_item(item, paragraphs)
        if change.reason == "gone":
            return self.not_found(change.status)
        if change.reason in ("censored", "author_deleted"):
            return self.send_raw(200, wechat_tombstone(change.detail).encode())
        if change.reason == "redirected":
            location = self.server.base + change.detail
            return self.send_raw(change.status, b"<html><body>Moved</body></html>",
                                 [("Location", location)])
        if change.reason == "transient" and state.flaky_hit(path) % 2 == 1:
            body = news_page("503 Service Temporarily Unavailable", ["Please try again later."])
            return self.send_raw(503, body.encode(), [("Retry-After", "30")])
        self.serve_item(item)

    def serve_item(self, item: Article | WeChatArticle | Reprint,
                   paragraphs: tuple[str, ...] | None = None) -> None:
        if isinstance(item, WeChatArticle):
            return self.send_raw(200, render_wechat(item))
        if isinstance(item, Reprint):
            return self.send_raw(200, item.html().encode())
        body = render_article(item, paragraphs)
        ctype = f"text/html; charset={item.encoding.upper()}"
        headers: list[tuple[str, str]] = []
        if item.gzip:
            comp = zlib.compressobj(6, zlib.DEFLATED, 31)
            body = comp.compress(body) + comp.flush()
            headers.append(("Content-Encoding", "gzip"))
        self.send_raw(200, body, headers, ctype=ctype)

    def not_found(self, status: int) -> None:
        body = news_page("Page not found", ["The page you requested does not exist."],
                         meta=META_UTF8)
        self.send_raw(status, body.encode(), ctype=HTML)

    def feed_paths(self, phase: int) -> tuple[str, ...]:
        return FEED_PHASE1 if phase == 1 else FEED_PHASE2

    def home_page(self, phase: int) -> str:
        titles = {a.path: a.title for a in ARTICLES}
        news = "".join(f'<li><a href="{p}">{escape(titles[p])}</a></li>\n'
                       for p in self.feed_paths(phase))
        wechat = "".join(f'<li><a href="{w.path}">{escape(w.title)}</a> '
                         f"({escape(w.account)})</li>\n" for w in WECHAT_ARTICLES)
        extra = (f'<section class="latest"><h2>Latest</h2><ul>\n{news}</ul></section>\n'
                 f'<section class="wechat"><h2>公众号文章</h2><ul>\n{wechat}</ul></section>\n')
        return news_page(SITE_TITLE, ["News from Kazakhstan, China and Central Asia."],
                         meta=META_UTF8, extra_html=extra)

    def feed(self, phase: int) -> bytes:
        base = self.server.base
        items = []
        for path in self.feed_paths(phase):
            article = article_by_path(path)
            assert isinstance(article, Article)
            date = format_datetime(_parse_utc(article.published), usegmt=True)
            items.append(
                f"<item><title>{escape(article.title)}</title><link>{base}{path}</link>"
                f'<guid isPermaLink="true">{base}{path}</guid><pubDate>{date}</pubDate>'
                f"<description>{escape(article.paragraphs[0])}</description></item>\n")
        xml = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>\n'
               f"<title>{escape(SITE_TITLE)}</title><link>{base}/</link>"
               f"<description>Demo news feed</description><language>en</language>\n"
               f"{''.join(items)}</channel></rss>\n")
        return xml.encode()


class DemoSite(ServerProcess):
    """Runs ``python -m demosite`` for the length of a ``with`` block."""

    module = "demosite"

    def set_phase(self, phase: int) -> None:
        """Switch the site to phase 1 (first crawl), 2 (edits, deletions, tombstones) or 3
        (phase 2 and a reprint censored)."""
        self.request("/_control/phase", {"phase": phase})

    def phase(self) -> int:
        return int(self.request("/_control/phase")["phase"])


def demo_seeds_toml(base: str) -> str:
    """A seeds file (DESIGN.md "Seeds") for the demo site at ``base``: its RSS feed as a feed
    source, the WeChat-like pages (reprints on other accounts too) as a page source with WeChat
    deletion rules, and the portal's reprint as a page source."""
    base = base.rstrip("/")
    wechat_urls = ", ".join(json.dumps(base + w.path) for w in (*WECHAT_ARTICLES, *SERVED)
                            if isinstance(w, WeChatArticle) or w.kind == "wechat")
    portal_urls = ", ".join(json.dumps(base + r.path) for r in SERVED if r.kind == "news")
    return (
        f"# memoryhole demo seeds for the bundled demo site at {base}\n\n"
        "[[source]]\n"
        'name = "demo-news"\n'
        'kind = "feed"\n'
        f"url = {json.dumps(base + '/rss.xml')}\n"
        'schedule = "every 30m"\n'
        'platform = "news"\n'
        'tags = ["demo", "kazakhstan"]\n\n'
        "[[source]]\n"
        'name = "demo-wechat"\n'
        'kind = "page"\n'
        f"urls = [{wechat_urls}]\n"
        'platform = "wechat"\n'
        'tags = ["demo", "wechat"]\n\n'
        "[[source]]\n"
        'name = "demo-reprints"\n'
        'kind = "page"\n'
        f"urls = [{portal_urls}]\n"
        'platform = "news"\n'
        'tags = ["demo", "reprints"]\n'
    )


def main() -> None:
    """Serve the demo site on 127.0.0.1, port 0, printing the base URL as the only line."""
    serve_main(DemoServer(("127.0.0.1", 0)), "demosite")
