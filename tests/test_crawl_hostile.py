"""A hostile site (tests.support.hostile): decompression bombs in gzip, deflate, br and zstd
are cut at the size limit with bounded memory, on every path that decodes a body (Scrapy's
middleware, the fast path, the re-check, reading a record back), and never stored as a page;
a crawl of the whole hostile site stays within a bounded RSS."""

from __future__ import annotations

from pathlib import Path

import pytest

from archive.warc.reader import decode_content
from crawlers.middlewares.decompression import DecompressionMiddleware
from tests.support.helpers import all_records, rows, run_cli, write_config
from tests.support.hostile import BOMB_MIB, CODINGS, build_bomb

MIB = 1024 * 1024


def _hwm() -> int:
    """This process's peak RSS (VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _reset_hwm() -> int:
    """Reset this process's VmHWM to its RSS now (Linux clear_refs 5); that RSS."""
    Path("/proc/self/clear_refs").write_text("5")
    return _hwm()


@pytest.mark.parametrize("coding", CODINGS)
def test_decoders_stop_at_the_limit_with_bounded_memory(coding):
    """1 GiB bombs: the crawl's decoder (DOWNLOAD_MAXSIZE) refuses each past its limit, reading
    back a record stops at its limit, and neither holds more than a few times the limit."""
    bomb = build_bomb(coding)
    limit = 16 * MIB
    start = _reset_hwm()
    with pytest.raises(ValueError, match="exceeded the specified maximum"):
        DecompressionMiddleware._decode(bomb, coding.encode(), limit)
    assert _hwm() - start < 4 * limit, (_hwm() - start) / MIB
    start = _reset_hwm()
    decoded = decode_content(bomb, coding, limit)
    assert len(decoded) == limit and decoded.startswith(b"<!DOCTYPE html>")
    assert _hwm() - start < 4 * limit, (_hwm() - start) / MIB


@pytest.mark.parametrize("fast_pages", [True, False])
def test_bombs_are_refused_and_never_stored_as_pages(tmp_home, mockserver, fast_pages):
    """Each bomb is refused at max_response_mb, on the fast path and through Scrapy alike: a
    fetch error, no watched URL, no text; a record of it, if any, holds the few bytes the server
    sent, with their Content-Encoding (evidence as received, never a decoded whole)."""
    write_config(tmp_home, max_response_mb=8, fast_pages=fast_pages, obey_robots=False)
    urls = [mockserver.url(f"/hostile/bomb/{coding}") for coding in CODINGS]
    result = run_cli(tmp_home, "crawl", *urls)
    assert "pages 0" in result.output and "errors 4" in result.output, result.output
    assert not rows(tmp_home, "SELECT * FROM urls WHERE url LIKE '%/hostile/%'")
    assert not rows(tmp_home, "SELECT * FROM captures WHERE text IS NOT NULL AND text != ''")
    for record in all_records(tmp_home):
        if record["type"] == "response":
            assert record["uri"] in urls
            coding = record["http"].get_header("Content-Encoding")
            assert record["uri"].endswith("/" + coding) and len(record["raw"]) < 2 * MIB


@pytest.mark.parametrize("coding", CODINGS)
def test_a_page_that_turns_into_a_bomb_is_never_a_deletion(tmp_home, mockserver, coding):
    """A watched page that now answers with a bomb: the check is transient (the body was cut
    at the limit), nothing is confirmed, the last good capture stays the article."""
    write_config(tmp_home, max_response_mb=8, obey_robots=False)
    url = mockserver.url(f"/hostile/turns/{coding}")
    mockserver.set_version(url, 0)
    run_cli(tmp_home, "crawl", url)
    mockserver.set_version(url, 1)
    try:
        for _ in range(2):
            run_cli(tmp_home, "recheck", "--url", url)
    finally:
        mockserver.set_version(url, 0)
    checks = rows(tmp_home, "SELECT outcome FROM checks ORDER BY id")
    assert [c["outcome"] for c in checks] == ["transient", "transient"], checks
    assert not rows(tmp_home, "SELECT * FROM deletions")
    (watched,) = rows(tmp_home, "SELECT u.state, c.title FROM urls AS u JOIN captures AS c"
                                " ON c.id = u.last_capture_id")
    assert watched["state"] == "alive" and "turns-" + coding in watched["title"]
