"""The archive writer on its own: ordering, revisits, batching, and failing loudly."""

from __future__ import annotations

import threading
import time

import pytest

from archive.home import Home
from archive.jobs import PageJob, PageText, WriterSettings
from archive.text.extract import fast_page_text
from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.writer.client import ArchiveWriter, WriterError
from tests.support.helpers import all_records, index_text, memory_of, rows


def _exchange(url: str, body: bytes) -> HttpExchange:
    return HttpExchange(url=url, status=200, body=body, date=utcnow(),
                        response_headers=[("Content-Type", "text/html; charset=utf-8")],
                        request_headers=[("Host", "example.org")])


def _page(record_id: str, url: str, body: bytes) -> PageJob:
    found = fast_page_text(body, "text/html; charset=utf-8")
    return PageJob(record_id=record_id, url=url, status=200, body=body,
                   content_type="text/html", page=PageText(found.title, found.text,
                                                           found.text_digest, found.encoding))


def test_writer_writes_records_rows_and_revisits(tmp_path):
    home = Home(tmp_path / "home")
    writer = ArchiveWriter(home, WriterSettings(commit_rows=2))
    writer.start()
    body = b"<html><head><title>T</title></head><body><p>Hello archive</p></body></html>"
    url = "https://example.org/a?utm_source=x"
    for _ in range(3):
        record_id = writer.submit_exchange(_exchange(url, body))
        writer.submit_page(_page(record_id, url, body))
    stats = writer.close()
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
    assert index_text(home.root).count("\n") == 3


def test_writer_failure_is_raised_not_swallowed(tmp_path):
    home = Home(tmp_path / "home")
    home.root.mkdir()
    home.db_path.mkdir()            # the catalogue cannot be opened
    writer = ArchiveWriter(home, WriterSettings())
    writer.start()
    with pytest.raises(WriterError):
        for _ in range(50):
            writer.submit_exchange(_exchange("https://example.org/", b"x"))
            writer.wait_failed(0.1)
    with pytest.raises(WriterError):
        writer.close()


def _long_article(paragraph: str) -> bytes:
    paras = "".join(f"<p>{paragraph} Paragraph {n} of the report on the border talks.</p>"
                    for n in range(60))
    return f"<html><head><title>Talks</title></head><body>{paras}</body></html>".encode()


def _encode(body: bytes, coding: str) -> bytes:
    import gzip
    import zlib

    import brotli
    from backports import zstd

    return {"gzip": gzip.compress, "deflate": zlib.compress, "br": brotli.compress,
            "zstd": zstd.compress}[coding](body)


@pytest.mark.parametrize(("extract", "coding"), [
    ("fast", "gzip"), ("trafilatura", "gzip"), ("fast", "deflate"), ("fast", "br"),
    ("fast", "zstd")])
def test_a_page_sent_without_its_body_is_read_back_for_its_diff(tmp_path, extract, coding):
    """The crawl process does not send the decoded body of a long page whose text it made
    (page_body_needed); the writer reads it back from the record it has just written (the body
    as it came, in any coding the crawl accepts) when the page changed (or for trafilatura), and
    the diff is the one the body gives."""
    home = Home(tmp_path / "home")
    writer = ArchiveWriter(home, WriterSettings(extract=extract))
    writer.start()
    url = "https://example.org/report"
    for paragraph in ("The delegation met on Monday.", "The delegation never met."):
        body = _long_article(paragraph)
        page = _page("", url, body).page
        assert page is not None and len(page.text) > 3000
        exchange = HttpExchange(
            url=url, status=200, body=_encode(body, coding), date=utcnow(),
            response_headers=[("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Encoding", coding)],
            request_headers=[("Host", "example.org")])
        record_id = writer.submit_exchange(exchange)
        writer.submit_page(PageJob(record_id=record_id, url=url, status=200, body=None,
                                 content_type="text/html", page=page))
    stats = writer.close()
    assert stats["bodies_read_back"] == (3 if extract == "trafilatura" else 1)
    (diff,) = rows(home.root, "SELECT * FROM diffs")
    assert "+The delegation never met." in diff["unified_diff"]
    assert "-The delegation met on Monday." in diff["unified_diff"]
    texts = [r["text"] for r in rows(home.root, "SELECT text FROM captures ORDER BY id")]
    assert "never met" in texts[1] and "on Monday" in texts[0]


