"""The crawl process's shortcuts behave like the plain way: Scrapy's decompression without its two
costs, no DEBUG records built for nothing, and the fast text made in the crawl process when the
writer falls behind."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from pathlib import Path

import brotli
import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.httpcompression import HttpCompressionMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse, Response
from scrapy.utils.test import get_crawler

from archive.config import load_config
from archive.home import Home
from crawlers.launch import run_crawl
from crawlers.middlewares import decompression
from crawlers.middlewares.decompression import DecompressionMiddleware, gunzip_whole, untyped
from tests.support.helpers import rows, write_config

ROOT = Path(__file__).resolve().parent.parent
PAGE = "<html><head><title>Тест 测试</title></head><body><p>Алматы 阿拉木图</p></body></html>"
BODY = PAGE.encode() * 40
GZ = gzip.compress(BODY)


def _middlewares(max_size: int = 0) -> tuple[DecompressionMiddleware, HttpCompressionMiddleware]:
    settings = {"DOWNLOAD_MAXSIZE": max_size} if max_size else {}
    return (DecompressionMiddleware.from_crawler(get_crawler(settings_dict=settings)),
            HttpCompressionMiddleware.from_crawler(get_crawler(settings_dict=settings)))


def _response(body: bytes, encoding: str = "gzip") -> HtmlResponse:
    return HtmlResponse("http://127.0.0.1/a", request=Request("http://127.0.0.1/a"), body=body,
                        headers={"Content-Type": "text/html", "Content-Encoding": encoding,
                                 "Set-Cookie": ["a=1", "b=2"]}, protocol="HTTP/1.1")


def test_compressed_body_is_handed_on_untyped() -> None:
    raw = _response(GZ)
    handed_on = untyped(raw)
    assert type(handed_on) is Response            # no TextResponse: no charset guess on gzip bytes
    assert handed_on.headers.getlist("Set-Cookie") == [b"a=1", b"b=2"]
    assert handed_on.request is raw.request and handed_on.protocol == "HTTP/1.1"
    plain = HtmlResponse("http://127.0.0.1/b", body=BODY,
                         headers={"Content-Type": "text/html; charset=utf-8"})
    assert untyped(plain) is plain


BROKEN = {
    "two members": gzip.compress(BODY[:500]) + gzip.compress(BODY[500:]),
    "trailing bytes": GZ + b"\r\n\r\n",
    "cut short": GZ[: len(GZ) // 2],
    "bad checksum": GZ[:-8] + bytes(4) + GZ[-4:],
    "not gzip": b"plain text sent as gzip",
}


@pytest.mark.parametrize("name", ["whole", *BROKEN])
def test_decoding_is_scrapys_own(name: str) -> None:
    """The same response (class, body, headers) or the same error as Scrapy's middleware."""
    body = GZ if name == "whole" else BROKEN[name]
    ours, scrapys = _middlewares()
    outcome = []
    for middleware in (ours, scrapys):
        try:
            decoded = middleware.process_response(Request("http://127.0.0.1/a"),
                                                  _response(body))
            outcome.append((type(decoded), decoded.body, dict(decoded.headers)))
        except Exception as exc:  # noqa: BLE001 - the error must be the same
            outcome.append((type(exc), str(exc)))
    assert outcome[0] == outcome[1]
    if name == "whole":
        assert outcome[0][0] is HtmlResponse and outcome[0][1] == BODY


@pytest.mark.parametrize("encoding", ["br", "deflate"])
def test_other_encodings_are_left_to_scrapy(encoding: str) -> None:
    body = brotli.compress(BODY) if encoding == "br" else zlib.compress(BODY)
    ours, _ = _middlewares()
    decoded = ours.process_response(Request("http://127.0.0.1/a"), _response(body, encoding))
    assert isinstance(decoded, HtmlResponse) and decoded.text == PAGE * 40


def test_a_bomb_is_refused_as_scrapy_refuses_it() -> None:
    bomb = gzip.compress(bytes(5_000_000))
    for middleware in _middlewares(max_size=1_000_000):
        with pytest.raises(IgnoreRequest, match="exceeded DOWNLOAD_MAXSIZE"):
            middleware.process_response(Request("http://127.0.0.1/a"), _response(bomb))


def test_whole_gzip_bodies_take_the_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Guards against a Scrapy release renaming the hook: the fast gunzip must really run."""
    calls = []

    def counted(data: bytes, max_size: int) -> bytes | None:
        calls.append(len(data))
        return gunzip_whole(data, max_size)

    monkeypatch.setattr(decompression, "gunzip_whole", counted)
    ours, _ = _middlewares()
    ours.process_response(Request("http://127.0.0.1/a"), _response(GZ))
    assert calls == [len(GZ)]
    assert gunzip_whole(GZ, 0) == BODY and gunzip_whole(BROKEN["two members"], 0) == BODY
    assert all(gunzip_whole(BROKEN[name], 0) is None for name in BROKEN if name != "two members")
    assert gunzip_whole(GZ, len(BODY) - 1) is None and gunzip_whole(GZ, len(BODY)) == BODY


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
    """When the writer falls behind, the crawl process makes the fast text; 0 means always, -1
    never. What is stored is the same either way."""
    urls = [mockserver.url(p) for p in ("/plain/s1", "/gzip/s2", "/gbk/header", "/gbk/none",
                                        "/big5/meta", "/status/404")]
    in_crawl, stats_crawl = _crawl_texts(tmp_path / "a", urls, 0)
    in_writer, stats_writer = _crawl_texts(tmp_path / "b", urls, -1)
    assert stats_crawl["memoryhole/text_in_crawl"] == len(urls)
    assert "memoryhole/text_in_crawl" not in stats_writer
    assert len(in_crawl) == len(urls) and all(row["text"] for row in in_crawl)
    assert in_crawl == in_writer
