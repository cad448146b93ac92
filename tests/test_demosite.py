"""The demo site serves what ``memoryhole demo`` expects, before and after phases 2 and 3; the
demo itself, end to end, shows a story whose copies are deleted one after another."""

from __future__ import annotations

import gzip
import http.client
import re
import sqlite3
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from parsel import Selector

from archive.seeds import load_seeds
from demosite.content import (
    FEED_PHASE1,
    FEED_PHASE2,
    FORUM,
    KHORGOS,
    KHORGOS_EDITED_INDEX,
    KHORGOS_EDITED_PARAGRAPH,
    PHASE2,
    PHASE2_EXPECTED,
    PIPELINE,
    TOMBSTONE_AUTHOR_DELETED,
    TOMBSTONE_CENSORED,
    UNCHANGED_IN_PHASE2,
    WECHAT_ARTICLES,
    WECHAT_RETURN,
    WHEAT_GBK,
    article_by_path,
)
from demosite.reprints import PHASE3, RETURN_ACCOUNT, RETURN_ACCOUNT2, RETURN_PORTAL, SERVED
from demosite.run import _story_line
from demosite.site import DemoSite, demo_seeds_toml
from tests.support.helpers import run_cli

WECHAT_RETURN_PATH = WECHAT_RETURN.path
REASONS = {"edited", "gone", "censored", "author_deleted", "redirected", "transient"}


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite() as demo:
        yield demo