def test_page_body_needed_only_where_the_writer_has_no_other_way() -> None:
    from archive.jobs import SHORT_PAGE, page_body_needed

    assert page_body_needed(None)                                  # the writer makes the text
    short = PageText("t", "x" * (SHORT_PAGE - 1), "sha256:0", "utf-8")
    assert page_body_needed(short)                                 # it may be a tombstone
    assert not page_body_needed(PageText("t", "x" * SHORT_PAGE, "sha256:0", "utf-8"))


def test_read_ahead_is_bounded_in_bytes_and_holds_the_crawl_back(tmp_path):
    """The writer process reads ahead at most ``queue_bytes`` (plus about two items): while it
    is stuck (the catalogue locked by another process), the crawl's submits wait instead of its
    memory growing by every body submitted; nothing is dropped once it moves again."""
    from archive.catalogue.db import open_catalogue

    home = Home(tmp_path / "home")
    home.ensure("main")
    mib = 1024 * 1024
    item, count, bound = 8 * mib, 40, 32 * mib
    log = tmp_path / "writer.log"
    writer = ArchiveWriter(home, WriterSettings(queue_bytes=bound, log_file=str(log)))
    writer.start()
    assert writer.pid is not None
    writer.submit_exchange(_exchange("https://example.org/small", b"small"))
    locker = open_catalogue(home.db_path).conn
    deadline = time.monotonic() + 60
    while not locker.execute("SELECT count(*) FROM captures").fetchone()[0]:
        assert time.monotonic() < deadline, "the writer never started"
        time.sleep(0.05)
    start_hwm = memory_of(writer.pid)         # started, its first item written
    locker.execute("BEGIN IMMEDIATE")            # the writer's next row waits for this
    submitted: list[int] = []

    def submit() -> None:
        for n in range(count):
            writer.submit_exchange(_exchange(f"https://example.org/big/{n}", bytes([n]) * item))
            submitted.append(n)

    submitter = threading.Thread(target=submit, daemon=True)
    submitter.start()
    deadline = time.monotonic() + 60
    while "the crawl waits for it" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, ("the writer never held the crawl back", submitted)
        assert submitter.is_alive(), "every item was taken in while the writer was stuck"
        time.sleep(0.05)
    held = len(submitted)
    assert held < count // 2, held
    grown = memory_of(writer.pid) - start_hwm
    assert grown < bound + 4 * item, grown / mib
    locker.execute("COMMIT")
    submitter.join(timeout=60)
    assert not submitter.is_alive() and len(submitted) == count
    grown = memory_of(writer.pid) - start_hwm
    stats = writer.close()
    assert grown < bound + 4 * item, grown / mib
    assert stats["records"] == count + 1 and stats["queue_waits"] >= 1
    assert rows(home.root, "SELECT count(*) AS n FROM captures")[0]["n"] == count + 1


def test_inbox_bounds_bytes_and_items_and_always_takes_one():
    from archive.writer.inbox import Inbox

    inbox = Inbox(max_items=3, max_bytes=100)
    inbox.put_sized("huge", 500)                    # alone: past the bound, still taken
    waiting = threading.Thread(target=inbox.put_sized, args=("next", 1), daemon=True)
    waiting.start()
    deadline = time.monotonic() + 10
    while inbox.waits < 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert waiting.is_alive() and inbox.bytes == 500
    assert inbox.get(timeout=5) == "huge"
    waiting.join(timeout=10)
    assert not waiting.is_alive() and inbox.bytes == 1
    for n in range(2):
        inbox.put_sized(n, 1)                       # 3 items: the count bound
    assert inbox.waits == 1 and inbox.qsize() == 3
    fourth = threading.Thread(target=inbox.put_sized, args=(2, 1), daemon=True)
    fourth.start()
    while inbox.waits < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert fourth.is_alive() and inbox.qsize() == 3
    assert [inbox.get(timeout=1) for _ in range(2)] == ["next", 0]
    fourth.join(timeout=10)
    assert [inbox.get(timeout=1) for _ in range(2)] == [1, 2] and inbox.bytes == 0
    assert inbox.peak_bytes == 500
