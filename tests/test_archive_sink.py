"""The archive sink on its own: ordering, revisits, batching, and failing loudly."""

from __future__ import annotations

import pytest

from archive.home import Home
from archive.sink import ArchiveSink, PageJob, PageText, SinkError, SinkSettings
from archive.text import fast_page_text
from archive.timeutil import utcnow
from archive.warc import HttpExchange
from tests.helpers import all_records, rows


def _exchange(url: str, body: bytes) -> HttpExchange:
    return HttpExchange(url=url, status=200, body=body, date=utcnow(),
                        response_headers=[("Content-Type", "text/html; charset=utf-8")],
                        request_headers=[("Host", "example.org")])


def _page(record_id: str, url: str, body: bytes) -> PageJob:
    found = fast_page_text(body, "text/html; charset=utf-8")
    return PageJob(record_id=record_id, url=url, status=200, body=body,
                   content_type="text/html", page=PageText(found.title, found.text,
                                                           found.text_digest, found.encoding))


def test_sink_writes_records_rows_and_revisits(tmp_path):
    home = Home(tmp_path / "home")
    sink = ArchiveSink(home, SinkSettings(commit_rows=2))
    sink.start()
    body = b"<html><head><title>T</title></head><body><p>Hello archive</p></body></html>"
    url = "https://example.org/a?utm_source=x"
    for _ in range(3):
        record_id = sink.submit_exchange(_exchange(url, body))
        sink.submit_page(_page(record_id, url, body))
    stats = sink.close()
    assert stats["records"] == 1 and stats["revisits"] == 2 and stats["pages"] == 3
    captures = rows(home.root, "SELECT url, fetched_url, is_revisit, title FROM captures"
                               " ORDER BY id")
    assert [c["is_revisit"] for c in captures] == [0, 1, 1]
    assert {c["url"] for c in captures} == {"https://example.org/a"}
    assert {c["title"] for c in captures} == {"T"}
    (watched,) = rows(home.root, "SELECT * FROM urls")
    assert watched["domain"] == "example.org" and watched["state"] == "alive"
    types = [r["type"] for r in all_records(home.root)]
    assert types == ["warcinfo", "response", "request", "revisit", "request", "revisit",
                     "request"]
    assert home.index_path("main").read_text().count("\n") == 3


def test_sink_failure_is_raised_not_swallowed(tmp_path):
    home = Home(tmp_path / "home")
    home.root.mkdir()
    home.db_path.mkdir()            # the catalogue cannot be opened
    sink = ArchiveSink(home, SinkSettings())
    sink.start()
    with pytest.raises(SinkError):
        for _ in range(50):
            sink.submit_exchange(_exchange("https://example.org/", b"x"))
            sink.wait_failed(0.1)
    with pytest.raises(SinkError):
        sink.close()
