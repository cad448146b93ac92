"""Safety by default: loopback refused, sizes bounded, cut responses never stored as complete."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from scrapy.settings import Settings

from crawlers.browser.recorder import BrowserRecorder
from crawlers.extensions.guard_proxy import BrowserGuardProxy
from crawlers.middlewares.guard import SafetyGuardMiddleware
from crawlers.resolver import GuardedResolver
from crawlers.safety import UrlPolicy
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


POLICY_CASES = [
    ("https://93.184.216.34/a", None),
    ("http://example.org/a", None),                  # names: checked on what they resolve to
    ("ftp://example.org/a", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("http:///no-host", "no_host"),
    ("http://localhost:8080/", "private_address"),
    ("http://api.localhost/", "private_address"),
    ("http://127.0.0.1/", "private_address"),
    ("http://10.1.2.3/", "private_address"),
    ("http://169.254.169.254/latest/meta-data/", "private_address"),
    ("http://[::1]/", "private_address"),
    ("http://[::ffff:192.168.0.1]/", "private_address"),
    ("http://100.64.0.1/", "private_address"),       # shared (CGNAT)
]


@pytest.mark.parametrize(("url", "reason"), POLICY_CASES)
def test_the_one_url_policy(url, reason):
    refusal = UrlPolicy().refusal(url)
    assert (refusal.reason if refusal else None) == reason
    allowing = UrlPolicy(allow_private=True).refusal(url)
    assert (allowing.reason if allowing else None) == (
        reason if reason in ("scheme", "no_host") else None)


def test_every_path_builds_the_policy_from_the_same_settings():
    """The guard, the resolver, the fast path and the browser (its recorder and its guard
    proxy) read one policy: a scheme left out of SAFETY_ALLOWED_SCHEMES is refused by each (the
    browser's copy once ignored it)."""
    settings = Settings({"SAFETY_ALLOWED_SCHEMES": ["https"],
                         "SAFETY_ALLOW_PRIVATE_ADDRESSES": True})
    policy = UrlPolicy.from_settings(settings)
    assert policy == UrlPolicy(frozenset({"https"}), allow_private=True)
    assert policy.refusal("http://93.184.216.34/").reason == "scheme"
    crawler = SimpleNamespace(settings=settings, stats=Counter())
    assert SafetyGuardMiddleware.from_crawler(crawler).policy == policy
    reactor = SimpleNamespace(nameResolver=None)          # only read when a name is looked up
    assert GuardedResolver.from_crawler(crawler, reactor).policy == policy
    settings.update({"BROWSER_ENABLED": True, "PLAYWRIGHT_LAUNCH_OPTIONS": {},
                     "BROWSER_PROXY_RESOLVER": "crawlers.browser.proxy.ProxyResolver"})
    browser = SimpleNamespace(settings=settings, stats=Counter(),
                              signals=SimpleNamespace(connect=lambda *a, **k: None))
    guard = BrowserGuardProxy.from_crawler(browser).proxy
    guard.socket.close()
    assert guard.policy == policy and guard.resolver.policy == policy
    assert settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")["proxy"]["bypass"] == "<-loopback>"


class _Stats(Counter):
    def inc_value(self, key, count=1):
        self[key] += count


class _Route:
    """What Playwright hands a route handler: the request's URL, and the verdict given."""

    def __init__(self, url):
        self.request = type("Request", (), {"url": url})()
        self.verdict = None

    async def continue_(self):
        self.verdict = "continue"

    async def abort(self, error_code):
        self.verdict = error_code


@pytest.mark.parametrize(("url", "verdict"), [
    ("https://93.184.216.34/app.js", "continue"),
    ("http://93.184.216.34/app.js", "blockedbyclient"),     # http is not in the config
    ("data:text/plain,x", "continue"),                      # never reaches the network
    ("https://127.0.0.1/x", "addressunreachable"),
])
def test_the_browser_follows_the_configured_policy(url, verdict):
    recorder = BrowserRecorder(None, _Stats(), "https://93.184.216.34/",
                               UrlPolicy(frozenset({"https"})))
    route = _Route(url)
    with ThreadPoolExecutor(1) as pool:     # a loop of its own: another test's may be running
        pool.submit(asyncio.run, recorder._guard(route)).result()
    assert route.verdict == verdict


def test_a_crawl_started_from_another_checkout_runs_its_own_code(tmp_path, tmp_home) -> None:
    """The crawl process and the archive writer are started with ``python -P -m``: the folder
    the command runs in is not put first on their import path, so another checkout (or any
    folder holding an ``archive`` or ``crawlers`` package) there is not what they run."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.scriptserver import ScriptServer

    other = tmp_path / "other-checkout"
    for package in ("archive", "archive/writer", "crawlers"):
        (other / package).mkdir(parents=True, exist_ok=True)
        (other / package / "__init__.py").write_text("", encoding="utf-8")
    wrong = "import sys; sys.stderr.write('OTHER CHECKOUT RAN\\n'); sys.exit(3)\n"
    (other / "archive/writer/process.py").write_text(wrong, encoding="utf-8")
    (other / "crawlers/runner.py").write_text(wrong, encoding="utf-8")
    write_config(tmp_home, obey_robots=False, timeout=10)
    root = Path(__file__).resolve().parent.parent
    with ScriptServer() as site:
        site.script("/a", [{"status": 200, "body": "<html><body><p>a page</p></body></html>"}])
        result = subprocess.run(
            [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(root)!r}); "
             "from cli import main; main()", "--home", str(tmp_home), "crawl", site.url("/a")],
            cwd=other, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OTHER CHECKOUT RAN" not in result.stdout + result.stderr
    assert "pages 1" in result.stdout
