"""Memory bounds beyond plain HTTP: the archive writer's read-ahead in bytes, feeds and sitemaps
(items per feed or sitemap, sitemaps followed, nesting), and the settings that carry them from
``memoryhole.toml`` to the crawl."""

from __future__ import annotations

import pytest

from archive.config import load_config
from archive.config_file import ConfigError
from archive.home import Home
from archive.seeds import Source
from crawlers.launch import crawl_settings, run_crawl
from crawlers.spiders.news import feed_entries
from tests.support.helpers import memory_of, reset_peak_memory, write_config

MIB = 1024 * 1024


def test_writer_queue_mb_reaches_the_writer(tmp_home):
    write_config(tmp_home, writer_queue_mb=64)
    settings = crawl_settings(Home(tmp_home), load_config(tmp_home / "memoryhole.toml"))
    assert settings["ARCHIVE_QUEUE_MAX_BYTES"] == 64 * MIB
    default = crawl_settings(Home(tmp_home), load_config(tmp_home / "none.toml"))
    assert default["ARCHIVE_QUEUE_MAX_BYTES"] == 256 * MIB


def test_writer_queue_mb_must_be_positive(tmp_home):
    write_config(tmp_home, writer_queue_mb=0)
    with pytest.raises(ConfigError, match="crawl.writer_queue_mb: must be greater than 0"):
        load_config(tmp_home / "memoryhole.toml")


def _crawl(home, sources=(), urls=(), **crawl_values):
    """A crawl in its own process (loopback allowed, robots.txt not asked); its result."""
    write_config(home, obey_robots=False, timeout=10, **crawl_values)
    result = run_crawl(Home(home), load_config(home / "memoryhole.toml"), list(sources),
                       list(urls))
    assert result.returncode == 0, result.error_lines()
    return result


def _source(url: str, kind: str, **values) -> Source:
    return Source(name=f"hostile-{kind}", kind=kind, urls=(url,), **values)


def _log(result) -> str:
    return result.log_path.read_text(encoding="utf-8")


def _article_hits(server, numbers) -> list[int]:
    return [server.hits(f"/articles/{n}") for n in numbers]


def test_feed_bounds_keys_reach_the_crawl_and_are_validated(tmp_home):
    write_config(tmp_home, feed_max_items=5, sitemap_max_items=6, sitemap_max_followed=7,
                 sitemap_max_depth=2)
    settings = crawl_settings(Home(tmp_home), load_config(tmp_home / "memoryhole.toml"))
    assert (settings["NEWS_FEED_MAX_ITEMS"], settings["NEWS_SITEMAP_MAX_ITEMS"],
            settings["NEWS_SITEMAP_MAX_FOLLOWED"], settings["NEWS_SITEMAP_MAX_DEPTH"]) == \
        (5, 6, 7, 2)
    default = crawl_settings(Home(tmp_home), load_config(tmp_home / "none.toml"))
    assert (default["NEWS_FEED_MAX_ITEMS"], default["NEWS_SITEMAP_MAX_FOLLOWED"]) == (1000, 50)
    for key in ("feed_max_items", "sitemap_max_items", "sitemap_max_followed",
                "sitemap_max_depth"):
        write_config(tmp_home, **{key: 0})
        with pytest.raises(ConfigError, match=f"crawl.{key}: must be greater than 0"):
            load_config(tmp_home / "memoryhole.toml")


def test_a_huge_feed_gives_its_first_entries_only(tmp_home, mockserver):
    """A feed of 100,000 entries: the first ``feed_max_items`` become pages, the rest is not
    even parsed; the bound is counted and logged. A source's max_items overrides it."""
    feed = mockserver.url("/hostile/feed.xml?n=100000")
    before = _article_hits(mockserver, range(10))
    result = _crawl(tmp_home, [_source(feed, "feed")], feed_max_items=3)
    taken = [a - b for a, b in zip(_article_hits(mockserver, range(10)), before, strict=True)]
    assert taken == [1, 1, 1] + [0] * 7, taken
    assert result.stats.get("memoryhole/feeds/max_items_reached") == 1
    assert "lists more than 3 entries: the first 3 are taken" in _log(result)
    before = _article_hits(mockserver, range(10))
    _crawl(tmp_home, [_source(feed, "feed", max_items=5)], feed_max_items=3)
    taken = [a - b for a, b in zip(_article_hits(mockserver, range(10)), before, strict=True)]
    assert taken == [1] * 5 + [0] * 5, taken


