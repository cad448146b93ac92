"""The re-check's 304 fast path (crawlers.fastpath.not_modified): what it archives, what it hands
back to
the spider, and the safety, robots and politeness rules it keeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archive.config import load_config
from archive.home import Home
from crawlers.launch import run_recheck
from tests.support.helpers import all_records, rows, run_cli, started_by, warc_files, write_config

PAGE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        "<p>Kazakhstan and China signed a transit deal at Khorgos.</p></article></body></html>")


def tagged(title: str, etag: str) -> dict:
    return {"status": 200, "body": PAGE.format(title=title),
            "headers": [["ETag", etag], ["Set-Cookie", "a=1"], ["Set-Cookie", "b=2"]]}


def configure(home, **crawl):
    write_config(home, **{"obey_robots": False, "timeout": 5, **crawl})
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')


def recheck(home, **settings):
    """A re-check of every URL; the crawl stats of the run."""
    config = load_config(home / "memoryhole.toml")
    result = run_recheck(Home(home), config, {"mode": "all", "domain_budget": 1000},
                         extra_settings=settings or None)
    assert result.returncode == 0, result.error_lines()
    return result.stats


def last_run_checks(home):
    return rows(home, "SELECT url, outcome, http_status, reason, rule, capture_id FROM checks "
                      "WHERE run_id = (SELECT max(run_id) FROM checks) ORDER BY url")


def test_a_304_is_archived_as_sent_and_logged_alive(tmp_home, server):
    configure(tmp_home)
    server.script("/tagged", [tagged("Tagged", '"v1"')])
    run_cli(tmp_home, "crawl", server.url("/tagged"))
    stats = recheck(tmp_home)
    assert stats.get("fastpath/not_modified/not_modified") == 1
    assert server.hits()["/tagged"] == 2                  # the crawl, then one conditional GET
    [check] = last_run_checks(tmp_home)
    assert (check["outcome"], check["http_status"], check["reason"], check["rule"]) == (
        "alive", 304, "not_modified", "http/304@1")        # the classifier's verdict on a 304
    assert stats.get("item_scraped_count") == 1           # through Scrapy's item pipeline
    assert check["capture_id"]                            # the revisit is in the catalogue
    [capture] = rows(tmp_home, "SELECT * FROM captures WHERE id = ?", (check["capture_id"],))
    assert capture["is_revisit"] == 1 and capture["status"] == 304

    records = all_records(tmp_home)         # every record re-read with digest checks
    [revisit] = [r for r in records if r["type"] == "revisit"]
    assert revisit["headers"].get_header("WARC-Profile").endswith("server-not-modified")
    assert revisit["headers"].get_header("WARC-IP-Address") == "127.0.0.1"
    assert revisit["http"].get_statuscode() == "304"
    assert revisit["http"].get_header("ETag") == '"v1"'
    [request] = [r for r in records if r["type"] == "request"
                 and r["headers"].get_header("WARC-Concurrent-To")
                 == revisit["headers"].get_header("WARC-Record-ID")]
    line, received = server.requests("/tagged")[-1]
    assert f"{request['http'].protocol} {request['http'].statusline}" == line
    assert request["http"].headers == received            # every header sent, in order
    assert ("If-None-Match", '"v1"') in received


def test_other_answers_go_to_the_spider(tmp_home, server):
    configure(tmp_home)
    server.script("/deleted", [tagged("Deleted", '"d1"'), {"status": 404, "body": "gone"}])
    server.script("/edited", [tagged("Edited", '"e1"'), tagged("Edited again", '"e2"')])
    server.script("/flaky", [tagged("Flaky", '"f1"'), {"status": 503, "body": "busy"}])
    server.script("/same", [tagged("Same", '"s1"')])
    paths = ["/deleted", "/edited", "/flaky", "/same"]
    run_cli(tmp_home, "crawl", *[server.url(p) for p in paths])
    stats = recheck(tmp_home)
    assert stats.get("fastpath/not_modified/not_modified") == 1
    assert stats.get("fastpath/not_modified/not_304/404") == 1
    assert stats.get("fastpath/not_modified/not_304/200") == 1
    assert stats.get("fastpath/not_modified/not_304/503") == 1
    hits = server.hits()
    # the fast GET, then the spider's own request, which is the one archived and classified
    assert [hits[p] for p in paths] == [3, 3, 3, 2]
    outcomes = {c["url"].rsplit("/", 1)[1]: (c["outcome"], c["http_status"])
                for c in last_run_checks(tmp_home)}
    assert outcomes == {"deleted": ("missing", 404), "edited": ("changed", 200),
                        "flaky": ("transient", 503), "same": ("alive", 304)}
    archived = {(r["uri"].rsplit("/", 1)[1], r["http"].get_statuscode()) for r in
                all_records(tmp_home) if r["type"] in ("response", "revisit") and r.get("http")}
    assert {("deleted", "404"), ("edited", "200"), ("flaky", "503"), ("same", "304")} <= archived


def test_a_host_that_ignores_validators_is_given_up(tmp_home, server):
    configure(tmp_home, concurrency=1, per_domain=1)
    paths = [f"/lm{n}" for n in range(12)]
    for path in paths:       # Last-Modified only: this server never answers 304 to it
        server.script(path, [{"status": 200, "body": PAGE.format(title=path),
                              "headers": [["Last-Modified", "Tue, 01 Dec 2026 09:00:00 GMT"]]}])
    run_cli(tmp_home, "crawl", *[server.url(p) for p in paths])
    stats = recheck(tmp_home)
    assert stats.get("fastpath/not_modified/requests") == 8
    assert stats.get("fastpath/not_modified/hosts_given_up") == 1
    assert not stats.get("fastpath/not_modified/not_modified")
    assert sum(server.hits()[p] for p in paths) == 12 + 8 + 12
    assert {c["outcome"] for c in last_run_checks(tmp_home)} == {"alive"}


def test_private_addresses_refused_before_any_request(tmp_home, server):
    configure(tmp_home)
    server.script("/tagged", [tagged("Tagged", '"v1"')])
    run_cli(tmp_home, "crawl", server.url("/tagged"))
    configure(tmp_home, allow_private_addresses=False)
    stats = recheck(tmp_home)
    assert not stats.get("fastpath/not_modified/requests")
    assert server.hits()["/tagged"] == 1                  # nobody asked the loopback server
    assert stats.get("safety/blocked/private_address") == 1


def test_host_names_resolving_to_private_addresses_refused(tmp_path, server):
    home = tmp_path / "home"
    configure(home)
    url = server.url("/byname").replace("127.0.0.1", "intranet.test")
    server.script("/byname", [tagged("By name", '"n1"')])
    names = {"TWISTED_DNS_RESOLVER": "tests.support.fakedns.TestNamesResolver",
             "FASTPATH_RESOLVER": "tests.support.fakedns.AiohttpTestNames"}
    config = load_config(home / "memoryhole.toml")
    from crawlers.launch import run_crawl
    assert run_crawl(Home(home), config, [], [url], extra_settings=names).pages == 1
    allowed = recheck(home, **names)
    assert allowed.get("fastpath/not_modified/not_modified") == 1
    configure(home, allow_private_addresses=False)
    before = server.hits()["/byname"]
    refused = recheck(home, **names)
    assert refused.get("fastpath/not_modified/failed/ClientConnectorDNSError") == 1
    assert not refused.get("fastpath/not_modified/not_modified")
    assert server.hits()["/byname"] == before             # neither path reached the server


def test_robots_txt_is_obeyed_and_fetched_once(tmp_home, server):
    configure(tmp_home)
    server.script("/open", [tagged("Open", '"o1"')])
    server.script("/private/page", [tagged("Private", '"p1"')])
    run_cli(tmp_home, "crawl", server.url("/open"), server.url("/private/page"))
    server.script("/robots.txt", [{"status": 200, "body": "User-agent: *\nDisallow: /private\n",
                                   "content_type": "text/plain"}])
    configure(tmp_home, obey_robots=True)
    stats = recheck(tmp_home)
    hits = server.hits()
    assert hits["/robots.txt"] == 1
    assert hits["/private/page"] == 1                     # only the crawl, before robots.txt
    assert stats.get("fastpath/not_modified/not_modified") == 1    # /open
    assert stats.get("fastpath/not_modified/requests") == 1
    assert stats.get("robotstxt/forbidden") == 1           # counted once, by the spider's pass
    robots = [r for r in all_records(tmp_home) if (r["uri"] or "").endswith("/robots.txt")]
    assert robots, "robots.txt is archived, as on the Scrapy path"


@pytest.mark.parametrize("settings", [{"DOWNLOAD_DELAY": 0.01}, {"AUTOTHROTTLE_ENABLED": True},
                                      {"RECHECK_FAST_304": False}])
def test_off_when_pacing_or_switched_off(tmp_home, server, settings):
    configure(tmp_home)
    server.script("/tagged", [tagged("Tagged", '"v1"')])
    run_cli(tmp_home, "crawl", server.url("/tagged"))
    stats = recheck(tmp_home, **settings)
    assert not any(key.startswith("fastpath/not_modified/") for key in stats)
    assert [(c["http_status"], c["reason"], c["rule"]) for c in last_run_checks(tmp_home)] == [
        (304, "not_modified", "http/304@1")]              # Scrapy's 304, the same verdict


def test_fast_and_scrapy_304_records_agree(tmp_home, server):
    """Both paths send the same headers (Twisted puts Host last, aiohttp first) and record
    them as sent."""
    configure(tmp_home)
    server.script("/tagged", [tagged("Tagged", '"v1"')])
    run_cli(tmp_home, "crawl", server.url("/tagged"))
    recheck(tmp_home, RECHECK_FAST_304=False)
    recheck(tmp_home)
    requests = [r for r in all_records(tmp_home) if r["type"] == "request"
                and r["http"].get_header("If-None-Match")]
    assert len(requests) == 2
    sent = server.requests("/tagged")
    assert requests[0]["http"].headers == sent[1][1]          # each record: the wire, in order
    assert requests[1]["http"].headers == sent[2][1]
    assert sorted(sent[1][1]) == sorted(sent[2][1])           # the same headers either way


def test_config_switches_it_off_and_is_validated(tmp_home, server):
    configure(tmp_home)
    server.script("/tagged", [tagged("Tagged", '"v1"')])
    run_cli(tmp_home, "crawl", server.url("/tagged"))
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write("fast_304 = false\n")
    stats = recheck(tmp_home)
    assert not any(key.startswith("fastpath/not_modified/") for key in stats)
    assert [c["http_status"] for c in last_run_checks(tmp_home)] == [304]
    text = (tmp_home / "memoryhole.toml").read_text().replace("fast_304 = false",
                                                                'fast_304 = "no"')
    (tmp_home / "memoryhole.toml").write_text(text)
    bad = run_cli(tmp_home, "recheck", "--all", expect=2)
    assert "recheck.fast_304" in bad.output and "true or false" in bad.output


def test_sigterm_during_the_fast_pass_loses_nothing(tmp_home, server):
    """The crawl process stopped while its conditional GETs are out: it ends cleanly, every
    check it logged has its archived 304, and the home checks clean."""
    configure(tmp_home, concurrency=2, per_domain=2)
    paths = [f"/slow{n}" for n in range(60)]
    for path in paths:
        first = tagged(path, f'"{path}"')
        server.script(path, [first, {**first, "delay": 0.3}])
    run_cli(tmp_home, "crawl", *[server.url(p) for p in paths])
    process = subprocess.Popen(
        [sys.executable, "-c", "from cli import main; main()", "--home", str(tmp_home),
         "recheck", "--all"], cwd=Path(__file__).resolve().parent.parent,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while sum(server.hits().get(p, 0) for p in paths) < 60 + 6:
            assert time.monotonic() < deadline and process.poll() is None, "no re-check began"
            time.sleep(0.05)
        [crawler] = [pid for pid in started_by(process.pid)
                     if b"crawlers.runner" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        os.kill(crawler, signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert not warc_files(tmp_home, "*.warc.gz.open"), output
    checks = last_run_checks(tmp_home)
    assert 0 < len(checks) < len(paths), output                 # cut short, not lost
    assert all(c["http_status"] == 304 and c["capture_id"] for c in checks)
    run_cli(tmp_home, "check", expect=0)
