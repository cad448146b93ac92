"""The crawl's page fast path (crawlers.fastpath.pages): which pages it takes, what it archives,
and the safety, robots and size rules it keeps. tests/test_crawl_recording.py runs every
recording test with it on and off."""

from __future__ import annotations

import pytest

from archive.config import load_config
from archive.home import Home
from archive.seeds import Source
from crawlers.launch import run_crawl
from tests.support.helpers import all_records, rows, write_config

PAGE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        "<p>Kazakhstan and China signed a transit deal at Khorgos.</p></article></body></html>")


def page(title: str, **extra) -> dict:
    return {"status": 200, "body": PAGE.format(title=title), **extra}


def crawl(home, urls=(), sources=(), **settings):
    """A crawl in its own process; its stats."""
    config = load_config(home / "memoryhole.toml")
    result = run_crawl(Home(home), config, list(sources), list(urls),
                       extra_settings=settings or None)
    assert result.returncode == 0, result.error_lines()
    return result.stats


def configure(home, **crawl_values):
    write_config(home, **{"obey_robots": False, "timeout": 5, **crawl_values})


def test_plain_pages_on_the_fast_path_everything_else_through_scrapy(tmp_home, server):
    configure(tmp_home)
    server.script("/plain", [page("Plain", headers=[["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"],
                                                    ["ETag", '"p1"']])])
    server.script("/moved", [{"status": 302, "headers": [["Location", "/target"]], "body": ""}])
    server.script("/target", [page("Target")])
    server.script("/missing", [{"status": 404, "body": "<h1>Not Found</h1>"}])
    server.script("/gone", [{"status": 410, "body": "<h1>Gone</h1>"}])
    paths = ["/plain", "/moved", "/missing", "/gone"]
    stats = crawl(tmp_home, [server.url(p) for p in paths])
    assert stats.get("fastpath/pages/pages") == 1
    # the fast path's page goes through Scrapy's item pipeline like the spider's three
    assert stats.get("item_scraped_count") == stats.get("memoryhole/pages") == 4
    for status in (302, 404, 410):
        assert stats.get(f"fastpath/pages/refused/status/{status}") == 1
    hits = server.hits()
    # each refused page once direct, then once by Scrapy (which also follows the redirect)
    assert (hits["/plain"], hits["/moved"], hits["/target"], hits["/missing"],
            hits["/gone"]) == (1, 2, 1, 2, 2)

    records = all_records(tmp_home)
    statuses = {(r["uri"].rsplit("/", 1)[1], r["http"].get_statuscode())
                for r in records if r["type"] == "response"}
    assert statuses == {("plain", "200"), ("moved", "302"), ("target", "200"),
                        ("missing", "404"), ("gone", "410")}
    [plain] = [r for r in records if r["type"] == "response" and r["uri"].endswith("/plain")]
    assert [v for k, v in plain["http"].headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert plain["headers"].get_header("WARC-IP-Address") == "127.0.0.1"
    [request] = [r for r in records if r["type"] == "request"
                 and r["headers"].get_header("WARC-Concurrent-To")
                 == plain["headers"].get_header("WARC-Record-ID")]
    line, received = server.requests("/plain")[0]
    assert f"{request['http'].protocol} {request['http'].statusline}" == line
    assert request["http"].headers == received             # every header sent, in order
    [url] = rows(tmp_home, "SELECT etag, last_capture_id FROM urls WHERE url LIKE '%/plain'")
    assert url["etag"] == '"p1"'
    [capture] = rows(tmp_home, "SELECT title, text, status FROM captures WHERE id = ?",
                     (url["last_capture_id"],))
    assert capture["title"] == "Plain" and "Khorgos" in capture["text"]


def test_feed_pages_on_the_fast_path_and_each_fetched_once(tmp_home, server):
    configure(tmp_home)
    items = "".join(f"<item><title>{n}</title><link>{server.url(f'/news/{n}')}</link></item>"
                    for n in (1, 2, 3, 1))
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}'
            "</channel></rss>")
    for name in ("/feed-a.xml", "/feed-b.xml"):
        server.script(name, [{"status": 200, "body": feed, "content_type": "application/rss+xml"}])
    for n in (1, 2, 3):
        server.script(f"/news/{n}", [page(f"News {n}")])
    sources = [Source(name=name, kind="feed", urls=(server.url(f"/{name}.xml"),))
               for name in ("feed-a", "feed-b")]
    stats = crawl(tmp_home, sources=sources)
    assert stats.get("fastpath/pages/pages") == 3
    assert [server.hits()[f"/news/{n}"] for n in (1, 2, 3)] == [1, 1, 1]
    assert len(rows(tmp_home, "SELECT id FROM urls WHERE url LIKE '%/news/%'")) == 3


def test_private_addresses_refused_before_any_request(tmp_home, server):
    configure(tmp_home, allow_private_addresses=False)
    server.script("/plain", [page("Plain")])
    stats = crawl(tmp_home, [server.url("/plain")])
    assert not stats.get("fastpath/pages/requests")
    assert server.hits().get("/plain", 0) == 0
    assert stats.get("safety/blocked/private_address") == 1


