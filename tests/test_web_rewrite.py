"""archive.web.rewrite: archived pages and stylesheets pointed at the replay server."""

from __future__ import annotations

from lxml import html

from archive.web.rewrite import UrlRewriter, rewrite_css, rewrite_html

PAGE_URL = "http://news.example.org/2020/04/article.html"
PREFIX = "/main/20200415120000/"


def _page(body: str, charset: str = "utf-8") -> bytes:
    return body.encode(charset)


def test_url_attributes_srcset_css_and_refresh() -> None:
    body = _page("""<html><head>
    <meta http-equiv="Content-Security-Policy" content="default-src *">
    <meta http-equiv="refresh" content="30; url=/latest.html">
    <link rel="stylesheet" href="../../s/site.css" integrity="sha384-xyz">
    <style>body{background:url("/img/bg.png")} @import 'print.css';</style>
    </head><body>
    <a href="other.html#part" target="_blank">other</a> <a href="#top">top</a>
    <a href="mailto:x@y.org">m</a>
    <a href="javascript:void(0)">js</a>
    <img src="https://cdn.example.net/a.jpg" srcset="/a-2x.jpg 2x, /a-3x.jpg 3x">
    <form action="/search"><button formaction="/go">go</button></form>
    <div style="background-image:url('/img/d.png')"></div>
    <img src="data:image/png;base64,AAAA">
    </body></html>""")
    out = rewrite_html(body, "text/html", UrlRewriter("main", "20200415120000", PAGE_URL))
    root = html.fromstring(out)
    assert root.xpath("//link/@href") == [PREFIX + "http://news.example.org/s/site.css"]
    assert root.xpath("//link/@integrity") == [] and root.xpath("//a/@target") == []
    hrefs = root.xpath("//a/@href")
    assert hrefs == [PREFIX + "http://news.example.org/2020/04/other.html#part", "#top",
                     "mailto:x@y.org", "javascript:void(0)"]
    img = root.xpath("//img")[0]
    assert img.get("src") == PREFIX + "https://cdn.example.net/a.jpg"
    assert img.get("srcset") == (f"{PREFIX}http://news.example.org/a-2x.jpg 2x, "
                                 f"{PREFIX}http://news.example.org/a-3x.jpg 3x")
    assert root.xpath("//img/@src")[1].startswith("data:")
    assert root.xpath("//form/@action") == [PREFIX + "http://news.example.org/search"]
    assert root.xpath("//button/@formaction") == [PREFIX + "http://news.example.org/go"]
    style = root.xpath("//style/text()")[0]
    assert f'url("{PREFIX}http://news.example.org/img/bg.png")' in style
    assert f"@import '{PREFIX}http://news.example.org/2020/04/print.css'" in style
    assert f"url('{PREFIX}http://news.example.org/img/d.png')" in root.xpath("//div/@style")[0]
    refresh = root.xpath("//meta[@http-equiv='refresh']/@content")[0]
    assert refresh == f"30; url={PREFIX}http://news.example.org/latest.html"
    assert root.xpath("//meta[@http-equiv='Content-Security-Policy']") == []
    assert root.xpath("//meta/@charset") == ["utf-8"]


def test_gbk_page_comes_back_as_utf8_with_base_href() -> None:
    body = _page('<html><head><meta charset="gbk"><base href="https://static.example.org/x/">'
                 '</head><body><p>哈萨克斯坦</p><img src="p.png"></body></html>', "gbk")
    out = rewrite_html(body, "text/html", UrlRewriter("main", "20200415120000", PAGE_URL))
    assert "哈萨克斯坦".encode() in out
    root = html.fromstring(out)
    assert root.xpath("//img/@src") == [PREFIX + "https://static.example.org/x/p.png"]
    assert root.xpath("//base/@href") == [PREFIX + "https://static.example.org/x/"]
    assert root.xpath("//meta/@charset") == ["utf-8"]


def test_stylesheet_urls() -> None:
    css = b"@import url(base.css); .a { background: url(../img/a.png) } .b { x: url(data:,) }"
    out = rewrite_css(css, "text/css", UrlRewriter("main", "20200415120000",
                                                    "http://example.org/css/site.css"))
    assert out == (f"@import url({PREFIX}http://example.org/css/base.css); .a {{ background: "
                   f"url({PREFIX}http://example.org/img/a.png) }} .b {{ x: url(data:,) }}"
                   ).encode()


def test_empty_page() -> None:
    assert rewrite_html(b"  ", "text/html", UrlRewriter("main", "2020", PAGE_URL)) == b""
