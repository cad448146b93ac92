"""Faults a watched page may meet, end to end with real crawls and re-checks
(RELIABILITY.md points 17, 22 and 24):

- a redirect loop, or a chain of more than 20 hops, is an error, never a deletion;
- a slowloris answer (one byte every half second) is cut at the download timeout: transient,
  and nothing of it is archived as a whole response;
- cookies set by one site are not sent to another site it redirects to, and no Authorization
  header leaves memoryhole.
"""

from __future__ import annotations

import json

from archive.config import load_config
from archive.home import Home
from crawlers.launch import run_crawl
from tests.support.helpers import all_records, rows, run_cli, write_config

ARTICLE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
           "<p>Kazakhstan and China signed a transit deal at Khorgos, the report says.</p>"
           "</article></body></html>")


def _article(title: str, **extra: object) -> dict:
    return {"status": 200, "body": ARTICLE.format(title=title), **extra}


def _configure(home, timeout: int = 2) -> None:
    write_config(home, obey_robots=False, timeout=timeout)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')


def _deletions(home) -> list:
    return json.loads(run_cli(home, "deletions", "--format", "json").output)


def test_redirect_loops_and_long_chains_are_never_a_deletion(tmp_home, server) -> None:
    _configure(tmp_home)
    for path in ("/loop", "/chain"):
        server.script(path, [_article(f"Page {path}")])
    run_cli(tmp_home, "crawl", server.url("/loop"), server.url("/chain"))
    server.script("/loop", [{"status": 302, "headers": [["Location", "/loop"]], "body": ""}])
    server.script("/chain", [{"status": 302, "headers": [["Location", "/hop/1"]], "body": ""}])
    for n in range(1, 30):
        server.script(f"/hop/{n}", [{"status": 302, "headers": [["Location", f"/hop/{n + 1}"]],
                                     "body": ""}])
    for _ in range(3):
        run_cli(tmp_home, "recheck", "--all")
    assert _deletions(tmp_home) == []
    checks = rows(tmp_home, "SELECT url, outcome, reason, detail FROM checks")
    assert {c["url"] for c in checks} == {server.url("/loop"), server.url("/chain")}
    assert {c["outcome"] for c in checks} == {"transient"}, checks
    assert server.hits().get("/hop/25", 0) == 0            # the chain was given up on
    states = {r["state"] for r in rows(tmp_home, "SELECT state FROM urls")}
    assert "deleted" not in states and "missing" not in states


def test_a_slowloris_is_cut_at_the_timeout_and_never_archived_whole(tmp_home, server) -> None:
    _configure(tmp_home, timeout=2)
    server.script("/drip", [_article("Drip")])
    run_cli(tmp_home, "crawl", server.url("/drip"))
    before = len(all_records(tmp_home))
    server.script("/drip", [_article("Drip", drip=0.5)])     # 1 byte every half second
    for _ in range(2):
        run_cli(tmp_home, "recheck", "--all")
    assert _deletions(tmp_home) == []
    checks = rows(tmp_home, "SELECT outcome, reason FROM checks")
    assert [c["outcome"] for c in checks] == ["transient", "transient"], checks
    later = all_records(tmp_home)[before:]
    assert not [r for r in later if r["type"] in ("response", "revisit")
                and r["http"].get_statuscode() == "200"
                and not r["headers"].get_header("WARC-Truncated")], \
        "a cut answer was archived as a whole response"


def test_cookies_and_credentials_do_not_cross_to_another_site(tmp_home, server) -> None:
    """Site a.test sets a cookie and redirects to b.test (both this server, by fake DNS): the
    cookie goes back to a.test only; no request carries Authorization."""
    write_config(tmp_home, obey_robots=False, timeout=5)
    a = server.url("/start").replace("127.0.0.1", "a.test")
    b_target = server.url("/landing").replace("127.0.0.1", "b.test")
    server.script("/start", [{"status": 302, "body": "",
                              "headers": [["Set-Cookie", "session=s3cr3t; Path=/"],
                                          ["Location", b_target]]}])
    server.script("/landing", [{"status": 302, "body": "",
                                "headers": [["Location", server.url("/again").replace(
                                    "127.0.0.1", "a.test")]]}])
    server.script("/again", [_article("Back on a")])
    names = {"TWISTED_DNS_RESOLVER": "tests.support.fakedns.TestNamesResolver",
             "FASTPATH_RESOLVER": "tests.support.fakedns.AiohttpTestNames"}
    result = run_crawl(Home(tmp_home), load_config(tmp_home / "memoryhole.toml"), [], [a],
                       extra_settings=names)
    assert result.returncode == 0, result.error_lines()
    landing = server.requests("/landing")
    again = server.requests("/again")
    assert landing and again, (landing, again)
    for _line, headers in landing:
        names_sent = {k.lower(): v for k, v in headers}
        assert names_sent["host"].startswith("b.test")
        assert "cookie" not in names_sent, headers
    assert any(("Cookie", "session=s3cr3t") in headers or ("cookie", "session=s3cr3t")
               in headers for _line, headers in again), again          # a.test's own cookie
    for path in ("/start", "/landing", "/again"):
        for _line, headers in server.requests(path):
            assert "authorization" not in {k.lower() for k, _ in headers}
            assert "proxy-authorization" not in {k.lower() for k, _ in headers}
