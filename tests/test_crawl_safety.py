"""Safety by default: loopback refused, sizes bounded, cut responses never stored as complete."""

from __future__ import annotations

import time

from tests.support.helpers import all_records, rows, run_cli, write_config


def test_private_addresses_refused_by_default(tmp_home, mockserver):
    write_config(tmp_home, allow_private_addresses=False)
    by_ip = mockserver.url("/plain/private")
    by_name = by_ip.replace("127.0.0.1", "localhost")
    before = mockserver.hits("/plain/private")
    result = run_cli(tmp_home, "crawl", by_ip, by_name)
    assert "errors 2" in result.output or "pages 0" in result.output, result.output
    assert "not a public address" in result.output or "loopback" in result.output
    assert mockserver.hits("/plain/private") == before
    assert not rows(tmp_home, "SELECT * FROM captures")


def test_non_http_schemes_refused(tmp_home):
    write_config(tmp_home)
    result = run_cli(tmp_home, "crawl", "file:///etc/passwd", expect=2)
    assert "not an http(s) URL" in result.output


def test_oversized_bomb_and_truncated_responses_bounded(tmp_home, mockserver):
    write_config(tmp_home, max_response_mb=2)
    big, bomb, cut = (mockserver.url("/big?mb=5"), mockserver.url("/bomb"),
                      mockserver.url("/truncated"))
    started = time.monotonic()
    result = run_cli(tmp_home, "crawl", big, bomb, cut)
    assert time.monotonic() - started < 120
    assert "pages 0" in result.output, result.output
    archived = {r["uri"]: r for r in all_records(tmp_home) if r["type"] == "response"}
    assert big not in archived          # cut by max_response_mb: never archived as complete
    assert cut not in archived          # cut by the server: never archived as complete
    if bomb in archived:                # the bytes as received are small and whole: evidence
        record = archived[bomb]
        assert record["http"].get_header("Content-Encoding") == "gzip"
        assert len(record["raw"]) < 2 * 1024 * 1024
    assert not rows(tmp_home, "SELECT * FROM urls WHERE url LIKE '%bomb%'")


def test_robots_txt_obeyed(tmp_home, mockserver):
    write_config(tmp_home)
    before = mockserver.hits("/private/x")
    run_cli(tmp_home, "crawl", mockserver.url("/private/x"))
    assert mockserver.hits("/private/x") == before


def _crawl_by_name(home, url, allow_private):
    from archive.config import load_config
    from archive.home import Home
    from crawlers.launch import run_crawl

    write_config(home, allow_private_addresses=allow_private, obey_robots=False)
    config = load_config(home / "memoryhole.toml")
    return run_crawl(Home(home), config, [], [url], extra_settings={
        "TWISTED_DNS_RESOLVER": "tests.support.fakedns.TestNamesResolver"})


def test_host_name_resolving_to_loopback_refused(tmp_path, mockserver):
    url = mockserver.url("/plain/byname").replace("127.0.0.1", "intranet.test")
    before = mockserver.hits("/plain/byname")
    refused = _crawl_by_name(tmp_path / "refused", url, allow_private=False)
    assert refused.pages == 0 and refused.errors == 1
    assert mockserver.hits("/plain/byname") == before
    assert any("not a public address" in line or "refused 127.0.0.1" in line
               for line in refused.error_lines())
    allowed = _crawl_by_name(tmp_path / "allowed", url, allow_private=True)
    assert allowed.pages == 1 and allowed.errors == 0
    assert mockserver.hits("/plain/byname") == before + 1


def test_robots_txt_holds_for_concurrent_requests(tmp_home, fresh_mockserver):
    write_config(tmp_home, concurrency=8, per_domain=8)
    urls = [fresh_mockserver.url(f"/private/{n}") for n in range(6)]
    run_cli(tmp_home, "crawl", *urls, fresh_mockserver.url("/plain/ok"))
    assert all(fresh_mockserver.hits(f"/private/{n}") == 0 for n in range(6))
    assert fresh_mockserver.hits("/plain/ok") == 1


def test_timed_out_response_not_archived(tmp_home, mockserver):
    write_config(tmp_home, timeout=1)
    slow = mockserver.url("/slow?s=4")
    result = run_cli(tmp_home, "crawl", slow)
    assert "errors 1" in result.output, result.output
    assert "TimeoutError" in result.output or "timeout" in result.output.lower()
    assert not [r for r in all_records(tmp_home) if r["uri"] == slow]
