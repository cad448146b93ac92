"""The deletion log read side (archive.catalogue.deletions) and its writers
(archive.export.formats).

A real catalogue (archive.catalogue.db.open_catalogue) filled with urls, captures, checks and
deletions rows as the re-checker writes them: several reasons, sources and domains, one restored,
one without a good capture, an item deletion, Chinese URLs and titles.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest
from rich.console import Console

from archive.catalogue.db import open_catalogue
from archive.catalogue.deletions import REASONS, DeletionFilter, build_query, query_deletions
from archive.export.formats import CSV_COLUMNS, entry_id, flatten, write_deletions
from archive.timeutil import iso
from archive.urlnorm import canonical_url, domain_of

NOW = datetime(2026, 11, 22, 4, 0, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:8765"

# name: (url, source, reason, detected before now, rule, http status, detail, title of the last
# good capture or None for none, restored before now or None, item id / parent url)
DELETIONS: dict[str, dict[str, Any]] = {
    "news1": dict(url="https://example.org/news/1", source="news", reason="gone",
                  ago=timedelta(hours=1), rule="http-404", status=404, detail="HTTP 404",
                  title="Example news 1"),
    "soft": dict(url="https://news.example.com/a?id=7", source="news", reason="soft_404",
                 ago=timedelta(hours=1), rule="soft-404-probe", status=200,
                 detail="same as a random sibling URL", title="A story"),
    "weibo": dict(url="https://www.weibo.com/1234567/NaBcD", source="weibo-watch",
                  reason="censored", ago=timedelta(days=2), rule="weibo.censored.v1",
                  status=200, detail="该微博因违反《微博社区公约》的相关规定，已被删除",
                  title="关于某事件的微博"),
    "weibo_m": dict(url="https://m.weibo.cn/status/4999", source="weibo-watch",
                    reason="author_deleted", ago=timedelta(days=3), rule="weibo.author.v1",
                    status=200, detail="抱歉，此微博已被作者删除", title="手机版微博"),
    "cn": dict(url="https://www.例子.中国/新闻/删除?页=2", source="news", reason="censored",
               ago=timedelta(days=5), rule="news.censored.v1", status=200,
               detail="此内容因违规无法查看", title="被删除的新闻",
               restored=timedelta(days=1)),
    "tg": dict(url="https://t.me/s/channel/42", source="telegram", reason="restricted",
               ago=timedelta(days=6), rule="telegram.private.v1", status=200,
               detail="channel is private", title="post 42",
               item_id="channel/42", parent_url="https://t.me/s/channel"),
    "redir": dict(url="https://example.org/news/2", source="news", reason="redirected",
                  ago=timedelta(days=8), rule="redirect-to-home", status=301,
                  detail="301 to https://example.org/", title="Example news 2"),
    "wechat": dict(url="https://mp.weixin.qq.com/s/AbCdEf", source="wechat",
                   reason="account_gone", ago=timedelta(days=10), rule="wechat.banned.v2",
                   status=200, detail="该公众号已被封禁", title="公众号文章"),
    "nogood": dict(url="https://blog.example.net/post", source="added", reason="unknown",
                   ago=timedelta(days=20), rule=None, status=200, detail=None, title=None),
}


def build_catalogue(path: Path, now: datetime = NOW) -> dict[str, dict[str, Any]]:
    """Fill a catalogue at ``path``; returns, per name above, the row ids and times written."""
    db = open_catalogue(path)
    written: dict[str, dict[str, Any]] = {}
    offset = 0
    for name, spec in DELETIONS.items():
        url = canonical_url(spec["url"])
        detected = now - spec["ago"]
        first_missing = detected - timedelta(minutes=10)
        alive = detected - timedelta(minutes=40)
        db["urls"].insert({
            "url": url, "domain": domain_of(url), "source": spec["source"],
            "item_id": spec.get("item_id"), "first_seen_at": iso(alive - timedelta(days=1)),
            "last_alive_at": iso(alive), "missing_since": iso(first_missing),
            "deleted_at": iso(detected), "state": "deleted", "missing_reason": spec["reason"],
        })
        url_id = db.execute("SELECT id FROM urls WHERE url = ?", (url,)).fetchone()[0]
        good_id = None
        if spec["title"] is not None:
            good_id = db["captures"].insert({
                "url": url, "fetched_url": url, "captured_at": iso(alive), "status": 200,
                "mime": "text/html", "collection": "main",
                "warc_filename": "memoryhole-20261101-00001.warc.gz", "warc_offset": offset,
                "warc_length": 1500, "warc_record_id": f"<urn:uuid:good-{name}>",
                "title": spec["title"],
            }).last_pk
            offset += 1500
        evidence_id = None
        if spec["detail"] is not None:
            evidence_id = db["captures"].insert({
                "url": url, "fetched_url": url, "captured_at": iso(detected),
                "status": spec["status"], "mime": "text/html", "collection": "main",
                "warc_filename": "memoryhole-20261122-00002.warc.gz", "warc_offset": offset,
                "warc_length": 900, "warc_record_id": f"<urn:uuid:evidence-{name}>",
            }).last_pk
            offset += 900
        for when, outcome in ((alive, "alive"), (first_missing, "missing"), (detected, "missing")):
            db["checks"].insert({
                "url": url, "url_id": url_id, "checked_at": iso(when), "outcome": outcome,
                "http_status": 200 if outcome == "alive" else spec["status"],
                "reason": None if outcome == "alive" else spec["reason"],
                "rule": None if outcome == "alive" else spec["rule"],
                "capture_id": good_id if outcome == "alive" else evidence_id, "vantage": "local",
            })
        restored = now - spec["restored"] if spec.get("restored") else None
        deletion_id = db["deletions"].insert({
            "url": url, "url_id": url_id, "domain": domain_of(url), "source": spec["source"],
            "reason": spec["reason"], "rule": spec["rule"], "http_status": spec["status"],
            "detail": spec["detail"], "detected_at": iso(detected),
            "last_seen_alive_at": iso(alive), "first_seen_missing_at": iso(first_missing),
            "confirmed_checks": 2, "evidence_capture_id": evidence_id,
            "last_good_capture_id": good_id, "restored_at": iso(restored) if restored else None,
            "item_id": spec.get("item_id"), "parent_url": spec.get("parent_url"),
        }).last_pk
        written[name] = {"id": deletion_id, "url": url, "detected_at": iso(detected),
                         "good_id": good_id, "evidence_id": evidence_id,
                         "alive": iso(alive), "first_missing": iso(first_missing)}
    db.conn.close()
    return written


@pytest.fixture
def catalogue(tmp_path):
    written = build_catalogue(tmp_path / "memoryhole.db")
    db = open_catalogue(tmp_path / "memoryhole.db")
    yield db, written
    db.conn.close()


def names(rows: list[dict[str, Any]], written: dict[str, dict[str, Any]]) -> list[str]:
    by_id = {info["id"]: name for name, info in written.items()}
    return [by_id[row["id"]] for row in rows]


def q(db, **kwargs) -> list[dict[str, Any]]:
    return query_deletions(db, DeletionFilter(**kwargs))


def test_whole_log_newest_first_ties_by_id(catalogue):
    db, written = catalogue
    # "news1" and "soft" share a detection time: the later row comes first.
    assert names(q(db), written) == ["soft", "news1", "weibo", "weibo_m", "cn", "tg", "redir",
                                     "wechat", "nogood"]


def test_since_is_inclusive_until_exclusive(catalogue):
    db, written = catalogue
    assert names(q(db, since=NOW - timedelta(days=7)), written) == [
        "soft", "news1", "weibo", "weibo_m", "cn", "tg"]
    exact = NOW - timedelta(days=2)
    assert "weibo" in names(q(db, since=exact), written)
    assert "weibo" not in names(q(db, until=exact), written)
    assert names(q(db, since=NOW - timedelta(days=9), until=NOW - timedelta(days=3)),
                 written) == ["cn", "tg", "redir"]          # weibo_m is at exactly 3 days
    assert q(db, since=NOW) == []


@pytest.mark.parametrize("kwargs,expected", [
    ({"source": "news"}, ["soft", "news1", "cn", "redir"]),
    ({"source": "weibo-watch"}, ["weibo", "weibo_m"]),
    ({"source": "nobody"}, []),
    ({"reason": "censored"}, ["weibo", "cn"]),
    ({"reason": "unknown"}, ["nogood"]),
    ({"reason": "gone"}, ["news1"]),
    ({"domain": "example.org"}, ["news1", "redir"]),
    ({"domain": "weibo.com"}, ["weibo"]),
    ({"domain": "m.weibo.cn"}, ["weibo_m"]),
    ({"domain": "example.com"}, []),          # news.example.com is another host
    ({"domain": "news.example.com"}, ["soft"]),
])
def test_single_filters(catalogue, kwargs, expected):
    db, written = catalogue
    assert names(q(db, **kwargs), written) == expected


@pytest.mark.parametrize("domain", ["example.org", "WWW.Example.ORG", "https://www.example.org/x",
                                    " example.org ", "example.org/news/1"])
def test_domain_is_normalised_like_the_stored_one(catalogue, domain):
    db, written = catalogue
    assert names(q(db, domain=domain), written) == ["news1", "redir"]


def test_chinese_domain_matches_its_idna_form(catalogue):
    db, written = catalogue
    assert names(q(db, domain="例子.中国"), written) == ["cn"]
    assert names(q(db, domain="www.xn--fsqu00a.xn--fiqs8s"), written) == ["cn"]


@pytest.mark.parametrize("kwargs,expected", [
    ({"source": "news", "reason": "censored"}, ["cn"]),
    ({"source": "news", "since": NOW - timedelta(days=7)}, ["soft", "news1", "cn"]),
    ({"domain": "example.org", "since": NOW - timedelta(days=7)}, ["news1"]),
    ({"domain": "example.org", "reason": "redirected"}, ["redir"]),
    ({"domain": "example.org", "reason": "censored"}, []),
    ({"domain": "weibo.com", "source": "weibo-watch", "reason": "censored",
      "since": NOW - timedelta(days=7), "until": NOW}, ["weibo"]),
    ({"domain": "weibo.com", "source": "news"}, []),
    ({"reason": "censored", "since": NOW - timedelta(days=3)}, ["weibo"]),
    ({"source": "weibo-watch", "reason": "author_deleted", "until": NOW - timedelta(days=1)},
     ["weibo_m"]),
    ({"source": "news", "limit": 2}, ["soft", "news1"]),
    ({"since": NOW - timedelta(days=30), "limit": 3}, ["soft", "news1", "weibo"]),
])
def test_filter_combinations(catalogue, kwargs, expected):
    db, written = catalogue
    assert names(q(db, **kwargs), written) == expected


def test_limit(catalogue):
    db, written = catalogue
    assert names(q(db, limit=1), written) == ["soft"]
    assert q(db, limit=0) == []
    assert len(q(db, limit=100)) == len(DELETIONS)


@pytest.mark.parametrize("kwargs,message", [
    ({"reason": "deleted"}, "unknown reason"),
    ({"reason": "Censored"}, "unknown reason"),
    ({"domain": "a b"}, "not a domain"),
    ({"domain": ""}, "not a domain"),
    ({"domain": "..."}, "not a domain"),
    ({"limit": -1}, "limit"),
    ({"since": NOW, "until": NOW - timedelta(days=1)}, "after until"),
])
def test_bad_filters_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DeletionFilter(**kwargs)


def test_every_reason_is_accepted():
    for reason in REASONS:
        DeletionFilter(reason=reason)


def test_deletion_object_fields(catalogue):
    db, written = catalogue
    info = written["weibo"]
    (row,) = q(db, domain="weibo.com")
    assert row == {
        "id": info["id"],
        "url": "https://www.weibo.com/1234567/NaBcD",
        "domain": "weibo.com",
        "source": "weibo-watch",
        "reason": "censored",
        "detected_at": "2026-11-20T04:00:00.000000Z",
        "last_seen_alive_at": "2026-11-20T03:20:00.000000Z",
        "first_seen_missing_at": "2026-11-20T03:50:00.000000Z",
        "confirmed_checks": 2,
        "restored_at": None,
        "item_id": None,
        "parent_url": None,
        "item_text": None,
        "evidence": {
            "http_status": 200, "rule": "weibo.censored.v1",
            "detail": "该微博因违反《微博社区公约》的相关规定，已被删除",
            "capture_id": info["evidence_id"], "captured_at": "2026-11-20T04:00:00.000000Z",
            "warc_filename": "memoryhole-20261122-00002.warc.gz",
            "offset": row["evidence"]["offset"],
        },
        "last_good_capture": {
            "capture_id": info["good_id"], "timestamp": "2026-11-20T03:20:00.000000Z",
            "warc_filename": "memoryhole-20261101-00001.warc.gz",
            "offset": row["last_good_capture"]["offset"], "length": 1500,
            "collection": "main", "title": "关于某事件的微博",
        },
        "replay_url": f"{BASE}/replay/main/20261120032000/https://www.weibo.com/1234567/NaBcD",
        # in no story: a story of one copy, itself, deleted (archive.catalogue.stories)
        "story_id": None, "copies": 1, "copies_deleted": 1,
    }
    assert isinstance(row["evidence"]["offset"], int)
    assert isinstance(row["last_good_capture"]["offset"], int)


def test_offsets_point_at_the_captures(catalogue):
    db, written = catalogue
    for row in q(db):
        if row["last_good_capture"]:
            stored = db.execute("SELECT warc_offset, warc_filename FROM captures WHERE id = ?",
                                (row["last_good_capture"]["capture_id"],)).fetchone()
            assert stored == (row["last_good_capture"]["offset"],
                              row["last_good_capture"]["warc_filename"])


def test_no_last_good_capture(catalogue):
    db, written = catalogue
    (row,) = q(db, reason="unknown")
    assert row["last_good_capture"] is None
    assert row["replay_url"] is None
    assert row["evidence"] == {"http_status": 200, "rule": None, "detail": None,
                               "capture_id": None, "captured_at": None, "warc_filename": None,
                               "offset": None}


def test_restored_item_and_chinese_url(catalogue):
    db, written = catalogue
    (cn,) = q(db, domain="例子.中国")
    assert cn["restored_at"] == "2026-11-21T04:00:00.000000Z"
    assert cn["url"] == "https://www.xn--fsqu00a.xn--fiqs8s/新闻/删除?页=2"
    assert cn["last_good_capture"]["title"] == "被删除的新闻"
    # Non-ASCII is percent-encoded in the replay URL (UTF-8); the rest stays as it is.
    assert cn["replay_url"] == (
        f"{BASE}/replay/main/20261117032000/https://www.xn--fsqu00a.xn--fiqs8s/"
        "%E6%96%B0%E9%97%BB/%E5%88%A0%E9%99%A4?%E9%A1%B5=2")
    (tg,) = q(db, source="telegram")
    assert (tg["item_id"], tg["parent_url"]) == ("channel/42", "https://t.me/s/channel")
    assert all(row["item_id"] is None and row["parent_url"] is None
               for row in q(db) if row["source"] != "telegram")
    assert all(row["restored_at"] is None for row in q(db) if row["id"] != cn["id"])


def test_replay_base(catalogue):
    db, written = catalogue
    (row,) = query_deletions(db, DeletionFilter(reason="gone"),
                             replay_base="https://archive.example.net/mh/")
    assert row["replay_url"] == ("https://archive.example.net/mh/replay/main/20261122022000/"
                                 "https://example.org/news/1")


def test_accepts_a_plain_sqlite3_connection(catalogue):
    db, written = catalogue
    assert query_deletions(db.conn, DeletionFilter(reason="gone")) == q(db, reason="gone")


def _plan(db, flt: DeletionFilter) -> str:
    sql, params = build_query(flt)
    return " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))


@pytest.mark.parametrize("kwargs,index", [
    ({"domain": "example.org", "since": NOW}, "idx_deletions_domain_detected_at"),
    ({"domain": "example.org", "reason": "gone", "source": "news", "since": NOW},
     "idx_deletions_domain_detected_at"),
    ({"source": "news", "reason": "gone"}, "idx_deletions_source_detected_at"),
    ({"reason": "gone", "since": NOW}, "idx_deletions_reason_detected_at"),
    ({"since": NOW}, "idx_deletions_detected_at"),
    ({}, "idx_deletions_detected_at"),
])
def test_every_filter_is_an_indexed_range_without_a_sort(catalogue, kwargs, index):
    db, _ = catalogue
    plan = _plan(db, DeletionFilter(**kwargs))
    assert f"d USING INDEX {index}" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "SCAN d " not in plan.replace("SCAN d USING INDEX", ""), plan


# --- writers -------------------------------------------------------------------------------


def render(rows: list[dict[str, Any]], fmt: str, **kwargs: Any) -> str:
    out = io.StringIO()
    write_deletions(rows, fmt, out, **kwargs)
    return out.getvalue()


def test_json_and_jsonl_round_trip(catalogue):
    db, _ = catalogue
    rows = q(db)
    text = render(rows, "json")
    assert "该微博因违反" in text            # UTF-8, not \u escapes
    assert json.loads(text) == rows
    lines = render(rows, "jsonl").splitlines()
    assert len(lines) == len(rows)
    assert [json.loads(line) for line in lines] == rows
    assert json.loads(render([], "json")) == []
    assert render([], "jsonl") == ""


def test_csv_round_trip(catalogue):
    db, _ = catalogue
    rows = q(db)
    text = render(rows, "csv")
    parsed = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(parsed[0].keys()) == list(CSV_COLUMNS)
    assert len(parsed) == len(rows)
    for got, row in zip(parsed, rows, strict=True):
        flat = flatten(row)
        assert set(flat) <= set(CSV_COLUMNS)
        assert got == {key: "" if flat.get(key) is None else str(flat[key])
                       for key in CSV_COLUMNS}
    by_url = {row["url"]: row for row in parsed}
    weibo = by_url["https://www.weibo.com/1234567/NaBcD"]
    assert weibo["evidence_rule"] == "weibo.censored.v1"
    assert weibo["last_good_title"] == "关于某事件的微博"
    assert weibo["last_good_timestamp"] == "2026-11-20T03:20:00.000000Z"
    assert by_url["https://blog.example.net/post"]["last_good_capture_id"] == ""
    header_only = list(csv.reader(io.StringIO(render([], "csv"), newline="")))
    assert header_only == [list(CSV_COLUMNS)]


def test_csv_quotes_commas_quotes_and_newlines():
    row = {"id": 1, "url": "https://example.org/a,b", "reason": "censored",
           "evidence": {"detail": 'said "removed",\nthen gone'}, "last_good_capture": None}
    (got,) = csv.DictReader(io.StringIO(render([row], "csv"), newline=""))
    assert got["url"] == "https://example.org/a,b"
    assert got["evidence_detail"] == 'said "removed",\nthen gone'


def test_atom_feed_parses_back(catalogue):
    db, written = catalogue
    rows = q(db)
    text = render(rows, "atom", feed_key="/home/x\n", feed_title="memoryhole deletions")
    feed = feedparser.parse(text)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "memoryhole deletions"
    assert feed.feed.id.startswith("urn:uuid:")
    assert feed.feed.updated == rows[0]["detected_at"]
    assert len(feed.entries) == len(rows)
    ids = [entry.id for entry in feed.entries]
    assert len(set(ids)) == len(ids)
    for entry, row in zip(feed.entries, rows, strict=True):
        assert entry.id == entry_id(row) and entry.id.startswith("urn:uuid:")
        assert entry.title == f"[{row['reason']}] {row['url']}"
        assert entry.updated == row["detected_at"]
        assert entry.link == (row["replay_url"] or row["url"])
        assert f"reason: {row['reason']}" in entry.summary
        assert f"last seen alive: {row['last_seen_alive_at']}" in entry.summary
        if row["evidence"]["rule"]:
            assert f"rule: {row['evidence']['rule']}" in entry.summary
        assert row["reason"] in [tag.term for tag in entry.tags]
    weibo = next(e for e in feed.entries if "weibo.com" in e.title)
    assert "该微博因违反《微博社区公约》" in weibo.summary
    cn = next(e for e in feed.entries if "xn--fsqu00a" in e.title)
    assert "restored at 2026-11-21T04:00:00.000000Z" in cn.summary


def test_atom_ids_are_stable_and_feed_is_valid_when_empty(catalogue):
    db, _ = catalogue
    first = feedparser.parse(render(q(db), "atom", feed_key="k"))
    again = feedparser.parse(render(q(db), "atom", feed_key="k"))
    assert [e.id for e in first.entries] == [e.id for e in again.entries]
    assert first.feed.id == again.feed.id
    assert feedparser.parse(render(q(db), "atom", feed_key="other")).feed.id != first.feed.id
    empty = feedparser.parse(render([], "atom", feed_key="k"))
    assert not empty.bozo and empty.entries == [] and empty.feed.updated


def test_atom_survives_control_characters_and_markup():
    row = {"id": 3, "url": "https://example.org/a?x=1&y=<2>", "reason": "censored",
           "source": "news", "detected_at": "2026-11-22T04:00:00.000000Z",
           "last_seen_alive_at": None, "restored_at": None, "replay_url": None,
           "evidence": {"rule": "r", "detail": "bad\x00byte\x1b & <b>tag</b>"},
           "last_good_capture": None}
    feed = feedparser.parse(render([row], "atom", feed_key="k"))
    assert not feed.bozo, feed.bozo_exception
    (entry,) = feed.entries
    assert entry.link == "https://example.org/a?x=1&y=<2>"
    assert "<b>tag</b>" in entry.summary and "\x00" not in entry.summary


def test_table(catalogue):
    db, _ = catalogue
    console = Console(file=io.StringIO(), width=250)
    write_deletions(q(db), "table", io.StringIO(), console=console)
    text = console.file.getvalue()
    assert "https://www.xn--fsqu00a.xn--fiqs8s/新闻/删除?页=2" in text
    assert "censored (restored 2026-11-21T04:00:00.000000Z)" in text
    assert "weibo-watch" in text and "9 deletion(s)" in text
    console = Console(file=io.StringIO(), width=250)
    write_deletions([], "table", io.StringIO(), console=console, empty_message="nothing [here]")
    assert console.file.getvalue().strip() == "nothing [here]"


def test_table_prints_no_terminal_control_from_an_archived_url():
    row = {"id": 1, "url": "https://example.org/a\x1b]0;pwned\x07[bold]b[/bold]\u202e",
           "reason": "gone", "source": "s\x1b[2J", "detected_at": "2026-11-22T04:00:00Z",
           "last_seen_alive_at": None, "restored_at": None, "item_id": None}
    console = Console(file=io.StringIO(), width=250)
    write_deletions([row], "table", io.StringIO(), console=console)
    text = console.file.getvalue()
    assert not {"\x1b", "\x07", "\u202e"} & set(text)
    assert "[bold]b[/bold]" in text and "\ufffd]0;pwned" in text


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format"):
        render([], "xml")


def test_replay_url_parts():
    from archive.urlnorm import replay_url

    base = f"{BASE}/replay"
    assert replay_url(base, "main", "20261122040000", "https://example.org/a?b=1&c=%20") == \
        f"{BASE}/replay/main/20261122040000/https://example.org/a?b=1&c=%20"
    assert replay_url(base, "my coll", "20261122040000", "https://example.org/a b") == \
        f"{BASE}/replay/my%20coll/20261122040000/https://example.org/a%20b"
    assert replay_url(base, "main", "20261122040000", "https://example.org/a",
                      modifier="id_") == f"{BASE}/replay/main/20261122040000id_/https://example.org/a"
    assert replay_url(base, "main", None, "https://example.org/") is None
    assert replay_url(base, None, "20261122040000", "https://example.org/") is None


def test_capture_time_with_an_offset_gives_a_utc_replay_timestamp(catalogue):
    db, written = catalogue
    db.execute("UPDATE captures SET captured_at = '2026-11-22T12:00:00+08:00' WHERE id = ?",
               (written["news1"]["good_id"],))
    (row,) = q(db, reason="gone")
    assert "/replay/main/20261122040000/" in row["replay_url"]
