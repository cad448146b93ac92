"""Degraded runs from what answers, not only from what fails (archive.detect.run,
archive.writer.rollback): a captive portal's own page for every URL, a redirect of everything to
its login host, a 511, a middlebox's block page for every path: zero deletions, the run degraded
(its checks transient, the URLs' state as it was, no diff, no new last good capture). A real
sweep of one site's articles is still a sweep. Every site is a ``.test`` name on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from archive.config import load_config
from archive.home import Home
from crawlers.launch import run_crawl, run_recheck
from tests.support.helpers import rows, run_cli, write_config

NAMES = {"TWISTED_DNS_RESOLVER": "tests.support.fakedns.TestNamesResolver",
         "FASTPATH_RESOLVER": "tests.support.fakedns.AiohttpTestNames"}
SITES = ("kz-news.test", "steppe.test", "border.test", "almaty.test")
ARTICLE = ("<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
           "<p>{title}: Kazakhstan and China signed a transit deal at Khorgos.</p>"
           "<p>Traders from Almaty and Urumqi expect more trucks at the border.</p>"
           "</article></body></html>")
PORTAL = ("<html><head><title>Hotel WiFi</title></head><body><h1>Welcome to Hotel WiFi</h1>"
          "<p>Please accept the terms to continue.</p><form action='/accept'>"
          "<button>Accept</button></form></body></html>")
BLOCK = ("<html><head><title>Access restricted</title></head><body><h1>Access restricted</h1>"
         "<p>This resource is not available on this network.</p></body></html>")


def urls_of(server) -> dict[str, str]:
    """Two articles on each site, by path (the script server answers by path)."""
    port = server.base.rsplit(":", 1)[1]
    return {f"/{site.split('.')[0]}/{n}.html": f"http://{site}:{port}/{site.split('.')[0]}/"
            f"{n}.html" for site in SITES for n in (1, 2)}


def setup_home(home, server) -> dict[str, str]:
    write_config(home, obey_robots=False, timeout=3)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')
    urls = urls_of(server)
    for path in urls:
        server.script(path, [{"status": 200, "body": ARTICLE.format(title=path)}])
    config = load_config(home / "memoryhole.toml")
    assert run_crawl(Home(home), config, [], list(urls.values()),
                     extra_settings=NAMES).pages == len(urls)
    recheck(home)                      # healthy: every page alive, as it was
    return urls


def recheck(home):
    config = load_config(home / "memoryhole.toml")
    result = run_recheck(Home(home), config, {"mode": "all", "domain_budget": 1000},
                         extra_settings=NAMES)
    assert result.returncode == 0, result.error_lines()
    return result


def deletions(home):
    return json.loads(run_cli(home, "deletions", "--format", "json").output)


PORTALS = {
    "portal-page": {"status": 200, "body": PORTAL},
    "login-redirect": {"status": 302, "body": "",
                       "headers": [["Location", "http://login.wifi.test/portal?orig=x"]]},
    "network-auth": {"status": 511, "body": PORTAL},
    "block-page": {"status": 403, "body": BLOCK},
    "block-page-200": {"status": 200, "body": BLOCK},
}


@pytest.mark.parametrize("answer", list(PORTALS), ids=list(PORTALS))
def test_a_network_that_answers_for_every_site_confirms_nothing(tmp_home, server, answer):
    urls = setup_home(tmp_home, server)
    before = rows(tmp_home, "SELECT url, state, last_capture_id, last_text_digest, "
                            "missing_streak FROM urls ORDER BY url")
    for path in urls:
        server.script(path, [PORTALS[answer]])
    server.script("/_default", [PORTALS[answer]])          # the probes too
    results = [recheck(tmp_home) for _ in range(3)]
    assert deletions(tmp_home) == []
    for result in results:
        assert "DEGRADED run" in result.check_summary(), result.check_summary()
    runs = rows(tmp_home, "SELECT degraded, detail FROM runs WHERE kind = 'recheck' ORDER BY id")
    assert [r["degraded"] for r in runs] == [0, 1, 1, 1]
    checks = rows(tmp_home, "SELECT outcome, reason, detail FROM checks WHERE run_id > "
                            "(SELECT min(id) FROM runs WHERE kind = 'recheck')")
    assert {c["outcome"] for c in checks} == {"transient"}
    # what the run classified otherwise counts as transient, saying why; a 511 was already
    degraded = [c for c in checks if c["reason"] == "degraded"]
    assert all(c["detail"].startswith("degraded run: ") for c in degraded)
    assert {c["reason"] for c in checks} == ({"http_5xx"} if answer == "network-auth"
                                            else {"degraded"})
    assert rows(tmp_home, "SELECT url, state, last_capture_id, last_text_digest, "
                          "missing_streak FROM urls ORDER BY url") == before
    assert rows(tmp_home, "SELECT * FROM diffs") == []


def test_a_portal_on_one_site_s_answers_is_caught_by_the_controls(tmp_home, server):
    """All watched pages on one host: no second site to compare, but the control checks
    (pages last seen alive and unchanged) come back as the portal's page."""
    write_config(tmp_home, obey_robots=False, timeout=3)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')
    paths = [f"/news/{n}.html" for n in range(5)]
    for path in paths:
        server.script(path, [{"status": 200, "body": ARTICLE.format(title=path)}])
    run_cli(tmp_home, "crawl", *[server.url(p) for p in paths])
    run_cli(tmp_home, "recheck", "--all")
    for path in paths:
        server.script(path, [{"status": 200, "body": PORTAL}])
    server.script("/_default", [{"status": 200, "body": PORTAL}])
    for _ in range(3):
        out = run_cli(tmp_home, "recheck", "--all").output
        assert "DEGRADED run (the control checks did not come back as they were" in out, out
    assert deletions(tmp_home) == []
    assert rows(tmp_home, "SELECT * FROM diffs") == []