def test_a_feed_within_its_bound_is_taken_whole(tmp_home, mockserver):
    result = _crawl(tmp_home, [_source(mockserver.url("/feed.xml"), "feed")], feed_max_items=4)
    assert result.stats.get("memoryhole/pages") == 4
    assert not result.stats.get("memoryhole/feeds/max_items_reached")


def test_a_sitemap_index_fanning_out_follows_a_bounded_number(tmp_home, mockserver):
    """An index of 500 sitemaps of 3 URLs each: ``sitemap_max_followed`` sitemaps are fetched
    for the source, ``sitemap_max_items`` URLs taken from each."""
    index = mockserver.url("/hostile/index.xml?n=500&urls=3")
    maps = [f"/hostile/sitemap/{n}.xml" for n in range(8)]
    before = [mockserver.hits(path) for path in maps]
    result = _crawl(tmp_home, [_source(index, "sitemap")], sitemap_max_followed=4,
                    sitemap_max_items=2)
    fetched = [mockserver.hits(path) - b for path, b in zip(maps, before, strict=True)]
    assert fetched == [1] * 4 + [0] * 4, fetched
    assert result.stats.get("memoryhole/pages") == 8           # 2 of the 3 URLs of each
    assert result.stats.get("memoryhole/sitemaps/max_followed_reached") == 1
    assert result.stats.get("memoryhole/sitemaps/max_items_reached") == 4
    log = _log(result)
    assert "sitemaps past the 4 a source may fetch in a run are not followed" in log
    assert "lists more than 2 URLs: the first 2 are taken" in log


def test_sitemap_indexes_nested_without_end_stop_at_the_depth_bound(tmp_home, mockserver):
    nested = [f"/hostile/nested/{n}.xml" for n in range(5)]
    before = [mockserver.hits(path) for path in nested]
    result = _crawl(tmp_home, [_source(mockserver.url(nested[0]), "sitemap")],
                    sitemap_max_depth=2)
    fetched = [mockserver.hits(path) - b for path, b in zip(nested, before, strict=True)]
    assert fetched == [1, 1, 1, 0, 0], fetched
    assert result.stats.get("memoryhole/sitemaps/too_deep") == 1
    assert "is nested 3 deep: not followed" in _log(result)


def test_a_gzip_sitemap_file_that_is_a_bomb_is_refused(tmp_home, mockserver):
    """A ``.xml.gz`` sitemap served as a file (no Content-Encoding) is decoded by the spider,
    within ``max_response_mb``: a bomb is refused as an invalid sitemap, not a spider crash."""
    result = _crawl(tmp_home, [_source(mockserver.url("/hostile/sitemap.xml.gz"), "sitemap")],
                    max_response_mb=2)
    assert result.stats.get("memoryhole/sitemaps/invalid") == 1
    assert not any(key.startswith("spider_exceptions") for key in result.stats)
    assert "cannot be decompressed" in _log(result)


def _rss(count: int, description: str = "") -> bytes:
    items = "".join(f"<item><title>t{n}</title><link>http://example.org/a/{n}</link>"
                    f"<description>{description}</description></item>\n" for n in range(count))
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
            f"{items}</channel></rss>").encode()


def _atom(count: int) -> bytes:
    entries = "".join(f'<entry><title>t{n}</title><link href="http://example.org/e/{n}"/>'
                      f"<id>urn:e:{n}</id></entry>\n" for n in range(count))
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>x</title>{entries}</feed>").encode()


def test_feed_entries_parses_only_the_entries_it_takes():
    body = _rss(100_000)                                 # 7 MB; about 150 MB parsed whole
    start = reset_peak_memory()
    entries, more = feed_entries(body, "application/rss+xml", 20)
    assert memory_of() - start < 16 * MIB, (memory_of() - start) / MIB
    assert more and [e.link for e in entries] == [f"http://example.org/a/{n}" for n in range(20)]
    entries, more = feed_entries(_atom(50), None, 20)
    assert more and [e.link for e in entries] == [f"http://example.org/e/{n}" for n in range(20)]


def test_feed_entries_within_the_bound_or_with_end_tags_in_their_text():
    for count in (5, 20):
        entries, more = feed_entries(_rss(count), None, 20)
        assert len(entries) == count and not more
    # "</item>" inside the entries' text: the cut moves on until 20 real entries are in it
    tricky = _rss(100, "<![CDATA[ a list: </item></item></entry> ]]>")
    entries, more = feed_entries(tricky, None, 20)
    assert more and [e.link for e in entries] == [f"http://example.org/a/{n}" for n in range(20)]
    entries, more = feed_entries(_rss(20, "<![CDATA[ </item> ]]>"), None, 20)
    assert len(entries) == 20 and not more
