"""``memoryhole export survival``: the columns and the censoring rules on a small catalogue with
known answers (tests/support/survival.py), its filters, and its query plan."""

from __future__ import annotations

import csv
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from archive.analysis.survival import COLUMNS, SurvivalFilter, build_queries, scan, survival_rows
from archive.catalogue.db import open_catalogue
from tests.support.helpers import run_cli
from tests.support.survival import HOSTILE, small_catalogue


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    small_catalogue(tmp_path / "memoryhole.db")
    return tmp_path


def export(home: Path, *args: str) -> dict[str, dict[str, str]]:
    out = home / "out" / "survival.csv"
    result = run_cli(home, "export", "survival", str(out), *args)
    with open(out, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = {row["url"]: row for row in reader}
    assert f"wrote {len(rows)} rows" in result.output
    return rows


def test_a_url_s_story_is_in_its_row(home: Path) -> None:
    with closing(sqlite3.connect(home / "memoryhole.db")) as db, db:
        db.execute("UPDATE urls SET story_id = 7 WHERE url = 'https://news.example.org/gone'")
    rows = export(home)
    assert rows["https://news.example.org/gone"]["story_id"] == "7"
    assert rows["https://news.example.org/alive"]["story_id"] == ""


def test_columns_and_censoring_rules_on_known_rows(home: Path) -> None:
    rows = export(home)
    # a URL deleted between two checks: alive at 15m, missing at 30m, confirmed at 35m
    gone = rows["https://news.example.org/gone"]
    assert gone["event"] == "1" and gone["reason"] == "gone"
    assert gone["last_seen_alive_at"] == "2026-11-01T00:15:00.000000Z"
    assert gone["first_seen_missing_at"] == "2026-11-01T00:30:00.000000Z"
    assert (gone["interval_low_s"], gone["interval_high_s"], gone["duration_s"]) == \
        ("900.0", "1800.0", "1350.0")
    assert gone["t0"] == gone["first_seen_at"] == "2026-11-01T00:00:00.000000Z"
    assert gone["published_at"] == "" and gone["story_id"] == "" and gone["platform"] == "news"
    # one still alive: right-censored at its last alive check, no upper bound
    alive = rows["https://news.example.org/alive"]
    assert (alive["event"], alive["duration_s"], alive["interval_low_s"],
            alive["interval_high_s"], alive["reason"], alive["first_seen_missing_at"]) == \
        ("0", "7200.0", "7200.0", "", "", "")
    assert alive["source"] == HOSTILE                   # CSV quoting keeps it as it is
    # an article whose metadata knows its publication: t0 is then, an hour before first seen
    article = rows["https://mp.weixin.qq.com/s/abc"]
    assert article["published_at"] == article["t0"] == "2026-10-31T23:00:00.000000Z"
    assert article["duration_s"] == "7200.0" and article["platform"] == "wechat"
    assert article["source"] == "'=wechat"              # a formula, neutralised
    # an item deleted from its list (no URL of its own): the deletion's interval, from its post
    item = rows["https://t.me/s/chan"]
    assert item["item_id"] == "chan/1" and item["event"] == "1" and item["reason"] == "unknown"
    assert item["t0"] == item["published_at"] == "2026-10-31T23:30:00.000000Z"
    assert (item["interval_low_s"], item["interval_high_s"], item["duration_s"]) == \
        ("5400.0", "9000.0", "7200.0")
    # an item watched through its own URL: one row, the URL's, with the item's post time
    own = rows["https://t.me/chan/2"]
    assert own["item_id"] == "chan/2" and own["published_at"] == "2026-10-31T22:00:00.000000Z"
    assert own["event"] == "0" and own["duration_s"] == "12600.0"
    # deleted, restored, deleted again: the first deletion is the event
    twice = rows["https://news.example.org/twice"]
    assert (twice["reason"], twice["interval_low_s"], twice["interval_high_s"]) == \
        ("censored", "300.0", "900.0")
    # never seen alive, the canaries and the service message are left out
    assert set(rows) == {"https://news.example.org/gone", "https://news.example.org/alive",
                         "https://mp.weixin.qq.com/s/abc", "https://t.me/s/chan",
                         "https://t.me/chan/2", "https://news.example.org/twice"}


def test_the_never_seen_alive_are_scanned_for_coverage_only(home: Path) -> None:
    db = open_catalogue(home / "memoryhole.db")
    unobserved = [row for row in scan(db) if row not in set(survival_rows(db))]
    assert [(row.url, row.event) for row in unobserved] == \
        [("https://news.example.org/never", 1)]


def test_filters_by_source_platform_and_since(home: Path) -> None:
    assert set(export(home, "--source", "tg")) == {"https://t.me/s/chan", "https://t.me/chan/2"}
    # the platform of a URL stored without one is the one its host picks (news)
    assert set(export(home, "--platform", "news")) == {
        "https://news.example.org/gone", "https://news.example.org/alive",
        "https://news.example.org/twice"}
    assert set(export(home, "--platform", "WeChat")) == {"https://mp.weixin.qq.com/s/abc"}
    assert export(home, "--since", "2026-11-02") == {}
    assert len(export(home, "--since", "2026-11-01")) == 6


def test_a_bad_since_is_a_usage_error(home: Path) -> None:
    result = run_cli(home, "export", "survival", str(home / "x.csv"), "--since", "soonish",
                     expect=2)
    assert "not a time or an age" in result.output
    assert not (home / "x.csv").exists()


@pytest.mark.parametrize("flt", [SurvivalFilter(), SurvivalFilter(source="news"),
                                 SurvivalFilter(platform="news")])
def test_one_pass_each_lookup_indexed(tmp_path: Path, flt: SurvivalFilter) -> None:
    db = open_catalogue(tmp_path / "memoryhole.db")
    for index, (sql, params) in enumerate(build_queries(flt)):
        plan = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params)]
        scans = [step for step in plan if step.startswith("SCAN")]
        # at most the one pass over the driving table; every other lookup is by key or index
        assert scans in ([], ["SCAN u"]), plan
        assert not any("d " in step and "SCAN" in step for step in plan), plan
        if flt.source and index == 0:               # the URLs: by the source index
            assert "SEARCH u USING INDEX idx_urls_source (source=?)" in plan, plan


