"""Replay of captures whose archived headers are not ASCII (a UTF-8 ``Content-Disposition`` or
``Location``, common on Chinese sites) or carry control characters: a real ``memoryhole serve``
answers them, never a 500 (RELIABILITY.md point 13)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import quote, unquote

import pytest

from archive.home import Home
from archive.jobs import PageJob, WriterSettings
from archive.timeutil import utcnow
from archive.warc.http_message import HttpExchange
from archive.writer.client import ArchiveWriter
from tests.support import webhome as wh
from tests.support.helpers import http_get, write_config

SITE = "http://news.example.cn"
FILE = "新闻 稿.txt"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[wh.ServeProcess]:
    root = tmp_path_factory.mktemp("headers") / "home"
    home = Home(root)
    write_config(root)
    when = utcnow() - timedelta(hours=1)
    answers = [
        (f"{SITE}/download", 200, [("Content-Type", "text/plain; charset=utf-8"),
                                   ("Content-Disposition", f'attachment; filename="{FILE}"'),
                                   ("X-Note", "tab\there, bell\x07, nul\x00 and \x1b[31mred")],
         "下载的文件内容".encode()),
        (f"{SITE}/old", 302, [("Location", "/新闻/第二页?标题=边境"),
                              ("Content-Type", "text/html")], b""),
    ]
    writer = ArchiveWriter(home, WriterSettings())
    writer.start()
    for url, status, headers, body in answers:
        record_id = writer.submit_exchange(HttpExchange(
            url=url, status=status, body=body, date=when, response_headers=headers,
            request_headers=[("Host", "news.example.cn")]))
        writer.submit_page(PageJob(record_id=record_id, url=url, status=status, body=body,
                                   content_type=headers[0][1]))
    writer.close()
    with wh.ServeProcess(root) as process:
        yield process


def test_a_utf8_content_disposition_is_replayed(served: wh.ServeProcess) -> None:
    status, headers, body = http_get(served.replay, f"/main/2030/{SITE}/download")
    if status == 302:
        status, headers, body = http_get(served.replay, headers["location"])
    assert status == 200, body[:300]
    assert body.decode() == "下载的文件内容"
    shown = headers["x-archive-orig-content-disposition"]
    # the archived bytes, UTF-8, as the server sent them (an HTTP client reads them as latin-1)
    assert shown.encode("latin-1").decode("utf-8") == f'attachment; filename="{FILE}"'
    note = headers["x-archive-orig-x-note"]
    assert "\x07" not in note and "\x00" not in note and "\x1b" not in note
    assert note.startswith("tab\there, bell")


def test_a_utf8_location_is_percent_encoded(served: wh.ServeProcess) -> None:
    status, headers, body = http_get(served.replay, f"/main/2030/{SITE}/old")
    if status == 302 and "/old" in headers["location"] and "2030" not in headers["location"]:
        status, headers, body = http_get(served.replay, headers["location"])
    assert status == 302, body[:300]
    location = headers["location"]
    assert location.isascii()
    assert unquote(location).endswith(f"{SITE}/新闻/第二页?标题=边境")
    assert quote("新闻") in location
    original = headers["x-archive-orig-location"]
    assert original.encode("latin-1").decode("utf-8") == "/新闻/第二页?标题=边境"


def test_a_revisit_replays_its_original_and_says_missing_without_it(tmp_path) -> None:
    """The same page fetched twice: the second is a revisit (identical payload digest) that
    replays the first's payload; with the original's WARC file gone, replay says it is missing
    (a 404 naming why), never a 500 nor another body (RELIABILITY.md point 7)."""
    from tests.support.helpers import all_records, warc_files

    root = tmp_path / "home"
    home = Home(root)
    write_config(root)
    url = f"{SITE}/twice"
    body = "<html><body><article><p>两次抓取的同一篇文章。</p></article></body></html>".encode()
    for hours in (2, 1):
        writer = ArchiveWriter(home, WriterSettings())
        writer.start()
        record_id = writer.submit_exchange(HttpExchange(
            url=url, status=200, body=body, date=utcnow() - timedelta(hours=hours),
            response_headers=[("Content-Type", "text/html; charset=utf-8")],
            request_headers=[("Host", "news.example.cn")]))
        writer.submit_page(PageJob(record_id=record_id, url=url, status=200, body=body,
                                   content_type="text/html"))
        writer.close()
    kinds = [(r["type"], r["headers"].get_header("WARC-Profile")) for r in all_records(root)
             if r["type"] in ("response", "revisit")]
    assert kinds == [("response", None), ("revisit", "http://netpreserve.org/warc/1.1/"
                                                      "revisit/identical-payload-digest")]
    first, second = warc_files(root)
    with wh.ServeProcess(root) as served:
        status, headers, _ = http_get(served.replay, f"/main/2099/{url}")
        assert status == 302
        revisit_path = re.sub(r"^/main/(\d{14})/", r"/main/\1id_/", headers["location"])
        status, _, replayed = http_get(served.replay, revisit_path)
        assert status == 200 and replayed == body
        first.unlink()
        status, _, said = http_get(served.replay, revisit_path)
        assert status == 404 and (b"not archived" in said or b"unreadable" in said), said
        assert second.exists()
