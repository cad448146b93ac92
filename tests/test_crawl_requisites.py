"""A crawl fetches each captured page's requisites (images, stylesheets and what they name,
scripts), once per run and not again while the index holds them from recently; none becomes a
watched URL; every answer is archived (and has its captures row), 404s included."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from archive.config import load_config
from archive.home import Home
from archive.warc.cdxj_lookup import captures_of
from crawlers.launch import run_crawl
from tests.support.helpers import all_records, rows, run_cli, write_config
from tests.support.scriptserver import ScriptServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PAGE_A = """<html><head><title>A</title><link rel="stylesheet" href="/s/site.css">
<script src="/js/app.js"></script></head><body><p>Article A, long enough to be a page.</p>
<img src="/img/photo.png"><img src="/img/missing.png"></body></html>"""
PAGE_B = """<html><head><title>B</title><link rel="stylesheet" href="/s/site.css"></head>
<body><p>Article B.</p><img src="/img/photo2.png"></body></html>"""
CSS = "@font-face { src: url(/fonts/f.woff2) } body { background: url('../img/bg.png') }"
REQUISITES = ["/s/site.css", "/js/app.js", "/img/photo.png", "/img/missing.png",
              "/img/photo2.png", "/fonts/f.woff2", "/img/bg.png"]


def _binary(data: bytes, content_type: str) -> dict[str, object]:
    return {"status": 200, "body": data.decode("latin-1"), "encoding": "latin-1",
            "content_type": content_type}


def _site(server: ScriptServer) -> None:
    server.script("/a.html", [{"status": 200, "body": PAGE_A}])
    server.script("/b.html", [{"status": 200, "body": PAGE_B}])
    # the second page comes through a redirect: Scrapy's path, not the fast-path GET
    server.script("/moved", [{"status": 301, "headers": [["Location", "/b.html"]]}])
    server.script("/s/site.css", [{"status": 200, "body": CSS, "content_type": "text/css"}])
    server.script("/js/app.js", [{"status": 200, "body": "var x = 1;",
                                  "content_type": "application/javascript"}])
    for path in ("/img/photo.png", "/img/photo2.png", "/img/bg.png"):
        server.script(path, [_binary(PNG, "image/png")])
    server.script("/fonts/f.woff2", [_binary(b"wOF2fake", "font/woff2")])


def test_requisites_fetched_once_archived_and_not_watched(tmp_home: Path) -> None:
    write_config(tmp_home)
    with ScriptServer() as server:
        _site(server)
        first = run_cli(tmp_home, "crawl", server.url("/a.html"), server.url("/moved"))
        hits = server.hits()
        assert {path: hits.get(path) for path in REQUISITES} == {path: 1 for path in REQUISITES}
        # a second crawl soon after: the pages again, their requisites not
        run_cli(tmp_home, "crawl", server.url("/a.html"), server.url("/moved"))
        again = server.hits()
        assert again["/a.html"] == 2 and again["/b.html"] == 2
        assert {path: again.get(path) for path in REQUISITES} == {path: 1 for path in REQUISITES}
    assert "crawl run" in first.output
    responses = {r["uri"]: r for r in all_records(tmp_home) if r["type"] == "response"}
    for path in REQUISITES:
        assert server.url(path) in responses, path
    assert responses[server.url("/img/missing.png")]["http"].get_statuscode() == "404"
    assert responses[server.url("/img/photo.png")]["raw"] == PNG
    watched = {r["url"] for r in rows(tmp_home, "SELECT url FROM urls")}
    assert server.url("/a.html") in watched and len(watched) == 2
    assert not watched & {server.url(p) for p in REQUISITES}
    # like every archived response, each has its captures row
    captured = {r["url"] for r in rows(tmp_home, "SELECT url FROM captures")}
    assert {server.url(p) for p in REQUISITES} <= captured
    # the index holds them, which is how replay and the evidence export find them
    home = Home(tmp_home)
    assert [c.entry.status for c in captures_of(home, server.url("/img/photo.png"))] == [200]
    assert [c.entry.mime for c in captures_of(home, server.url("/s/site.css"))] == ["text/css"]
    # WARCs, index and catalogue still agree
    assert run_cli(tmp_home, "check").output.strip().endswith(": ok")


@pytest.mark.parametrize("share_backlog", [0, -1], ids=["text-in-crawl", "text-in-writer"])
def test_requisites_found_wherever_the_text_is_made(tmp_path: Path, share_backlog: int) -> None:
    """The crawl process lists them when it makes the page's text itself (0: always); else the
    archive writer does and answers, and the crawl stays open until it has (-1: never)."""
    home = tmp_path / "home"
    write_config(home)
    with ScriptServer() as server:
        _site(server)
        urls = [server.url("/a.html"), server.url("/moved")]
        result = run_crawl(Home(home), load_config(home / "memoryhole.toml"), [], urls,
                           extra_settings={"ARCHIVE_SHARE_TEXT_BACKLOG": share_backlog})
        hits = server.hits()
    assert result.returncode == 0
    assert {path: hits.get(path) for path in REQUISITES} == {path: 1 for path in REQUISITES}
    in_crawl = result.stats.get("memoryhole/text_in_crawl", 0)
    assert in_crawl == (2 if share_backlog == 0 else 0)
    assert result.stats["memoryhole/requisites/requested"] == len(REQUISITES)


def test_requisites_off(tmp_home: Path) -> None:
    write_config(tmp_home, requisites=False)
    with ScriptServer() as server:
        _site(server)
        run_cli(tmp_home, "crawl", server.url("/a.html"))
        hits = server.hits()
    assert hits["/a.html"] == 1
    assert not any(hits.get(path) for path in REQUISITES)


def test_requisites_max_and_refresh_are_validated(tmp_home: Path) -> None:
    write_config(tmp_home, requisites_max=0)
    bad = run_cli(tmp_home, "crawl", "http://127.0.0.1:1/", expect=2)
    assert "requisites_max" in bad.output and "positive" in bad.output
    write_config(tmp_home, requisites_refresh="soon")
    bad = run_cli(tmp_home, "crawl", "http://127.0.0.1:1/", expect=2)
    assert "requisites_refresh" in bad.output and "7d" in bad.output