def test_a_sweep_of_one_site_is_still_a_sweep(tmp_home, server):
    """One site answers its deleted articles with its one tombstone and 404s; the other sites,
    and the controls on them, are as before: the deletions are confirmed."""
    urls = setup_home(tmp_home, server)
    tombstone = {"status": 200, "body": "<html><head><title>Kz News</title></head><body>"
                 "<p>This article has been removed</p></body></html>"}
    swept = [p for p in urls if p.startswith("/kz-news/")]
    server.script(swept[0], [tombstone])
    server.script(swept[1], [{"status": 404, "body": "<h1>Not Found</h1>"}])
    first, second = recheck(tmp_home), recheck(tmp_home)
    assert "DEGRADED" not in first.check_summary() + second.check_summary()
    assert {d["url"]: d["reason"] for d in deletions(tmp_home)} == {
        urls[swept[0]]: "author_deleted", urls[swept[1]]: "gone"}


def test_canaries_are_control_checks(tmp_home, server):
    """A canary from the config is watched and checked every run; one that answers a portal's
    page instead of itself makes the run degraded."""
    setup_home(tmp_home, server)
    server.script("/canary.html", [{"status": 200, "body": ARTICLE.format(title="canary")}])
    canary = server.url("/canary.html")
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write(f'canaries = ["{canary}"]\n')
    recheck(tmp_home)
    [watched] = rows(tmp_home, "SELECT source, state FROM urls WHERE url = ?", (canary,))
    assert (watched["source"], watched["state"]) == ("canaries", "alive")
    server.script("/canary.html", [{"status": 200, "body": PORTAL}])
    result = recheck(tmp_home)
    assert "control checks did not come back" in result.check_summary()


def test_a_probe_answered_like_a_live_page_proves_nothing(tmp_home, server):
    """A soft-404 needs a probe that answers differently from the pages known alive: a site that
    answers its front page for everything (an unchanged page of it says so) proves nothing about
    an article that now shows that front page too."""
    write_config(tmp_home, obey_robots=False, timeout=3)
    with open(tmp_home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')
    front = {"status": 200, "body": ARTICLE.format(title="Kz News front page")}
    server.script("/news/front.html", [front])
    server.script("/news/story.html", [{"status": 200, "body": ARTICLE.format(title="Story")}])
    pages = [server.url("/news/front.html"), server.url("/news/story.html")]
    run_cli(tmp_home, "crawl", *pages)
    server.script("/news/story.html", [front])
    server.script("/_default", [front])                   # every probe gets the front page
    for _ in range(3):
        run_cli(tmp_home, "recheck", "--all")
    assert deletions(tmp_home) == []
    checks = rows(tmp_home, "SELECT outcome, reason, detail FROM checks WHERE url = ?",
                  (pages[1],))
    assert {(c["outcome"], c["reason"]) for c in checks} == {("transient", "probe_unreliable")}
    assert "classified missing/soft_404" in checks[0]["detail"]
