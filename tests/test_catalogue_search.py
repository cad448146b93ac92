"""archive.catalogue.search: writers queue, searchers index; Chinese substrings are found; the
deletion
log filters on the last good capture's text."""

from __future__ import annotations

from pathlib import Path

from archive.catalogue.db import open_catalogue
from archive.catalogue.deletions import DeletionFilter, query_deletions
from archive.catalogue.search import fts_query, pending, refresh_text_index, search_captures


def _capture(db, url: str, title: str | None, text: str | None) -> int:
    return db["captures"].insert({
        "url": url, "captured_at": "2026-11-01T00:00:00Z", "warc_filename": "x.warc.gz",
        "status": 200, "title": title, "text": text, "collection": "main",
    }).last_pk


def test_queue_index_update_delete(tmp_path: Path) -> None:
    db = open_catalogue(tmp_path / "memoryhole.db")
    article = _capture(db, "http://a.cn/1", "文章", "有人声称哈萨克斯坦渴望回归中国。")
    english = _capture(db, "http://b.org/2", "News", "Kazakhstan eager to return to China")
    image = _capture(db, "http://b.org/x.png", None, None)
    assert pending(db) == 2 and image
    assert db.execute("SELECT count(*) FROM captures_fts").fetchone()[0] == 0   # writers only queue
    progress: list[tuple[int, int]] = []
    assert refresh_text_index(db, batch=1, progress=lambda d, t: progress.append((d, t))) == 2
    assert progress == [(1, 2), (2, 2)] and pending(db) == 0
    assert search_captures(db, "哈萨克斯坦") == [article]
    assert search_captures(db, "kazakhstan CHINA") == [english]        # any case, all words
    assert search_captures(db, "kazakhstan moon") == []
    assert search_captures(db, 'x" OR "y') == []                       # no FTS5 syntax gets in
    db["captures"].update(article, {"text": "此内容因违规无法查看"})
    assert pending(db) == 1
    refresh_text_index(db)
    assert search_captures(db, "哈萨克斯坦") == [] and search_captures(db, "违规无法") == [article]
    db["captures"].delete(english)
    refresh_text_index(db)
    assert search_captures(db, "Kazakhstan") == []


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('censored "deleted" xy') == '"censored" """deleted"""'
    assert fts_query("   ") == ""


def test_deletions_filtered_by_last_good_text(tmp_path: Path) -> None:
    db = open_catalogue(tmp_path / "memoryhole.db")
    good = _capture(db, "http://a.cn/1", "文章", "哈萨克斯坦渴望回归中国")
    other = _capture(db, "http://a.cn/2", "文章", "天气很好")
    for url, capture in (("http://a.cn/1", good), ("http://a.cn/2", other)):
        db["deletions"].insert({"url": url, "reason": "censored", "domain": "a.cn",
                                "detected_at": "2026-11-02T00:00:00Z",
                                "last_good_capture_id": capture})
    refresh_text_index(db)
    found = query_deletions(db, DeletionFilter(text="渴望回归"))
    assert [d["url"] for d in found] == ["http://a.cn/1"]
    # two characters: too short for the trigram index, found in the text itself
    assert len(query_deletions(db, DeletionFilter(text="文章", domain="a.cn"))) == 2
    assert [d["url"] for d in query_deletions(db, DeletionFilter(text="天气 很好"))] == [
        "http://a.cn/2"]
    assert search_captures(db, "回归 中国") == [good]


def test_a_long_queue_is_indexed_in_the_background_with_progress(
        tmp_path: Path, monkeypatch) -> None:
    from archive.home import Home
    from archive.web import server as webserver
    from archive.web.ui import WebUI

    home = Home(tmp_path / "home")
    db = open_catalogue(home.db_path)
    for number in range(30):
        _capture(db, f"http://a.cn/{number}", "文章", f"第{number}篇 哈萨克斯坦")
    monkeypatch.setattr(webserver, "SEARCH_CATCH_UP", 10)
    monkeypatch.setattr("archive.web.ui.SEARCH_CATCH_UP", 10)
    # a search does not wait for a long queue: it reports how much is not searchable yet
    assert WebUI._refresh_for_search(db) == 30 and pending(db) == 30
    messages: list[str] = []
    assert webserver.index_for_search(home, messages.append) == 30
    assert messages[0] == "indexing 30 captures for text search…"
    assert messages[-1] == "text index: 30/30" and len(messages) <= 12
    assert pending(db) == 0 and len(search_captures(db, "哈萨克斯坦")) == 30
    assert webserver.index_for_search(home, messages.append) == 0      # nothing left
    _capture(db, "http://a.cn/new", "新", "一篇新文章")
    assert WebUI._refresh_for_search(db) == 0 and pending(db) == 0     # a short one: at once
