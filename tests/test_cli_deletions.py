"""``memoryhole deletions``: filters, formats, exit codes (DESIGN.md "Command line")."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import feedparser
import pytest

from archive.catalogue.db import open_catalogue
from archive.catalogue.deletions import DeletionFilter, query_deletions
from archive.export.formats import CSV_COLUMNS
from archive.timeutil import utcnow
from tests.support.helpers import run_cli
from tests.test_catalogue_deletions import DELETIONS, build_catalogue


@pytest.fixture
def home(tmp_home):
    """A home whose catalogue holds the deletions of test_catalogue_deletions, timed from now."""
    now = utcnow().replace(microsecond=0)
    written = build_catalogue(tmp_home / "memoryhole.db", now=now)
    return tmp_home, written


def library(home_dir, **kwargs):
    db = open_catalogue(home_dir / "memoryhole.db")
    try:
        return query_deletions(db, DeletionFilter(**kwargs))
    finally:
        db.conn.close()


def test_json_is_the_library_output(home):
    home_dir, written = home
    rows = json.loads(run_cli(home_dir, "deletions", "--format", "json").output)
    assert rows == library(home_dir)
    assert len(rows) == len(DELETIONS)
    assert rows[0]["detected_at"] >= rows[-1]["detected_at"]
    for key in ("url", "source", "reason", "detected_at", "last_seen_alive_at",
                "first_seen_missing_at", "confirmed_checks", "evidence", "last_good_capture",
                "replay_url", "restored_at", "item_id", "parent_url"):
        assert key in rows[0]


@pytest.mark.parametrize("args,expected", [
    (["--since", "7d"], ["soft", "news1", "weibo", "weibo_m", "cn", "tg"]),
    (["--since", "7d", "--domain", "www.example.org"], ["news1"]),
    (["--since", "9d", "--until", "4d"], ["cn", "tg", "redir"]),
    (["--source", "weibo-watch"], ["weibo", "weibo_m"]),
    (["--reason", "censored"], ["weibo", "cn"]),
    (["--domain", "例子.中国"], ["cn"]),
    (["--domain", "example.org", "--reason", "redirected", "--source", "news"], ["redir"]),
    (["--since", "30d", "--limit", "2"], ["soft", "news1"]),
    (["--source", "nobody"], []),
])
def test_filters(home, args, expected):
    home_dir, written = home
    by_id = {info["id"]: name for name, info in written.items()}
    rows = json.loads(run_cli(home_dir, "deletions", "--format", "json", *args).output)
    assert [by_id[row["id"]] for row in rows] == expected


def test_absolute_times(home):
    home_dir, written = home
    until = written["weibo"]["detected_at"]
    rows = json.loads(run_cli(home_dir, "deletions", "--format", "json", "--until", until,
                              "--since", "2000-01-01").output)
    assert written["weibo"]["id"] not in [row["id"] for row in rows]
    assert written["weibo_m"]["id"] == rows[0]["id"]


def test_jsonl(home):
    home_dir, _ = home
    output = run_cli(home_dir, "deletions", "--format", "jsonl", "--reason", "censored").output
    assert [json.loads(line) for line in output.splitlines()] == library(home_dir,
                                                                         reason="censored")


def test_csv(home):
    home_dir, _ = home
    output = run_cli(home_dir, "deletions", "--format", "csv").output
    parsed = list(csv.DictReader(io.StringIO(output, newline="")))
    assert list(parsed[0]) == list(CSV_COLUMNS)
    rows = library(home_dir)
    assert [row["url"] for row in parsed] == [row["url"] for row in rows]
    assert [row["evidence_rule"] for row in parsed] == [row["evidence"]["rule"] or ""
                                                        for row in rows]
    assert "关于某事件的微博" in [row["last_good_title"] for row in parsed]


def test_atom(home):
    home_dir, _ = home
    output = run_cli(home_dir, "deletions", "--format", "atom", "--since", "7d").output
    feed = feedparser.parse(output)
    assert not feed.bozo, feed.bozo_exception
    rows = library(home_dir, since=utcnow() - timedelta(days=7))
    assert [entry.title for entry in feed.entries] == [f"[{r['reason']}] {r['url']}"
                                                       for r in rows]
    assert "--since 7d" in feed.feed.title
    # The same command gives the same feed id (a relative age keeps it stable).
    again = feedparser.parse(run_cli(home_dir, "deletions", "--format", "atom", "--since",
                                     "7d").output)
    assert again.feed.id == feed.feed.id


def test_table(home):
    home_dir, _ = home
    output = run_cli(home_dir, "deletions").output
    assert "https://www.weibo.com/1234567/NaBcD" in output
    assert "last seen alive" in output and "9 deletion(s)" in output


def test_empty_log(tmp_home):
    open_catalogue(tmp_home / "memoryhole.db").conn.close()
    assert run_cli(tmp_home, "deletions").output.strip() == "no deletions in the log yet"
    assert json.loads(run_cli(tmp_home, "deletions", "--format", "json").output) == []
    assert run_cli(tmp_home, "deletions", "--format", "jsonl").output == ""
    assert run_cli(tmp_home, "deletions", "--format", "csv").output.strip() == \
        ",".join(CSV_COLUMNS)
    assert not feedparser.parse(run_cli(tmp_home, "deletions", "--format", "atom").output).bozo


def test_no_match_says_which_filters(home):
    home_dir, _ = home
    output = run_cli(home_dir, "deletions", "--source", "nobody", "--since", "7d").output
    assert output.strip() == "no deletions match --since 7d --source nobody"


@pytest.mark.parametrize("args,message", [
    (["--reason", "deleted"], "'deleted' is not one of"),
    (["--since", "last week"], "not a time or an age"),
    (["--until", "yesterday"], "not a time or an age"),
    (["--since", "1d", "--until", "7d"], "is after until"),
    (["--domain", "not a domain"], "not a domain"),
    (["--limit", "0"], "--limit"),
    (["--format", "xml"], "'xml' is not one of"),
])
def test_bad_usage_exits_2(home, args, message):
    home_dir, _ = home
    result = run_cli(home_dir, "deletions", *args, expect=2)
    assert message in result.output


def test_no_catalogue_fails_cleanly(tmp_home):
    result = run_cli(tmp_home, "deletions", expect=1)
    assert "no catalogue" in result.output
