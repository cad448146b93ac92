"""A real crawl of the local mock server: what lands in the WARCs and the catalogue, with and
without fast-path GETs for the pages."""

from __future__ import annotations

import brotli
import pytest

from tests.support import mockserver as ms
from tests.support.helpers import (
    all_records,
    gunzip,
    index_text,
    responses_for,
    rows,
    run_cli,
    write_config,
)


@pytest.fixture(scope="module", params=[True, False], ids=["fastpath", "scrapy"])
def crawled(request, tmp_path_factory, mockserver):
    """One crawl of a mix of pages, shared by the tests of this module: every test runs on a crawl
    whose 200 pages went out as fast-path GETs (crawlers.fastpath.pages) and on one where every page
    was a Scrapy request; both must archive the same evidence."""
    home = tmp_path_factory.mktemp("rec") / "home"
    write_config(home, fast_pages=request.param)
    paths = ["/gzip/rec", "/br/rec", "/chunked/rec", "/cookies", "/gbk/header", "/gbk/meta",
             "/gbk/none", "/big5/meta", "/status/404", "/redirect/302?to=/plain/target"]
    result = run_cli(home, "crawl", *[mockserver.url(p) for p in paths])
    return home, result


def _http(record):
    return record["http"]


def test_summary_line_counts_pages(crawled):
    _home, result = crawled
    last = result.output.strip().splitlines()[-1]
    assert "pages 10," in last and "errors 0" in last, result.output


def test_gzip_body_stored_as_sent(crawled, mockserver):
    home, _ = crawled
    (record,) = responses_for(home, mockserver.url("/gzip/rec"))
    http = _http(record)
    assert http.get_header("Content-Encoding") == "gzip"
    assert int(http.get_header("Content-Length")) == len(record["raw"])
    assert ms.plain_title("rec") in gunzip(record["raw"]).decode("utf-8")


def test_br_body_stored_as_sent(crawled, mockserver):
    home, _ = crawled
    (record,) = responses_for(home, mockserver.url("/br/rec"))
    http = _http(record)
    assert http.get_header("Content-Encoding") == "br"
    assert int(http.get_header("Content-Length")) == len(record["raw"])
    assert ms.plain_title("rec") in brotli.decompress(record["raw"]).decode("utf-8")


def test_chunked_body_gets_a_correct_content_length(crawled, mockserver):
    home, _ = crawled
    (record,) = responses_for(home, mockserver.url("/chunked/rec"))
    http = _http(record)
    assert http.get_header("Transfer-Encoding") is None
    assert int(http.get_header("Content-Length")) == len(record["raw"])
    assert ms.plain_title("rec") in record["raw"].decode("utf-8")


def test_duplicate_set_cookie_headers_kept(crawled, mockserver):
    home, _ = crawled
    (record,) = responses_for(home, mockserver.url("/cookies"))
    cookies = [v for k, v in _http(record).headers if k.lower() == "set-cookie"]
    assert len(cookies) == 2


def test_request_records_carry_path_query_and_host(crawled, mockserver):
    home, _ = crawled
    url = mockserver.url("/redirect/302?to=/plain/target")
    requests = [r for r in all_records(home) if r["type"] == "request" and r["uri"] == url]
    assert len(requests) == 1
    http = requests[0]["http"]
    host = mockserver.base.split("//", 1)[1]
    assert f"{http.protocol} {http.statusline}" == "GET /redirect/302?to=/plain/target HTTP/1.1"
    assert [v for k, v in http.headers if k.lower() == "host"] == [host]
    assert http.get_header("User-Agent").startswith("memoryhole/")


def test_error_and_redirect_responses_are_archived(crawled, mockserver):
    home, _ = crawled
    (missing,) = responses_for(home, mockserver.url("/status/404"))
    assert missing["http"].get_statuscode() == "404"
    (moved,) = responses_for(home, mockserver.url("/redirect/302?to=/plain/target"))
    assert moved["http"].get_statuscode() == "302"
    assert moved["http"].get_header("Location").endswith("/plain/target")
    (target,) = responses_for(home, mockserver.url("/plain/target"))
    assert target["http"].get_statuscode() == "200"
    statuses = {r["status"] for r in rows(home, "SELECT status FROM captures")}
    assert {200, 302, 404} <= statuses


def test_every_file_opens_with_warcinfo_and_pairs_response_request(crawled):
    home, _ = crawled
    from tests.support.helpers import read_records, warc_files

    for path in warc_files(home):
        records = read_records(path)
        assert records[0]["type"] == "warcinfo"
        assert records[0]["headers"].protocol == "WARC/1.1"
        for first, second in zip(records[1::2], records[2::2], strict=False):
            assert first["type"] in ("response", "revisit")
            assert second["type"] == "request"
            assert second["headers"].get_header("WARC-Concurrent-To") == \
                first["headers"].get_header("WARC-Record-ID")


@pytest.mark.parametrize("path", ["/gbk/header", "/gbk/meta", "/gbk/none"])
def test_gbk_title_and_text(crawled, mockserver, path):
    home, _ = crawled
    (row,) = rows(home, "SELECT title, text FROM captures WHERE fetched_url = ?",
                  (mockserver.url(path),))
    assert row["title"] == ms.GBK_TITLE
    assert ms.GBK_SENTENCE in row["text"]


def test_big5_title_and_text(crawled, mockserver):
    home, _ = crawled
    (row,) = rows(home, "SELECT title, text FROM captures WHERE fetched_url = ?",
                  (mockserver.url("/big5/meta"),))
    assert row["title"] == ms.BIG5_TITLE
    assert ms.BIG5_SENTENCE in row["text"]


def test_catalogue_rows_point_at_their_records(crawled):
    home, _ = crawled
    records = {(r["file"], r["offset"]): r for r in all_records(home)}
    captures = rows(home, "SELECT * FROM captures")
    assert captures
    for row in captures:
        record = records[(row["warc_filename"], row["warc_offset"])]
        assert record["length"] == row["warc_length"]
        assert record["headers"].get_header("WARC-Record-ID") == row["warc_record_id"]
        assert record["headers"].get_header("WARC-Payload-Digest") == row["payload_digest"]


def test_index_lists_every_response(crawled):
    home, _ = crawled
    index = index_text(home)
    lines = [line for line in index.splitlines() if line]
    responses = [r for r in all_records(home) if r["type"] in ("response", "revisit")]
    assert len(lines) == len(responses)
    assert lines == sorted(lines)


def test_run_row_records_the_crawl(crawled):
    home, _ = crawled
    (run,) = rows(home, "SELECT * FROM runs")
    assert run["kind"] == "crawl" and run["status"] == "finished"
    assert run["finished_at"].endswith("Z")
    assert '"memoryhole/pages": 10' in run["stats"]
