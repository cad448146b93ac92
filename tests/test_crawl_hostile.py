"""A hostile site (tests.support.hostile): decompression bombs in gzip, deflate, br and zstd
are cut at the size limit with bounded memory, on every path that decodes a body (Scrapy's
middleware, the fast path, the re-check, reading a record back), and never stored as a page;
a crawl of the whole hostile site stays within a bounded RSS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from archive.text.extract import TEXT_MAX_HTML_BYTES, fast_page_text
from archive.warc.reader import decode_content
from crawlers.middlewares.decompression import DecompressionMiddleware
from tests.support.helpers import (
    all_records,
    memory_of,
    reset_peak_memory,
    rows,
    run_cli,
    write_config,
)
from tests.support.hostile import BOMB_MIB, CODINGS, build_bomb

MIB = 1024 * 1024


@pytest.mark.parametrize("coding", CODINGS)
def test_decoders_stop_at_the_limit_with_bounded_memory(coding):
    """1 GiB bombs: the crawl's decoder (DOWNLOAD_MAXSIZE) refuses each past its limit, reading
    back a record stops at its limit, and neither holds more than a few times the limit."""
    bomb = build_bomb(coding)
    limit = 16 * MIB
    start = reset_peak_memory()
    with pytest.raises(ValueError, match="exceeded the specified maximum"):
        DecompressionMiddleware._decode(bomb, coding.encode(), limit)
    assert memory_of() - start < 4 * limit, (memory_of() - start) / MIB
    start = reset_peak_memory()
    decoded = decode_content(bomb, coding, limit)
    assert len(decoded) == limit and decoded.startswith(b"<!DOCTYPE html>")
    assert memory_of() - start < 4 * limit, (memory_of() - start) / MIB


def test_the_text_of_a_huge_page_costs_a_bounded_parse():
    """30 MB of tiny paragraphs (about 17 times that to parse whole): the text is read from the
    first TEXT_MAX_HTML_BYTES of HTML, with memory to match, and is their text."""
    paragraph = b"<p>Filler paragraph for maximum size tests.</p>\n"
    body = (b"<html><head><title>Big page</title></head><body>\n"
            + paragraph * (30 * MIB // len(paragraph)) + b"</body></html>\n")
    start = reset_peak_memory()
    page = fast_page_text(body, "text/html")
    assert memory_of() - start < 24 * TEXT_MAX_HTML_BYTES, (memory_of() - start) / MIB
    assert page.title == "Big page"
    lines = page.text.splitlines()                  # the last one may be cut short
    assert set(lines[:-1]) == {"Filler paragraph for maximum size tests."}
    assert len(lines) <= TEXT_MAX_HTML_BYTES // len(paragraph) + 1


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


# Runs a command and prints the peak RSS (KiB) of its largest process, itself and every process
# it waited for down the tree (the crawl process, the archive writer): RUSAGE_CHILDREN's maxrss.
_PEAK = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")


def _crawl_peak(home: Path, *args: str) -> tuple[int, str]:
    """``memoryhole crawl ARGS`` in a fresh process tree: (peak RSS in bytes, its output)."""
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, sys.executable, "-c", "from cli import main; main()",
         "--home", str(home), "crawl", *args],
        cwd=root, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, (done.stdout, done.stderr)
    *output, peak = done.stdout.strip().splitlines()
    return int(peak) * 1024, "\n".join(output)


def test_a_crawl_of_the_hostile_site_stays_within_bounded_memory(tmp_path, fresh_mockserver):
    """Bombs of every coding (1 GiB each), a gzip sitemap file that is a bomb, a feed of 200,000
    entries (30 MB), a sitemap index of 1,000 sitemaps, indexes nested without end and bodies
    near the size limit, in one crawl: its processes (crawl and archive writer) peak far below a
    bomb's inflated size, within a budget set by max_response_mb and writer_queue_mb above a
    crawl of one plain page."""
    server = fresh_mockserver
    baseline_home, home = tmp_path / "baseline", tmp_path / "hostile"
    for where in (baseline_home, home):
        write_config(where, max_response_mb=32, writer_queue_mb=64, obey_robots=False)
    baseline, _ = _crawl_peak(baseline_home, server.url("/plain/baseline"))
    seeds = tmp_path / "hostile.toml"
    pages = [server.url(f"/hostile/bomb/{coding}") for coding in CODINGS]
    pages += [server.url(f"/big?mb=30&n={n}") for n in range(3)] + [server.url("/big?mb=100")]
    sources = [("feed", "feed", server.url("/hostile/feed.xml?n=200000&distinct=10")),
               ("fanout", "sitemap", server.url("/hostile/index.xml?n=1000&urls=1")),
               ("nested", "sitemap", server.url("/hostile/nested/0.xml")),
               ("gzbomb", "sitemap", server.url("/hostile/sitemap.xml.gz"))]
    seeds.write_text("".join(f'[[source]]\nname = "{name}"\nkind = "{kind}"\nurl = "{url}"\n\n'
                             for name, kind, url in sources)
                     + '[[source]]\nname = "pages"\nkind = "page"\nurls = ['
                     + ", ".join(f'"{url}"' for url in pages) + "]\n", encoding="utf-8")
    peak, output = _crawl_peak(home, "--seeds", str(seeds))
    # measured here: baseline 81 MiB, peak 385 MiB (the writer: its 64 MiB read-ahead, a few
    # 30 MB bodies, the text of 8 MB of tiny paragraphs); 606 MiB when a feed was parsed whole,
    # 790 MiB when a page's text was read from all of its HTML
    assert peak < BOMB_MIB * MIB // 2, (peak / MIB, output)
    assert peak - baseline < 400 * MIB, (peak / MIB, baseline / MIB, output)
    # what it did: the bounds held, the big bodies are archived whole, no bomb is a page
    fetched = [server.hits(f"/hostile/sitemap/{n}.xml") for n in range(1000)]
    assert sum(fetched) == 50 and fetched[:50] == [1] * 50
    assert server.hits("/hostile/nested/4.xml") == 0
    archived = {r["uri"]: r for r in all_records(home) if r["type"] == "response"}
    assert all(len(archived[url]["raw"]) == 30 * MIB for url in pages[4:7])
    assert pages[7] not in archived
    assert not rows(home, "SELECT * FROM urls WHERE url LIKE '%/hostile/bomb/%'")
    watched = {r["url"] for r in rows(home, "SELECT url FROM urls")}
    assert {server.url(f"/articles/{n}") for n in range(10)} <= watched