def get(site: DemoSite, path: str, method: str = "GET") -> tuple[http.client.HTTPResponse, bytes]:
    parts = urlsplit(site.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp, resp.read()
    finally:
        conn.close()


def feed_links(site: DemoSite) -> list[str]:
    resp, body = get(site, "/rss.xml")
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("application/rss")
    return [item.findtext("link") or "" for item in ET.fromstring(body).iter("item")]


def test_phase1_home_and_feed(site: DemoSite) -> None:
    assert site.phase() == 1
    assert feed_links(site) == [site.url(p) for p in FEED_PHASE1]
    assert len(FEED_PHASE1) == 6
    resp, body = get(site, "/")
    html = body.decode()
    assert resp.status == 200
    assert all(f'href="{p}"' in html for p in FEED_PHASE1)
    assert all(f'href="{w.path}"' in html for w in WECHAT_ARTICLES)
    assert get(site, FORUM.path)[0].status == 404, "the phase-2 article does not exist yet"
    assert get(site, "/robots.txt")[0].status == 200


def test_phase1_articles_and_encodings(site: DemoSite) -> None:
    for path in FEED_PHASE1:
        article = article_by_path(path)
        resp, body = get(site, path)
        assert resp.status == 200, path
        if article is PIPELINE:
            assert resp.getheader("Content-Encoding") == "gzip"
            assert int(resp.getheader("Content-Length")) == len(body)
            body = gzip.decompress(body)
        else:
            assert resp.getheader("Content-Encoding") is None
        text = body.decode(article.encoding)
        assert f"<title>{article.title}</title>" in text
        assert article.paragraphs[0] in text
        assert resp.getheader("Content-Type") == f"text/html; charset={article.encoding.upper()}"

    resp, body = get(site, WHEAT_GBK.path)
    assert b"charset" not in body.lower(), "GBK is declared only in the header"
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_phase1_wechat_structure(site: DemoSite) -> None:
    for article in WECHAT_ARTICLES:
        resp, body = get(site, article.path)
        assert resp.status == 200
        sel = Selector(text=body.decode())
        assert sel.css("#activity-name::text").get().strip() == article.title
        assert sel.css("#js_name::text").get() == article.account
        assert sel.css(".rich_media_meta_nickname a::text").get() == article.account
        assert sel.css("#publish_time::text").get() == article.published
        assert sel.css("#js_content p::text").getall() == list(article.paragraphs)
        assert not sel.css(".global_error_msg")


def test_phase1_serves_the_reprints(site: DemoSite) -> None:
    assert {r.path for r in SERVED} == {RETURN_PORTAL.path, RETURN_ACCOUNT.path,
                                        RETURN_ACCOUNT2.path}
    for reprint in SERVED:
        resp, body = get(site, reprint.path)
        assert resp.status == 200, reprint.path
        assert body.decode() == reprint.html()
    wechat = Selector(text=get(site, RETURN_ACCOUNT2.path)[1].decode())
    assert wechat.css("#js_name::text").get() == RETURN_ACCOUNT2.account


def test_phase2_expected_is_consistent() -> None:
    assert set(PHASE2_EXPECTED.values()) <= REASONS
    assert set(REASONS) == set(PHASE2_EXPECTED.values())
    assert all(article_by_path(p) is not None for p in PHASE2_EXPECTED)
    assert not set(UNCHANGED_IN_PHASE2) & set(PHASE2_EXPECTED)


def test_phase2_changes(site: DemoSite) -> None:
    before = {p: get(site, p)[1] for p in (*UNCHANGED_IN_PHASE2, *PHASE2_EXPECTED)}
    site.set_phase(2)
    assert site.phase() == 2
    for path, reason in PHASE2_EXPECTED.items():
        resp, body = get(site, path)
        assert resp.status == PHASE2[path].status, (path, reason)
        if reason == "edited":
            html = body.decode()
            assert KHORGOS_EDITED_PARAGRAPH in html
            assert KHORGOS.paragraphs[KHORGOS_EDITED_INDEX] not in html
            kept = [p for i, p in enumerate(KHORGOS.paragraphs) if i != KHORGOS_EDITED_INDEX]
            assert all(p in html for p in kept)
        elif reason == "gone":
            assert resp.status in (404, 410)
        elif reason in ("censored", "author_deleted"):
            sel = Selector(text=body.decode())
            expected = TOMBSTONE_CENSORED if reason == "censored" else TOMBSTONE_AUTHOR_DELETED
            assert sel.css(".weui-msg .global_error_msg::text").get() == expected
            assert sel.css(".weui-msg__title")
            assert not sel.css("#js_content")
        elif reason == "redirected":
            assert resp.getheader("Location") == site.url("/")
        elif reason == "transient":
            statuses = [resp.status] + [get(site, path)[0].status for _ in range(3)]
            assert statuses == [503, 200, 503, 200]
    for path in UNCHANGED_IN_PHASE2:
        assert get(site, path)[1] == before[path], path


def test_phase2_feed_and_back_to_phase1(site: DemoSite) -> None:
    phase1 = {p: get(site, p)[1] for p in FEED_PHASE1}
    site.set_phase(2)
    assert feed_links(site) == [site.url(p) for p in FEED_PHASE2]
    assert FORUM.path in FEED_PHASE2 and get(site, FORUM.path)[0].status == 200
    assert f'href="{FORUM.path}"' in get(site, "/")[1].decode()
    site.set_phase(1)
    assert {p: get(site, p)[1] for p in FEED_PHASE1} == phase1


def test_phase3_censors_a_reprint_and_keeps_phase2(site: DemoSite) -> None:
    site.set_phase(2)
    phase2 = {p: get(site, p) for p in (*PHASE2_EXPECTED, *(r.path for r in SERVED))}
    assert all(phase2[r.path][0].status == 200 for r in SERVED), "phase 2 keeps the reprints"
    site.set_phase(3)
    assert site.phase() == 3
    assert set(PHASE3) == {RETURN_ACCOUNT2.path}
    resp, body = get(site, RETURN_ACCOUNT2.path)
    sel = Selector(text=body.decode())
    assert resp.status == 200
    assert sel.css(".weui-msg .global_error_msg::text").get() == TOMBSTONE_CENSORED
    assert not sel.css("#js_content")
    for path in (RETURN_PORTAL.path, RETURN_ACCOUNT.path):
        assert get(site, path)[1] == phase2[path][1], path
    for path, reason in PHASE2_EXPECTED.items():
        if reason != "transient":        # a flaky page's answer depends on the request count
            assert get(site, path)[1] == phase2[path][1], path
    assert feed_links(site) == [site.url(p) for p in FEED_PHASE2]


def test_bad_phase_is_rejected(site: DemoSite) -> None:
    parts = urlsplit(site.base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("POST", "/_control/phase", body=b'{"phase": 7}')
        assert conn.getresponse().status == 400
    finally:
        conn.close()
    assert site.phase() == 1
    assert get(site, "/no/such/page")[0].status == 404


def test_demo_seeds_toml(site: DemoSite, tmp_path: Path) -> None:
    text = demo_seeds_toml(site.base)
    sources = tomllib.loads(text)["source"]
    # the reprints of the WeChat story: two on other accounts (WeChat rules), one on a portal
    feed, wechat, reprints = sources
    assert feed["kind"] == "feed" and feed["url"] == site.url("/rss.xml")
    assert wechat["kind"] == "page" and wechat["platform"] == "wechat"
    assert wechat["urls"] == [site.url(w.path) for w in WECHAT_ARTICLES] + [
        site.url(RETURN_ACCOUNT.path), site.url(RETURN_ACCOUNT2.path)]
    assert reprints["kind"] == "page" and reprints["platform"] == "news"
    assert reprints["urls"] == [site.url(RETURN_PORTAL.path)]

    seeds = tmp_path / "demo-seeds.toml"
    seeds.write_text(text, encoding="utf-8")
    loaded = load_seeds(seeds)
    assert [s.name for s in loaded] == ["demo-news", "demo-wechat", "demo-reprints"]


def test_story_line_is_terminal_safe() -> None:
    """An archived title is hostile: no escape sequence reaches the terminal, no markup runs."""
    copy = {"title": "\x1b[2J[bold red]evil\u202e", "state": "deleted"}
    line = _story_line({"story_id": 7, "copies": [copy, {**copy, "state": "alive"}],
                        "copies_deleted": 1})
    assert line.plain == "story 7 (\ufffd[2J[bold red]evil\ufffd): 1 of 2 copies deleted"
    assert not line.spans


def test_demo_shows_the_story_copies_deleted_one_after_another(tmp_path: Path) -> None:
    """``memoryhole demo`` end to end: the original is censored and confirmed (1 of 4 copies
    deleted), then a reprint is censored and confirmed by the due re-checks (2 of 4); the story
    section lists the copies, the original first. What it showed before still shows."""
    home = tmp_path / "demo-home"
    out = run_cli(home, "demo").output
    one, two = out.find("1 of 4 copies deleted"), out.find("2 of 4 copies deleted")
    assert 0 <= one < out.find("re-checks of the due URLs") < two, out
    assert re.search(r"recheck run \d+ \(due\): .*deletions confirmed 1", out, re.S), out
    section = out[out.index("copies of one story: which went first"):]
    section = section[:section.index("survival:")]
    rows = {line.split()[-1]: line.split()[:2] for line in section.splitlines()
            if line.strip().startswith(("1st", "2nd", "-"))}
    assert rows == {WECHAT_RETURN_PATH: ["1st", "censored"],
                    RETURN_ACCOUNT2.path: ["2nd", "censored"],
                    RETURN_ACCOUNT.path: ["-", "alive"], RETURN_PORTAL.path: ["-", "alive"]}
    assert f"went first: {WECHAT_RETURN_PATH} (censored" in section
    # what the demo showed before: the archive, the diff, the deletion log, the faults, survival
    for text in ("archived pages", f"edited: {KHORGOS.path}", "deletion log",
                 "not a deletion: /zh/2020/04/liuxuesheng.html: transient",
                 "survival: 13 URLs and items, 6 deleted"):
        assert text in out, text

    conn = sqlite3.connect(home / "memoryhole.db")
    try:
        deleted = [(path.split("/", 3)[-1], reason) for path, reason in conn.execute(
            "SELECT d.url, d.reason FROM deletions AS d JOIN urls AS u ON u.url = d.url"
            " WHERE u.story_id IS NOT NULL ORDER BY d.detected_at")]
        reasons = dict(conn.execute("SELECT url, reason FROM deletions").fetchall())
    finally:
        conn.close()
    assert deleted == [(WECHAT_RETURN_PATH[1:], "censored"), (RETURN_ACCOUNT2.path[1:],
                                                               "censored")]
    # phase 2's deletions, as before, and the reprint: 6 (13 watched URLs: 10 and 3 reprints)
    found = {url.split("/", 3)[-1]: reason for url, reason in reasons.items()}
    expected = {p[1:]: r for p, r in PHASE2_EXPECTED.items() if r not in ("edited", "transient")}
    assert found == {**expected, RETURN_ACCOUNT2.path[1:]: "censored"}


def test_the_demo_s_tables_show_archived_titles_as_text(tmp_path: Path) -> None:
    """The demo's own listings print archived fields through terminal_text: a title's escape
    sequence or rich markup is shown, never acted on."""
    from io import StringIO

    from rich.console import Console

    from archive.catalogue.db import open_catalogue
    from archive.home import Home
    from demosite.run import _show_captures

    home = Home(tmp_path / "home")
    db = open_catalogue(home.db_path)
    db["captures"].insert({"url": "http://127.0.0.1:1/a", "captured_at": "2026-12-03T00:00:00Z",
                           "warc_filename": "x.warc.gz", "status": 200,
                           "title": "\x1b[2J[link=http://evil]click[/link]"})
    db.conn.close()
    out = StringIO()
    _show_captures(home, Console(file=out, force_terminal=True, width=200))
    shown = out.getvalue()
    assert "\x1b[2J" not in shown and "[link=http://evil]click[/link]" in shown