def test_a_real_crawl_and_recheck_give_the_checks_interval(tmp_home: Path, server) -> None:
    from datetime import datetime

    from tests.support.helpers import rows, write_config

    write_config(tmp_home, obey_robots=False, timeout=2)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')
    page = {"status": 200, "body": "<html><head><title>A</title></head><body><article><p>"
            "Kazakhstan and China signed a transit deal at Khorgos.</p></article></body></html>"}
    server.script("/stays", [page])
    server.script("/goes", [page])
    run_cli(tmp_home, "crawl", server.url("/stays"), server.url("/goes"))
    server.script("/goes", [page, {"status": 404, "body": "no"}, {"status": 404, "body": "no"}])
    for _ in range(3):
        run_cli(tmp_home, "recheck", "--all")
    found = export(tmp_home)
    goes, stays = found[server.url("/goes")], found[server.url("/stays")]
    checks = rows(tmp_home, "SELECT checked_at, outcome FROM checks WHERE url = ? ORDER BY id",
                  (server.url("/goes"),))
    assert [c["outcome"] for c in checks] == ["alive", "missing", "missing"]
    assert goes["event"] == "1" and goes["reason"] == "gone"
    assert goes["last_seen_alive_at"] == checks[0]["checked_at"]
    assert goes["first_seen_missing_at"] == checks[1]["checked_at"]

    def since_t0(at: str) -> float:
        return (datetime.fromisoformat(at) - datetime.fromisoformat(goes["t0"])).total_seconds()

    low, high = since_t0(checks[0]["checked_at"]), since_t0(checks[1]["checked_at"])
    assert float(goes["interval_low_s"]) == pytest.approx(low, abs=1e-3)
    assert float(goes["interval_high_s"]) == pytest.approx(high, abs=1e-3)
    assert float(goes["duration_s"]) == pytest.approx((low + high) / 2, abs=1e-3)
    (watch,) = rows(tmp_home, "SELECT last_alive_at FROM urls WHERE url = ?",
                    (server.url("/stays"),))
    assert stays["event"] == "0" and stays["interval_high_s"] == ""
    assert stays["last_seen_alive_at"] == watch["last_alive_at"]


