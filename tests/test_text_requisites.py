"""archive.text.requisites: what a page and a stylesheet need, found in their markup."""

from __future__ import annotations

from archive.text.markup_urls import css_urls, srcset_urls
from archive.text.requisites import html_requisites, requisites

PAGE = """<!doctype html><html><head>
<meta charset="gbk"><title>文章</title>
<link rel="stylesheet" href="/static/site.css">
<link rel="alternate" type="application/rss+xml" href="/feed.xml">
<link rel="icon" href="favicon.ico">
<script src="https://cdn.example.net/app.js"></script>
<style>body { background: url('/img/bg.png') } @import "print.css";</style>
</head><body>
<p>正文 <a href="/other.html">link</a></p>
<img src="/img/a.jpg#top" srcset="/img/a-2x.jpg 2x, /img/a-3x.jpg 3x">
<img data-src="/img/lazy.jpg">
<img src="data:image/png;base64,AAAA">
<img src="javascript:alert(1)">
<picture><source srcset="/img/p.webp 1x,/img/p2.webp 2x"></picture>
<video src="/v.mp4" poster="/poster.jpg"></video>
<iframe src="/embedded.html"></iframe>
<input type="image" src="/go.png"><input type="text" src="/no.png">
<div style="background-image:url(&quot;/img/div.png&quot;)"></div>
<img src="/img/a.jpg">
<img src="ftp://example.org/x.png">
</body></html>""".encode("gbk")


def test_html_requisites_in_document_order_each_once() -> None:
    found = html_requisites(PAGE, "text/html", "http://news.example.org/2020/article.html")
    assert found == [
        "http://news.example.org/static/site.css",
        "http://news.example.org/2020/favicon.ico",
        "https://cdn.example.net/app.js",
        "http://news.example.org/img/bg.png",
        "http://news.example.org/2020/print.css",
        "http://news.example.org/img/a.jpg",
        "http://news.example.org/img/a-2x.jpg",
        "http://news.example.org/img/a-3x.jpg",
        "http://news.example.org/img/lazy.jpg",
        "http://news.example.org/img/p.webp",
        "http://news.example.org/img/p2.webp",
        "http://news.example.org/v.mp4",
        "http://news.example.org/poster.jpg",
        "http://news.example.org/go.png",
        "http://news.example.org/img/div.png",
    ]


def test_base_href_and_limit() -> None:
    body = b'<html><head><base href="https://static.example.org/s/"></head>' \
           b'<body><img src="a.png"><img src="b.png"><img src="c.png"></body></html>'
    assert html_requisites(body, "text/html", "http://example.org/x", limit=2) == [
        "https://static.example.org/s/a.png", "https://static.example.org/s/b.png"]


def test_stylesheet_urls_and_imports() -> None:
    css = b"""@import 'base.css'; @font-face { src: url(fonts/f.woff2) format('woff2'),
    url("fonts/f.woff") } .x { background: url( '../img/x.png' ) } .y { background: url(data:x) }"""
    assert requisites(css, "text/css; charset=utf-8", "http://example.org/css/site.css") == [
        "http://example.org/css/fonts/f.woff2", "http://example.org/css/fonts/f.woff",
        "http://example.org/img/x.png", "http://example.org/css/base.css"]
    assert css_urls("a{b:url()}") == []


def test_other_types_and_empty_bodies_have_none() -> None:
    assert requisites(b"\x89PNG....", "image/png", "http://example.org/a.png") == []
    assert requisites(b"", "text/html", "http://example.org/") == []
    assert requisites(b"   ", "text/html", "http://example.org/") == []


def test_srcset_with_commas_in_urls() -> None:
    assert srcset_urls("img,w_100.jpg 100w, img,w_200.jpg 200w") == [
        "img,w_100.jpg", "img,w_200.jpg"]
    assert srcset_urls(" a.jpg ") == ["a.jpg"]


def test_comments_scripts_and_titles_are_not_markup() -> None:
    body = b"""<html><head><title>a <img src="/in-title.png"></title>
    <!-- <img src="/commented.png"> -->
    <script>document.write('<img src="/in-script.png">');</script>
    <script src="/app.js"></script>
    <script type="module" src='/mod.js'>var s = "<link rel=stylesheet href=/x.css>";</script>
    </head><body><noscript><img src="/lazy-fallback.jpg"></noscript>
    <textarea><img src="/in-textarea.png"></textarea>
    <img alt="x" src=/bare.png /><IMG SRC="/upper.png?a=1&amp;b=2"></body></html>"""
    assert html_requisites(body, "text/html", "http://example.org/") == [
        "http://example.org/app.js", "http://example.org/mod.js",
        "http://example.org/lazy-fallback.jpg", "http://example.org/bare.png",
        "http://example.org/upper.png?a=1&b=2"]


def test_non_ascii_urls_come_back_as_text_in_any_charset() -> None:
    page = '<html><head><meta charset="gbk"></head><body><img src="/图片/新疆.png">' \
           '<img src="/a&#x56fe;.png"></body></html>'
    expected = ["http://example.cn/图片/新疆.png", "http://example.cn/a图.png"]
    assert html_requisites(page.encode("gbk"), "text/html", "http://example.cn/") == expected
    assert html_requisites(page.encode("utf-8"), "text/html", "http://example.cn/") == expected
    utf16 = page.replace('charset="gbk"', "").encode("utf-16")
    assert html_requisites(utf16, "text/html", "http://example.cn/") == expected
