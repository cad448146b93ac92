"""Test HTTP server on 127.0.0.1 (Scrapy's mockserver pattern).

``python -m tests.support.mockserver`` listens on a free port, prints
``http://127.0.0.1:PORT`` on one line and serves until killed; :class:`MockServer` runs it in
a subprocess for tests. Responses are written as raw bytes, so tests control headers (duplicate
``Set-Cookie``), content and transfer encodings, lengths and early closes. Endpoints: see
:meth:`Handler.route`, and tests.support.hostile for the hostile site under ``/hostile/``;
expected texts are the module constants. Nothing here ever contacts another
host.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import brotli

from demosite.httpkit import HTML, QuietServer, RawHandler, ServerProcess, serve_main
from demosite.pages import news_page
from tests.support import hostile

PLAIN_BYLINE = "By our Almaty correspondent | Published 14 April 2020"
PLAIN_PARAGRAPHS = (
    "ALMATY - Kazakhstan and China agreed on Tuesday to expand freight traffic through the "
    "Khorgos border crossing, officials from both governments said after two days of talks.",
    "The deal raises the number of container trains allowed through the dry port each day from "
    "18 to 25, according to a statement from the Ministry of Industry and Infrastructure.",
    "Trade between the two countries reached about 22 billion dollars last year, with grain, "
    "metals and energy making up most of Kazakhstan's exports to its eastern neighbour.",
    "Analysts in Almaty said the agreement was mostly technical, but noted that public debate "
    "about Chinese investment remains sensitive after protests against planned joint factories.",
    "The next round of talks is expected to take place in Beijing in the autumn.",
)
PLAIN_EDITED_INDEX = 1
PLAIN_EDITED_PARAGRAPH = (
    "The deal raises the number of container trains allowed through the dry port each day from "
    "18 to 22, a figure the ministry revised after its statement was first published.")
PLAIN_ORIGINAL_SENTENCE = PLAIN_PARAGRAPHS[PLAIN_EDITED_INDEX]
CHROME_DATES = {0: "14 April 2020", 1: "14 April 2020", 2: "2 May 2020"}

GBK_TITLE = "中哈签署霍尔果斯口岸过境运输合作协议"
GBK_PARAGRAPHS = (
    "本报努尔苏丹4月14日电 中国与哈萨克斯坦两国政府代表14日签署关于扩大霍尔果斯口岸过境运输的"
    "合作协议，双方同意进一步提高中欧班列的通行效率。",
    "根据协议，经霍尔果斯国际边境合作中心每日通行的集装箱班列将由18列增加到25列，"
    "两国海关将试行电子单证互认。",
    "哈萨克斯坦工业和基础设施发展部表示，去年两国贸易额约为220亿美元，粮食、金属和能源产品"
    "占哈方对华出口的大部分。",
    "分析人士指出，这份协议以技术性内容为主，但中国投资问题在哈萨克斯坦国内仍然较为敏感，"
    "双方都希望通过更加透明的合作机制增进互信。",
    "双方商定，下一轮磋商将于今年秋季在北京举行。",
)
GBK_SENTENCE = GBK_PARAGRAPHS[1]
BIG5_TITLE = "哈薩克與中國加強能源合作 天然氣管道擴建計畫啟動"
BIG5_PARAGRAPHS = (
    "本報訊 哈薩克能源部十四日宣布，與中國石油企業合作的天然氣管道擴建計畫正式啟動，"
    "預計兩年內完工。",
    "官員表示，擴建後的管道每年輸氣能力將增加一百億立方公尺，主要供應中國西部地區。",
    "當地學者認為，能源合作對兩國關係十分重要，但哈薩克社會對外國投資的看法仍有分歧，"
    "政府需要更公開地說明合約內容。",
    "下一階段的談判預計將於秋季舉行。",
)
BIG5_SENTENCE = BIG5_PARAGRAPHS[1]
ARTICLE_SENTENCES = (
    *PLAIN_PARAGRAPHS,
    "Farmers in the north reported a late spring that delayed sowing by almost two weeks.",
    "The regional akimat announced new funding for rural clinics and school buses.",
    "Traders at the Barakholka market said prices for imported goods rose sharply this month.",
    "A delegation from Tashkent visited Shymkent to discuss water sharing on the Syr Darya.",
    "Rail operators said winter maintenance on the line to Dostyk was finished on schedule.",
    "Local journalists asked for clearer rules on accreditation for foreign correspondents.",
    "The central bank kept its base rate unchanged and said inflation would slow next year.",
    "Students in Almaty organised a festival of Kazakh, Uyghur and Dungan cinema.",
    "Officials in Aktobe opened a new logistics centre near the Chinese-built pipeline.",
    "A survey found that most residents of the capital get their news from messenger apps.",
)

LAST_MODIFIED_BASE = 1586851200  # 2020-04-14T08:00:00Z; each version adds one day
BOMB_BLOCKS_MIB = hostile.BOMB_MIB  # /bomb inflates to about 1 GiB of spaces (1 MB on the wire)
TRUNCATED_DECLARED = 100_000
TRUNCATED_SENT = 1_000
ARTICLE_MAX = 100_000
FEED_PATHS = ("/plain/a", "/plain/b", "/gzip/a", "/gbk/header")
SITEMAP_PATHS = ("/plain/a", "/plain/b", "/plain/c", *(f"/articles/{n}" for n in range(10)))
ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"


def plain_title(name: str) -> str:
    """The <title> and <h1> of ``/plain/<name>`` (and gzip/br/chunked/etag) pages."""
    return f"Kazakhstan and China expand Khorgos transit ({name})"


def plain_html(name: str, version: int = 0) -> str:
    """The article served under ``/plain/<name>`` at a version (0, 1 edited, 2 cosmetic)."""
    paragraphs = list(PLAIN_PARAGRAPHS)
    if version == 1:
        paragraphs[PLAIN_EDITED_INDEX] = PLAIN_EDITED_PARAGRAPH
    return news_page(plain_title(name), paragraphs, meta='<meta charset="utf-8">',
                     byline=PLAIN_BYLINE, chrome_date=CHROME_DATES.get(version, CHROME_DATES[0]),
                     loose=version == 2)


def article_html(n: int) -> str:
    """``/articles/<n>``: a distinct, deterministic article of about 5-30 KB."""
    rnd = random.Random(n)
    paragraphs = [f"Digest number {n} collects regional reporting from Central Asia."]
    for _ in range(rnd.randint(12, 60)):
        paragraphs.append(" ".join(rnd.sample(ARTICLE_SENTENCES, rnd.randint(3, 5))))
    return news_page(f"Regional digest {n}", paragraphs, meta='<meta charset="utf-8">')


class State:
    """Per-server mutable state: page versions and hit counts, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.versions: dict[str, int] = {}
        self.hits: Counter[str] = Counter()
        self._built_lock = threading.Lock()
        self._built: dict[Hashable, bytes] = {}

    def version(self, path: str) -> int:
        with self.lock:
            return self.versions.get(path, 0)

    def cached(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """What ``build`` makes, built once on first use (a bomb: up to a second or so) and
        kept."""
        with self._built_lock:
            if key not in self._built:
                self._built[key] = build()
            return self._built[key]


class MockHTTPServer(QuietServer):
    """The mock server: a threaded server holding a :class:`State`."""

    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        super().__init__(address, Handler)
        self.state = State()


class Handler(RawHandler):
    """Routes the mock endpoints; every response is written as raw bytes."""

    server_version = "memoryhole-mockserver"
    server: MockHTTPServer

    def send_page(self, status: int, title: str, text: str,
                  headers: Sequence[tuple[str, str]] = ()) -> None:
        self.send_raw(status, news_page(title, [text], meta='<meta charset="utf-8">').encode(),
                      headers)

    def route(self, path: str, query: dict[str, str]) -> None:
        state = self.server.state
        kind, _, name = path.lstrip("/").partition("/")
        if kind == "_control":
            return self.control(path, query)
        with state.lock:
            state.hits[path] += 1
        if kind in ("plain", "gzip", "br", "chunked", "etag") and name:
            body = plain_html(name, state.version(path)).encode()
            return getattr(self, f"serve_{kind}")(path, body)
        if kind in ("gbk", "big5") and name in ("header", "meta", "none"):
            return self.serve_cjk(kind, name)
        if kind == "status" and name.isdigit() and 200 <= int(name) <= 599:
            status = int(name)
            extra = [("Retry-After", "1")] if status in (429, 503) else []
            if status in (204, 304):
                return self.send_head(status, extra)
            return self.send_page(status, f"Status {status}", f"This page answers {status}.", extra)
        if kind == "redirect" and name in ("301", "302", "303", "307", "308"):
            target = quote(query.get("to", "/plain/a"), safe=":/?#[]@!$&'()*+,;=%~")
            return self.send_page(int(name), "Moved", f"Moved to {target}", [("Location", target)])
        if kind == "articles" and name.isdigit() and int(name) <= ARTICLE_MAX:
            return self.send_raw(200, article_html(int(name)).encode())
        if kind == "hostile":
            return hostile.serve(self, name, query, lambda n: plain_html(n).encode())
        if kind == "private":
            return self.send_page(200, "Private page", "robots.txt forbids this page.")
        simple = {"/cookies": self.serve_cookies, "/big": self.serve_big, "/bomb": self.serve_bomb,
                  "/truncated": self.serve_truncated, "/slow": self.serve_slow,
                  "/headers": self.serve_headers, "/robots.txt": self.serve_robots,
                  "/feed.xml": self.serve_rss, "/articles-feed.xml": self.serve_rss,
                  "/atom.xml": self.serve_atom, "/sitemap.xml": self.serve_sitemap,
                  "/sitemap-index.xml": self.serve_sitemap_index, "/": self.serve_index,
                  "/articles/index.html": self.serve_index}
        if path in simple:
            return simple[path](path, query)
        self.send_page(404, "Not found", "No such page on the mock server.")

    def serve_plain(self, path: str, body: bytes) -> None:
        self.send_raw(200, body)

    def serve_gzip(self, path: str, body: bytes) -> None:
        comp = zlib.compressobj(6, zlib.DEFLATED, 31)
        self.send_raw(200, comp.compress(body) + comp.flush(), [("Content-Encoding", "gzip")])

    def serve_br(self, path: str, body: bytes) -> None:
        self.send_raw(200, brotli.compress(body), [("Content-Encoding", "br")])

    def serve_chunked(self, path: str, body: bytes) -> None:
        self.send_head(200, [("Content-Type", HTML), ("Transfer-Encoding", "chunked")])
        if self.command == "HEAD":
            return
        step = len(body) // 5 + 1
        for start in range(0, len(body), step):
            chunk = body[start:start + step]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def serve_etag(self, path: str, body: bytes) -> None:
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        modified = LAST_MODIFIED_BASE + 86400 * self.server.state.version(path)
        headers = [("ETag", etag), ("Last-Modified", formatdate(modified, usegmt=True))]
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        if inm is not None:
            fresh = inm.strip() == "*" or etag in [t.strip() for t in inm.split(",")]
        elif ims is not None:
            try:
                fresh = parsedate_to_datetime(ims).timestamp() >= modified
            except (TypeError, ValueError):
                fresh = False
        else:
            fresh = False
        if fresh:
            return self.send_head(304, headers)
        self.send_raw(200, body, headers)

    def serve_cjk(self, kind: str, declared: str) -> None:
        if kind == "gbk":
            title, paragraphs, codec, label = GBK_TITLE, GBK_PARAGRAPHS, "gbk", "gb2312"
        else:
            title, paragraphs, codec, label = BIG5_TITLE, BIG5_PARAGRAPHS, "big5", "big5"
        meta = f'<meta http-equiv="Content-Type" content="text/html; charset={label}">'
        lang = "zh-Hant" if kind == "big5" else "zh"
        html = news_page(title, paragraphs, lang=lang, meta=meta if declared == "meta" else "")
        ctype = f"text/html; charset={codec.upper()}" if declared == "header" else "text/html"
        self.send_raw(200, html.encode(codec), ctype=ctype)

    def serve_cookies(self, path: str, query: dict[str, str]) -> None:
        cookies = [("Set-Cookie", "session=a1b2c3; Path=/; HttpOnly"),
                   ("Set-Cookie", "region=kz; Path=/; Max-Age=3600")]
        self.send_page(200, "Cookies", "Two cookies were set.", cookies)

    def serve_big(self, path: str, query: dict[str, str]) -> None:
        size = int(min(float(query.get("mb", "1")), 4096) * (1 << 20))
        head = b"<!DOCTYPE html><html><head><title>Big page</title></head><body>\n"
        tail = b"</body></html>\n"
        filler = max(size - len(head) - len(tail), 0)
        self.send_head(200, [("Content-Type", HTML), ("Content-Length", str(
            len(head) + filler + len(tail)))])
        if self.command == "HEAD":
            return
        self.wfile.write(head)
        block = b"<p>Filler paragraph for maximum size tests.</p>\n" * 1300
        while filler > 0:
            self.wfile.write(block[:filler])
            filler -= min(len(block), filler)
        self.wfile.write(tail)

    def serve_bomb(self, path: str, query: dict[str, str]) -> None:
        bomb = self.server.state.cached(("bomb", "gzip", BOMB_BLOCKS_MIB),
                                        lambda: hostile.build_bomb("gzip", BOMB_BLOCKS_MIB))
        self.send_raw(200, bomb, [("Content-Encoding", "gzip")])

    def serve_truncated(self, path: str, query: dict[str, str]) -> None:
        self.send_head(200, [("Content-Type", HTML), ("Content-Length", str(TRUNCATED_DECLARED))])
        body = plain_html("truncated").encode()
        self.wfile.write((body * (TRUNCATED_SENT // len(body) + 1))[:TRUNCATED_SENT])
        self.wfile.flush()
        self.close_connection = True

    def serve_slow(self, path: str, query: dict[str, str]) -> None:
        seconds = min(float(query.get("s", "1")), 300.0)
        time.sleep(seconds)
        self.send_page(200, "Slow page", f"Answered after {seconds:g} seconds.")

    def serve_headers(self, path: str, query: dict[str, str]) -> None:
        items = self.headers.items()
        data = {"method": self.command, "path": self.path, "headers": dict(items),
                "header_list": [list(i) for i in items]}
        self.send_json(data)

    def serve_robots(self, path: str, query: dict[str, str]) -> None:
        text = f"{ROBOTS_TXT}Sitemap: {self.server.base}/sitemap.xml\n"
        self.send_raw(200, text.encode(), ctype="text/plain; charset=utf-8")

    def serve_rss(self, path: str, query: dict[str, str]) -> None:
        if path == "/feed.xml":
            entries = [(plain_title(p.rsplit("/", 1)[-1]), p) for p in FEED_PATHS]
        else:
            count = min(int(query.get("n", "300")), ARTICLE_MAX)
            entries = [(f"Regional digest {n}", f"/articles/{n}") for n in range(count)]
        base, date = self.server.base, formatdate(LAST_MODIFIED_BASE, usegmt=True)
        items = "".join(f"<item><title>{t}</title><link>{base}{p}</link><guid>{base}{p}</guid>"
                        f"<pubDate>{date}</pubDate></item>\n" for t, p in entries)
        xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
               f"<title>Steppe Herald</title><link>{base}/</link><description>Mock feed"
               f"</description>\n{items}</channel></rss>\n")
        self.send_raw(200, xml.encode(), ctype="application/rss+xml; charset=utf-8")

    def serve_atom(self, path: str, query: dict[str, str]) -> None:
        base, when = self.server.base, "2020-04-14T08:00:00Z"
        entries = "".join(
            f'<entry><title>{plain_title(p.rsplit("/", 1)[-1])}</title><link href="{base}{p}"/>'
            f"<id>{base}{p}</id><updated>{when}</updated></entry>\n" for p in FEED_PATHS)
        xml = (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
               f'<title>Steppe Herald</title><id>{base}/</id><link href="{base}/"/>'
               f"<updated>{when}</updated>\n{entries}</feed>\n")
        self.send_raw(200, xml.encode(), ctype="application/atom+xml; charset=utf-8")

    def serve_sitemap(self, path: str, query: dict[str, str]) -> None:
        urls = "".join(f"<url><loc>{self.server.base}{p}</loc><lastmod>2020-04-14</lastmod></url>\n"
                       for p in SITEMAP_PATHS)
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<urlset xmlns='
               f'"http://www.sitemaps.org/schemas/sitemap/0.9">\n{urls}</urlset>\n')
        self.send_raw(200, xml.encode(), ctype="application/xml")

    def serve_sitemap_index(self, path: str, query: dict[str, str]) -> None:
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns='
               f'"http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>{self.server.base}'
               "/sitemap.xml</loc></sitemap></sitemapindex>\n")
        self.send_raw(200, xml.encode(), ctype="application/xml")

    def serve_index(self, path: str, query: dict[str, str]) -> None:
        if path == "/":
            paths = [*FEED_PATHS, "/articles/index.html", "/feed.xml", "/sitemap.xml"]
        else:
            paths = [f"/articles/{n}" for n in range(min(int(query.get("n", 50)), ARTICLE_MAX))]
        links = "".join(f'<li><a href="{p}">{p}</a></li>\n' for p in paths)
        html = news_page("Steppe Herald index", ["Latest pages."], meta='<meta charset="utf-8">',
                         extra_html=f'<ul class="index">\n{links}</ul>\n')
        self.send_raw(200, html.encode())

    def control(self, path: str, query: dict[str, str]) -> None:
        state = self.server.state
        try:
            data = self.read_json()
            with state.lock:
                if path == "/_control/version" and self.command == "POST":
                    state.versions[data["path"]] = int(data["version"])
                    answer: object = {"ok": True}
                elif path == "/_control/reset" and self.command == "POST":
                    state.versions.clear()
                    state.hits.clear()
                    answer = {"ok": True}
                elif path == "/_control/hits":
                    key = query.get("path")
                    answer = {"path": key, "hits": state.hits[key]} if key else dict(state.hits)
                else:
                    return self.send_json({"ok": False, "error": "unknown control"}, 404)
        except (ValueError, KeyError, TypeError) as exc:
            return self.send_json({"ok": False, "error": str(exc)}, 400)
        self.send_json(answer)


class MockServer(ServerProcess):
    """Runs ``python -m tests.support.mockserver`` for the length of a ``with`` block."""

    module = "tests.support.mockserver"
    root = Path(__file__).resolve().parents[2]

    def set_version(self, path: str, version: int) -> None:
        """Serve ``path`` (a path or a URL on this server) at ``version`` from now on."""
        self.request("/_control/version", {"path": urlsplit(path).path, "version": version})

    def reset(self) -> None:
        """Back to version 0 everywhere, hit counts cleared."""
        self.request("/_control/reset", {})

    def hits(self, path: str) -> int:
        """How many times ``path`` (query ignored) was requested since start or reset."""
        query = urlencode({"path": urlsplit(path).path})
        return int(self.request("/_control/hits?" + query)["hits"])


def main() -> None:
    """Serve on 127.0.0.1, port 0, and print the base URL as the only stdout line."""
    serve_main(MockHTTPServer(("127.0.0.1", 0)), "mockserver")


if __name__ == "__main__":
    main()
