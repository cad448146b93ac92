"""The crawl process's shortcuts behave like the plain way: two Scrapy costs avoided, and the
fast text made in the crawl process when the sink falls behind."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.http import HtmlResponse, Response, TextResponse
from scrapy.utils.test import get_crawler

from archive.config import load_config
from archive.home import Home
from crawlers.launch import run_crawl
from crawlers.middlewares.recorder import still_encoded
from tests.helpers import rows, write_config

ROOT = Path(__file__).resolve().parent.parent
PAGE = "<html><head><title>Тест 测试</title></head><body><p>Алматы 阿拉木图</p></body></html>"


def _decode(response: Response, request: Request) -> Response:
    middleware = HttpCompressionMiddleware.from_crawler(get_crawler())
    return middleware.process_response(request, response)


def test_compressed_body_is_handed_on_untyped_and_decoded_as_html() -> None:
    request = Request("http://127.0.0.1/a")
    raw = HtmlResponse("http://127.0.0.1/a", request=request, body=gzip.compress(PAGE.encode()),
                       headers={"Content-Type": "text/html", "Content-Encoding": "gzip",
                                "Set-Cookie": ["a=1", "b=2"]}, ip_address=None, protocol="HTTP/1.1")
    handed_on = still_encoded(raw)
    assert type(handed_on) is Response            # no TextResponse: no charset guess on gzip bytes
    assert handed_on.headers.getlist("Set-Cookie") == [b"a=1", b"b=2"]
    assert handed_on.request is request and handed_on.protocol == "HTTP/1.1"
    decoded = _decode(handed_on, request)
    assert isinstance(decoded, HtmlResponse)
    assert decoded.body == PAGE.encode() and decoded.text == PAGE
    assert b"Content-Encoding" not in decoded.headers


def test_plain_responses_pass_unchanged() -> None:
    request = Request("http://127.0.0.1/b")
    plain = HtmlResponse("http://127.0.0.1/b", request=request, body=PAGE.encode(),
                         headers={"Content-Type": "text/html; charset=utf-8"})
    assert still_encoded(plain) is plain
    binary = Response("http://127.0.0.1/c", body=gzip.compress(b"x"),
                      headers={"Content-Encoding": "gzip"})
    assert still_encoded(binary) is binary
    assert not isinstance(binary, TextResponse)


@pytest.mark.parametrize(("level", "debug", "info"), [("INFO", False, True),
                                                       ("DEBUG", True, True)])
def test_debug_records_are_not_built_above_debug(tmp_path: Path, level: str, debug: bool,
                                                 info: bool) -> None:
    job = {"settings": {"ARCHIVE_HOME": str(tmp_path), "LOG_LEVEL": level},
           "sources": [], "urls": []}
    code = ("import json, logging, sys\n"
            "from crawlers.runner import build\n"
            "build(json.loads(sys.argv[1]))\n"
            "engine = logging.getLogger('scrapy.core.engine')\n"
            "print(json.dumps([engine.isEnabledFor(logging.DEBUG),"
            " engine.isEnabledFor(logging.INFO)]))\n")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(job)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [debug, info]


def _crawl_texts(home: Path, urls: list[str], share_backlog: int) -> tuple[list[dict], dict]:
    write_config(home)
    result = run_crawl(Home(home), load_config(home / "memoryhole.toml"), [], urls,
                       extra_settings={"ARCHIVE_SHARE_TEXT_BACKLOG": share_backlog})
    assert result.returncode == 0
    texts = rows(home, "SELECT fetched_url, title, text, text_digest, encoding FROM captures"
                       " WHERE text IS NOT NULL ORDER BY fetched_url")
    return texts, result.stats


def test_text_made_in_the_crawl_process_is_the_same(tmp_path: Path, mockserver) -> None:
    """When the sink falls behind, the crawl process makes the fast text; 0 means always, -1
    never. What is stored is the same either way."""
    urls = [mockserver.url(p) for p in ("/plain/s1", "/gzip/s2", "/gbk/header", "/gbk/none",
                                        "/big5/meta", "/status/404")]
    in_crawl, stats_crawl = _crawl_texts(tmp_path / "a", urls, 0)
    in_sink, stats_sink = _crawl_texts(tmp_path / "b", urls, -1)
    assert stats_crawl["memoryhole/text_in_crawl"] == len(urls)
    assert "memoryhole/text_in_crawl" not in stats_sink
    assert len(in_crawl) == len(urls) and all(row["text"] for row in in_crawl)
    assert in_crawl == in_sink
