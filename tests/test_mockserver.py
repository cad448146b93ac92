"""The mock server does what the tests built on it assume, checked with http.client and sockets."""

from __future__ import annotations

import gzip
import http.client
import json
import re
import socket
import time
import xml.etree.ElementTree as ET
import zlib
from urllib.parse import urlsplit

import brotli
import pytest

from tests.support.mockserver import (
    BIG5_SENTENCE,
    BIG5_TITLE,
    BOMB_BLOCKS_MIB,
    GBK_SENTENCE,
    GBK_TITLE,
    PLAIN_EDITED_PARAGRAPH,
    PLAIN_ORIGINAL_SENTENCE,
    TRUNCATED_DECLARED,
    TRUNCATED_SENT,
    MockServer,
    plain_html,
    plain_title,
)


def get(server: MockServer, path: str, headers: dict[str, str] | None = None,
        method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    """One request on a fresh connection; the body as received (no decoding)."""
    parts = urlsplit(server.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def raw_exchange(server: MockServer, path: str, timeout: float = 10.0) -> tuple[bytes, bytes]:
    """Send a GET on a raw socket, read until the server closes; (head, body) as bytes."""
    parts = urlsplit(server.base)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                     "Connection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def article_text(html: str) -> str:
    """The article's words, tags dropped and whitespace collapsed (a crude text extractor)."""
    article = re.search(r"<article>(.*)</article>", html, re.S)
    assert article, "no <article> element"
    return " ".join(re.sub(r"<[^>]+>", " ", article.group(1)).split())


def test_url_and_base(mockserver: MockServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", mockserver.base)
    assert mockserver.url("plain/a") == mockserver.url("/plain/a") == mockserver.base + "/plain/a"


def test_plain_versions_edit_and_cosmetic_change(fresh_mockserver: MockServer) -> None:
    server = fresh_mockserver
    resp, v0 = get(server, "/plain/a")
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/html; charset=utf-8"
    html0 = v0.decode()
    assert f"<title>{plain_title('a')}</title>" in html0 and PLAIN_ORIGINAL_SENTENCE in html0
    assert "<header" in html0 and "<nav" in html0 and "<footer" in html0

    server.set_version("/plain/a", 1)
    html1 = get(server, "/plain/a")[1].decode()
    assert PLAIN_EDITED_PARAGRAPH in html1 and PLAIN_ORIGINAL_SENTENCE not in html1
    assert get(server, "/plain/b")[1] == v0.replace(b"(a)", b"(b)"), "other pages unchanged"

    server.set_version(server.url("/plain/a"), 2)  # a full URL works too
    html2 = get(server, "/plain/a")[1].decode()
    assert html2 != html0 and "2 May 2020" in html2 and "2 May 2020" not in html0
    assert article_text(html2) == article_text(html0)
    assert article_text(html1) != article_text(html0)

    assert server.hits("/plain/a") == 3
    server.reset()
    assert get(server, "/plain/a")[1] == v0
    assert server.hits("/plain/a") == 1


def test_keep_alive_serves_several_requests(mockserver: MockServer) -> None:
    parts = urlsplit(mockserver.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        for path in ("/plain/k", "/gzip/k", "/chunked/k", "/status/404", "/plain/k"):
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            assert resp.status in (200, 404)
    finally:
        conn.close()


def test_gzip(mockserver: MockServer) -> None:
    resp, body = get(mockserver, "/gzip/a", {"Accept-Encoding": "gzip"})
    assert resp.getheader("Content-Encoding") == "gzip"
    assert int(resp.getheader("Content-Length")) == len(body)
    assert gzip.decompress(body) == plain_html("a").encode()


def test_brotli(mockserver: MockServer) -> None:
    resp, body = get(mockserver, "/br/a", {"Accept-Encoding": "br"})
    assert resp.getheader("Content-Encoding") == "br"
    assert int(resp.getheader("Content-Length")) == len(body)
    assert brotli.decompress(body) == plain_html("a").encode()


def test_chunked_has_no_content_length(mockserver: MockServer) -> None:
    head, body = raw_exchange(mockserver, "/chunked/a")
    assert b"\r\nTransfer-Encoding: chunked" in head
    assert b"content-length" not in head.lower()
    chunks = []
    while True:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        chunks.append(body[:size])
        assert body[size:size + 2] == b"\r\n"
        body = body[size + 2:]
    assert len(chunks) >= 3
    assert b"".join(chunks) == plain_html("a").encode()


def test_two_set_cookie_lines(mockserver: MockServer) -> None:
    head, _ = raw_exchange(mockserver, "/cookies")
    lines = [line for line in head.split(b"\r\n") if line.lower().startswith(b"set-cookie:")]
    assert len(lines) == 2
    resp, _ = get(mockserver, "/cookies")
    assert len(resp.headers.get_all("Set-Cookie")) == 2


@pytest.mark.parametrize(
    ("path", "codec", "title", "sentence", "ctype", "meta"),
    [
        ("/gbk/header", "gbk", GBK_TITLE, GBK_SENTENCE, "text/html; charset=GBK", None),
        ("/gbk/meta", "gbk", GBK_TITLE, GBK_SENTENCE, "text/html", b"charset=gb2312"),
        ("/gbk/none", "gbk", GBK_TITLE, GBK_SENTENCE, "text/html", None),
        ("/big5/meta", "big5", BIG5_TITLE, BIG5_SENTENCE, "text/html", b"charset=big5"),
    ],
)
def test_cjk_encodings(mockserver: MockServer, path: str, codec: str, title: str,
                       sentence: str, ctype: str, meta: bytes | None) -> None:
    resp, body = get(mockserver, path)
    assert resp.getheader("Content-Type") == ctype
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    text = body.decode(codec)
    assert f"<title>{title}</title>" in text and sentence in text
    if meta:
        assert meta in body
    else:
        assert b"charset" not in body


@pytest.mark.parametrize("code", [404, 410, 429, 500, 503])
def test_status_codes(mockserver: MockServer, code: int) -> None:
    resp, body = get(mockserver, f"/status/{code}")
    assert resp.status == code and b"<html" in body


@pytest.mark.parametrize("code", [301, 302, 307])
def test_redirects(mockserver: MockServer, code: int) -> None:
    resp, _ = get(mockserver, f"/redirect/{code}?to=/plain/x")
    assert resp.status == code and resp.getheader("Location") == "/plain/x"


def test_big_page_has_exact_length(mockserver: MockServer) -> None:
    resp, body = get(mockserver, "/big?mb=2")
    assert int(resp.getheader("Content-Length")) == len(body) == 2 * 1024 * 1024
    assert body.startswith(b"<!DOCTYPE html>") and body.endswith(b"</html>\n")


def test_bomb_is_small_on_the_wire_and_huge_inflated(mockserver: MockServer) -> None:
    resp, body = get(mockserver, "/bomb")
    assert resp.getheader("Content-Encoding") == "gzip"
    assert resp.getheader("Content-Type").startswith("text/html")
    assert int(resp.getheader("Content-Length")) == len(body) < 2 * 1024 * 1024
    inflater = zlib.decompressobj(31)  # checks the gzip CRC and length at the end
    total = 0
    for start in range(0, len(body), 16384):
        total += len(inflater.decompress(body[start:start + 16384]))
    total += len(inflater.flush())
    assert inflater.eof and total >= BOMB_BLOCKS_MIB * 1024 * 1024


def test_truncated_closes_early(mockserver: MockServer) -> None:
    started = time.monotonic()
    head, body = raw_exchange(mockserver, "/truncated")
    assert f"Content-Length: {TRUNCATED_DECLARED}".encode() in head
    assert len(body) == TRUNCATED_SENT
    assert time.monotonic() - started < 5


def test_slow(mockserver: MockServer) -> None:
    started = time.monotonic()
    resp, _ = get(mockserver, "/slow?s=0.5")
    assert resp.status == 200 and time.monotonic() - started >= 0.5


def test_articles_are_distinct_and_sized(mockserver: MockServer) -> None:
    bodies = [get(mockserver, f"/articles/{n}")[1] for n in range(20)]
    assert len(set(bodies)) == 20
    assert all(5_000 <= len(b) <= 30_000 for b in bodies), [len(b) for b in bodies]
    index = get(mockserver, "/articles/index.html")[1].decode()
    assert 'href="/articles/0"' in index and 'href="/articles/49"' in index


def xml_root(server: MockServer, path: str) -> ET.Element:
    resp, body = get(server, path)
    assert resp.status == 200
    return ET.fromstring(body)


def test_feeds_and_sitemaps(mockserver: MockServer) -> None:
    base = mockserver.base
    expected = [f"{base}{p}" for p in ("/plain/a", "/plain/b", "/gzip/a", "/gbk/header")]
    rss = xml_root(mockserver, "/feed.xml")
    assert [e.text for e in rss.iter("link")][1:] == expected
    atom_ns = "{http://www.w3.org/2005/Atom}"
    atom = xml_root(mockserver, "/atom.xml")
    links = [e.get("href") for entry in atom.iter(f"{atom_ns}entry") for e in entry]
    assert [x for x in links if x] == expected
    sm_ns = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
    locs = [e.text for e in xml_root(mockserver, "/sitemap.xml").iter(f"{sm_ns}loc")]
    assert f"{base}/plain/a" in locs and f"{base}/articles/0" in locs
    index = [e.text for e in xml_root(mockserver, "/sitemap-index.xml").iter(f"{sm_ns}loc")]
    assert index == [f"{base}/sitemap.xml"]
    items = list(xml_root(mockserver, "/articles-feed.xml?n=300").iter("item"))
    assert len(items) == 300 and items[299].findtext("link") == f"{base}/articles/299"


def test_robots(mockserver: MockServer) -> None:
    resp, body = get(mockserver, "/robots.txt")
    assert resp.getheader("Content-Type").startswith("text/plain")
    assert "Disallow: /private/" in body.decode()
    assert get(mockserver, "/private/x")[0].status == 200


def test_etag_and_last_modified(fresh_mockserver: MockServer) -> None:
    server = fresh_mockserver
    resp, body = get(server, "/etag/a")
    etag, modified = resp.getheader("ETag"), resp.getheader("Last-Modified")
    assert resp.status == 200 and etag and modified and body
    resp, body = get(server, "/etag/a", {"If-None-Match": etag})
    assert resp.status == 304 and body == b"" and resp.getheader("ETag") == etag
    assert get(server, "/etag/a", {"If-Modified-Since": modified})[0].status == 304
    assert get(server, "/etag/a", {"If-None-Match": '"other"'})[0].status == 200
    server.set_version("/etag/a", 1)
    resp, body = get(server, "/etag/a", {"If-None-Match": etag})
    assert resp.status == 200 and resp.getheader("ETag") != etag
    assert PLAIN_EDITED_PARAGRAPH.encode() in body
    assert get(server, "/etag/a", {"If-Modified-Since": modified})[0].status == 200


def test_headers_echo(mockserver: MockServer) -> None:
    resp, body = get(mockserver, "/headers", {"User-Agent": "memoryhole-test/1.0"})
    data = json.loads(body)
    assert data["headers"]["User-Agent"] == "memoryhole-test/1.0"
    assert data["headers"]["Host"] == urlsplit(mockserver.base).netloc


def test_control_rejects_bad_input(mockserver: MockServer) -> None:
    resp, _ = get(mockserver, "/_control/version", method="POST")
    assert resp.status == 400
    assert get(mockserver, "/_control/nothing")[0].status == 404


def test_survives_bad_requests(mockserver: MockServer) -> None:
    parts = urlsplit(mockserver.base)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(b"\x00\xffNOT HTTP AT ALL\r\n\r\n")
        sock.recv(1024)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(b"GET /plain/a HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert get(mockserver, "/big?mb=oops")[0].status == 400
    assert get(mockserver, "/nowhere")[0].status == 404
    assert get(mockserver, "/plain/a")[0].status == 200