def test_host_names_resolving_to_private_addresses_refused(tmp_path, server):
    names = {"TWISTED_DNS_RESOLVER": "tests.support.fakedns.TestNamesResolver",
             "FASTPATH_RESOLVER": "tests.support.fakedns.AiohttpTestNames"}
    server.script("/byname", [page("By name")])
    url = server.url("/byname").replace("127.0.0.1", "intranet.test")
    refused_home = tmp_path / "refused"
    configure(refused_home, allow_private_addresses=False)
    refused = crawl(refused_home, [url], **names)
    assert refused.get("fastpath/pages/failed/ClientConnectorDNSError") == 1
    assert server.hits().get("/byname", 0) == 0           # neither path reached the server
    allowed_home = tmp_path / "allowed"
    configure(allowed_home)
    assert crawl(allowed_home, [url], **names).get("fastpath/pages/pages") == 1


def test_robots_txt_obeyed_and_fetched_once(tmp_home, server):
    configure(tmp_home, obey_robots=True)
    server.script("/robots.txt", [{"status": 200, "body": "User-agent: *\nDisallow: /private\n",
                                   "content_type": "text/plain"}])
    server.script("/open", [page("Open")])
    server.script("/private/page", [page("Private")])
    stats = crawl(tmp_home, [server.url("/open"), server.url("/private/page")])
    hits = server.hits()
    assert hits["/robots.txt"] == 1 and hits.get("/private/page", 0) == 0
    assert stats.get("fastpath/pages/pages") == 1
    assert stats.get("robotstxt/forbidden") == 1           # counted once, by the spider's pass


def test_oversized_cut_and_bomb_bodies_left_to_scrapy(tmp_home, mockserver):
    configure(tmp_home, max_response_mb=2)
    urls = [mockserver.url("/big?mb=5"), mockserver.url("/truncated"), mockserver.url("/bomb")]
    stats = crawl(tmp_home, urls)
    assert not stats.get("fastpath/pages/pages")
    assert stats.get("fastpath/pages/refused/too_big") == 1
    assert stats.get("fastpath/pages/failed/ClientPayloadError") == 1
    assert stats.get("fastpath/pages/refused/undecodable") == 1
    archived = {r["uri"] for r in all_records(tmp_home) if r["type"] == "response"}
    assert urls[0] not in archived and urls[1] not in archived


@pytest.mark.parametrize("settings", [{"DOWNLOAD_DELAY": 0.01}, {"AUTOTHROTTLE_ENABLED": True},
                                      {"FASTPATH_PAGES": False}])
def test_off_when_pacing_or_switched_off(tmp_home, server, settings):
    configure(tmp_home)
    server.script("/plain", [page("Plain")])
    stats = crawl(tmp_home, [server.url("/plain")], **settings)
    assert not any(key.startswith("fastpath/pages/") for key in stats)
    assert stats.get("memoryhole/pages") == 1


def test_config_switch(tmp_home, server):
    configure(tmp_home, fast_pages=False)
    server.script("/plain", [page("Plain")])
    stats = crawl(tmp_home, [server.url("/plain")])
    assert not any(key.startswith("fastpath/pages/") for key in stats)


def test_per_host_limit_holds(tmp_home, server):
    """Fast-path GETs never exceed per_domain at one host, nor do the Scrapy requests that
    follow them (the refused pages)."""
    configure(tmp_home, concurrency=16, per_domain=2)
    paths = [f"/slow/{n}" for n in range(10)] + [f"/slow-moved/{n}" for n in range(4)]
    for path in paths[:10]:
        server.script(path, [page(path, delay=0.2)])
    for path in paths[10:]:          # refused: fetched again by Scrapy
        server.script(path, [{"status": 404, "body": "gone", "delay": 0.2}])
    stats = crawl(tmp_home, [server.url(p) for p in paths])
    assert stats.get("fastpath/pages/pages") == 10
    assert server.most_in_flight() == 2


def test_per_host_limit_counts_scrapy_requests_in_flight(tmp_home, server):
    """While Scrapy is still fetching one feed from a host, the fast-path GETs for another feed's
    pages on that host take only the room Scrapy leaves."""
    configure(tmp_home, concurrency=16, per_domain=2)
    pages = [f"/item/{n}" for n in range(6)]
    items = "".join(f"<item><title>{p}</title><link>{server.url(p)}</link></item>" for p in pages)
    feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>F</title>{items}'
            "</channel></rss>")
    server.script("/quick.xml", [{"status": 200, "body": feed,
                                  "content_type": "application/rss+xml"}])
    server.script("/slow.xml", [{"status": 200, "delay": 2.0, "content_type": "application/rss+xml",
                                 "body": '<?xml version="1.0"?><rss version="2.0"><channel>'
                                         "<title>S</title></channel></rss>"}])
    for path in pages:
        server.script(path, [page(path, delay=0.3)])
    sources = [Source(name=name, kind="feed", urls=(server.url(f"/{name}.xml"),))
               for name in ("quick", "slow")]
    stats = crawl(tmp_home, sources=sources)
    assert stats.get("fastpath/pages/pages") == 6
    assert server.most_in_flight() == 2
