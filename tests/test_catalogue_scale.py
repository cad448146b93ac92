"""The catalogue's queries that a run makes whatever its size, checked for the indexes they use
(issue 14): a run's cost must not grow with the archive. Each test reads SQLite's plan
(EXPLAIN QUERY PLAN) of the statements a library call really runs, caught with a trace
callback; no timing (bench/scale.py measures the times)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from archive.catalogue.db import open_catalogue
from archive.catalogue.due import CANARIES, with_controls

NOW = "2026-11-22T10:00:00Z"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Any]:
    catalogue = open_catalogue(tmp_path / "memoryhole.db")
    yield catalogue
    catalogue.conn.close()


@contextmanager
def statements(db: Any) -> Iterator[list[str]]:
    """The SELECT statements run meanwhile, their parameters filled in."""
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        db.conn.set_trace_callback(None)
    seen[:] = [s for s in seen if s.lstrip().upper().startswith("SELECT")]


def plan(db: Any, sql: str) -> list[str]:
    return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql)]


def scans(lines: list[str], table: str, allowed: Callable[[str], bool] = lambda _: False
          ) -> list[str]:
    """The steps of a plan that read every row of ``table`` (a SCAN without an index, or a
    SCAN of an index not ``allowed``)."""
    return [line for line in lines if line.startswith(f"SCAN {table}")
            and not ("USING" in line and allowed(line))]


def watch(db: Any, n: int, *, source: str = "news", domain: str | None = None,
          stable: bool = True, checked_at: str = NOW) -> int:
    domain = domain or f"site{n}.example"
    return db["urls"].insert({
        "url": f"https://{domain}/{n}", "domain": domain,
        "source": source, "first_seen_at": NOW, "next_check_at": NOW,
        "last_checked_at": checked_at, "state": "alive" if stable else "missing",
        "missing_streak": 0 if stable else 2, "transient_streak": 0, "check_count": 3,
        "last_payload_digest": f"sha256:{n}"}).last_pk


def test_controls_walk_the_stable_urls_index_not_every_url(db):
    for n in range(30):
        watch(db, n, stable=n % 3 != 0, checked_at=f"2026-11-{1 + n % 20:02d}T00:00:00Z")
    watch(db, 100, source=CANARIES)
    with statements(db) as seen:
        chosen = with_controls(db, [], 3)
    assert len(chosen) == 3 and seen
    for sql in seen:
        lines = plan(db, sql)
        assert not scans(lines, "u", lambda line: "idx_urls_stable" in line), lines
        # sorting is only ever of the few canaries found through the source index
        if any("TEMP B-TREE" in line for line in lines):
            assert any("idx_urls_source" in line for line in lines), lines


def test_controls_are_the_canaries_then_one_url_per_site_newest_checked_first(db):
    old, new = "2026-11-01T00:00:00Z", "2026-11-20T00:00:00Z"
    a1 = watch(db, 1, domain="a.example", checked_at=new)
    watch(db, 2, domain="a.example", checked_at="2026-11-10T00:00:00Z")
    b = watch(db, 3, domain="b.example", checked_at=old)
    watch(db, 4, domain="c.example", stable=False, checked_at=new)        # not stable
    canary = watch(db, 5, source=CANARIES, domain="canary.example", checked_at=old)
    rows = with_controls(db, [], 3)
    assert [r["id"] for r in rows] == [canary, a1, b]
    assert all(r["control"] for r in rows)
    # a URL picked already is marked, not added again
    picked = [{"id": b, "domain": "b.example"}]
    rows = with_controls(db, picked, 3)
    assert [r["id"] for r in rows] == [b, canary, a1] and rows[0]["control"]


def test_revisit_lookups_read_the_url_s_newest_full_capture_without_a_sort(db, tmp_path):
    from collections import Counter
    from datetime import timedelta

    from archive.home import Home
    from archive.jobs import WriterSettings
    from archive.writer.pages import PageRecorder

    url = "https://example.org/a"
    columns = {"url": url, "fetched_url": url, "status": 200, "warc_filename": "a.warc.gz",
               "vantage": None}
    db["captures"].insert_all([
        {**columns, "captured_at": f"2026-11-0{n}T00:00:00Z", "payload_digest": "sha256:A",
         "is_revisit": int(n > 1), "warc_record_id": f"<urn:uuid:{n}>"} for n in range(1, 6)])
    pages = PageRecorder(db, Home(tmp_path), WriterSettings(), Counter(),
                         first_recheck=timedelta(hours=1))
    with statements(db) as seen:
        assert pages.last_full_capture(url)["payload_digest"] == "sha256:A"
        assert pages.original_with_digest(url, "sha256:A") is not None
    assert len(seen) == 2
    for sql in seen:
        lines = plan(db, sql)
        assert any("USING INDEX idx_captures_url_full (url=?)" in line for line in lines), lines
        assert not any("TEMP B-TREE" in line for line in lines), lines


def test_the_deletion_log_s_text_filter_searches_the_deletions_index_only(db: Any) -> None:
    """The log's text filter looks its words up in the deletions' own full-text index, whose
    size is the log's; through every capture's index it listed every match in the archive
    (0.7 s at 1M captures, BENCHMARKS.md). Short words are still read from the text."""
    from archive.catalogue.deletions import DeletionFilter, build_query, query_deletions
    from archive.catalogue.search import refresh_text_index

    good = db["captures"].insert({"url": "http://a.cn/1", "captured_at": "2026-11-01T00:00:00Z",
                                  "warc_filename": "x.warc.gz", "status": 200, "title": "文章",
                                  "text": "哈萨克斯坦渴望回归中国 government"}).last_pk
    shared = db["captures"].insert({"url": "http://a.cn/1", "warc_filename": "x.warc.gz",
                                    "captured_at": "2026-11-02T00:00:00Z", "status": 200,
                                    "title": "文章", "text_capture_id": good}).last_pk
    db["deletions"].insert({"url": "http://a.cn/1", "reason": "censored", "domain": "a.cn",
                            "detected_at": "2026-11-03T00:00:00Z",
                            "last_good_capture_id": shared})
    refresh_text_index(db)
    sql, params = build_query(DeletionFilter(text="government 回归"))
    steps = " | ".join(plan(db, sql.replace("?", "NULL")))
    assert "deletions_fts" in steps and "captures_fts" not in steps, steps
    assert [d["url"] for d in query_deletions(db, DeletionFilter(text="government"))] == [
        "http://a.cn/1"]
    assert len(query_deletions(db, DeletionFilter(text="渴望回归 新疆"))) == 0
    assert len(query_deletions(db, DeletionFilter(text="渴望回归 中国"))) == 1