def test_a_news_article_s_publication_time_comes_from_its_metadata(tmp_home: Path,
                                                                   server) -> None:
    """A crawled article whose HTML gives its publication time (Open Graph, schema.org, a
    portal's own meta name) has it in its capture's metadata, its history and the export, where
    it is t0; a page without one leaves published_at empty."""
    import json

    from tests.support.helpers import write_config

    write_config(tmp_home, obey_robots=False, timeout=2)
    article = ("<html><head><title>A</title>{meta}</head><body><article><p>Kazakhstan and China"
               " signed a transit deal at Khorgos.</p></article></body></html>")
    server.script("/og", [{"status": 200, "body": article.format(
        meta='<meta property="article:published_time" content="2020-04-10T09:12:00+08:00">')}])
    server.script("/portal", [{"status": 200, "body": article.format(
        meta='<meta name="publishdate" content="2020-04-11">')}])
    server.script("/none", [{"status": 200, "body": article.format(meta="")}])
    run_cli(tmp_home, "crawl", *(server.url(p) for p in ("/og", "/portal", "/none")))
    history = json.loads(run_cli(tmp_home, "history", server.url("/og"), "--format",
                                 "json").output)
    assert history["captures"][0]["meta"]["published_at"] == "2020-04-10T01:12:00.000000Z"
    found = export(tmp_home)
    assert found[server.url("/og")]["published_at"].startswith("2020-04-10T01:12:00")
    assert found[server.url("/og")]["t0"] == found[server.url("/og")]["published_at"]
    assert found[server.url("/portal")]["published_at"].startswith("2020-04-11T00:00:00")
    assert found[server.url("/none")]["published_at"] == ""


def test_a_feed_entry_s_time_is_the_article_s_publication_time(tmp_home: Path, server) -> None:
    """An article listed in a feed, whose HTML gives no publication time, takes the entry's
    (pubDate, else updated) as its published_at; an article's own metadata wins over it."""
    import json

    from tests.support.helpers import write_config

    write_config(tmp_home, obey_robots=False, timeout=2)
    body = ("<html><head><title>A</title>{meta}</head><body><article><p>Kazakhstan and China"
            " signed a transit deal at Khorgos.</p></article></body></html>")
    server.script("/a", [{"status": 200, "body": body.format(meta="")}])
    server.script("/b", [{"status": 200, "body": body.format(
        meta='<meta itemprop="datePublished" content="2020-04-12T08:00:00Z">')}])
    server.script("/c", [{"status": 200, "body": body.format(meta="")}])
    items = (f"<item><title>a</title><link>{server.url('/a')}</link>"
             "<pubDate>Fri, 10 Apr 2020 09:12:00 +0800</pubDate></item>"
             f"<item><title>b</title><link>{server.url('/b')}</link>"
             "<pubDate>Fri, 10 Apr 2020 09:12:00 +0800</pubDate></item>"
             f"<item><title>c</title><link>{server.url('/c')}</link></item>")
    server.script("/feed.xml", [{"status": 200, "content_type": "application/rss+xml",
                                 "body": '<?xml version="1.0"?><rss version="2.0"><channel>'
                                         f"<title>F</title>{items}</channel></rss>"}])
    seeds = tmp_home / "seeds.toml"
    seeds.write_text(f'[[source]]\nname = "f"\nkind = "feed"\nurl = "{server.url("/feed.xml")}"\n',
                     encoding="utf-8")
    run_cli(tmp_home, "crawl", "--seeds", str(seeds))
    meta = json.loads(run_cli(tmp_home, "history", server.url("/a"), "--format",
                              "json").output)["captures"][0]["meta"]
    assert meta == {"published_at": "2020-04-10T01:12:00.000000Z"}
    found = export(tmp_home)
    assert found[server.url("/a")]["published_at"].startswith("2020-04-10T01:12:00")
    assert found[server.url("/b")]["published_at"].startswith("2020-04-12T08:00:00")
    assert found[server.url("/c")]["published_at"] == ""
