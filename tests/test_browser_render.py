"""render = "browser": a page built by JavaScript, loaded in Debian's Chromium through
scrapy-playwright, with every response the browser received in the WARC (its XHR too), a
screenshot and the DOM as resource records, replayable in pywb; the browser's own requests
guarded; its memory bounded over 200 pages; a clear error without Chromium."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from archive.config import load_config
from archive.home import Home
from crawlers.browser.proxy import ProxyResolver, Refused
from crawlers.launch import run_crawl
from crawlers.safety import UrlPolicy
from tests.support.helpers import all_records, free_port, rows, run_cli, write_config
from tests.support.jsapp import PNG, STORY, serve_app
from tests.support.pywb_env import ensure_pywb_venv
from tests.support.scriptserver import ScriptServer
from tests.support.webhome import chromium_path

HOSTILE = ('<!doctype html><html><body><p>A page that asks for local files.</p>'
           '<img src="file:///etc/passwd"><iframe src="ftp://127.0.0.1/x"></iframe></body></html>')


def _seeds(home: Path, urls: list[str]) -> Path:
    seeds = home / "seeds.toml"
    seeds.write_text('[[source]]\nname = "js"\nkind = "page"\nrender = "browser"\nurls = '
                     + json.dumps(urls) + "\n", encoding="utf-8")
    return seeds


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str, str]]:
    """A home with /app.html and /hostile.html crawled in the browser; the site is gone after."""
    chromium_path()
    home = tmp_path_factory.mktemp("rendered") / "home"
    write_config(home, obey_robots=False, timeout=10)
    with ScriptServer() as server:
        serve_app(server, ["/app.html"])
        server.script("/hostile.html", [{"status": 200, "body": HOSTILE}])
        app, hostile = server.url("/app.html"), server.url("/hostile.html")
        result = run_cli(home, "crawl", "--seeds", str(_seeds(home, [app, hostile])))
        assert "pages 2," in result.output and "errors 0" in result.output, result.output
    yield home, app, hostile


def test_the_browser_s_responses_screenshot_and_dom_are_archived(rendered) -> None:
    home, app, hostile = rendered
    base = app.rsplit("/", 1)[0]
    records = all_records(home)                  # every record re-read, digests checked
    responses = {r["uri"]: r for r in records if r["type"] == "response"}
    assert {f"{base}/app.html", f"{base}/app.js", f"{base}/api/story.json",
            f"{base}/img/1.png", hostile} <= set(responses)
    story = responses[f"{base}/api/story.json"]
    assert json.loads(story["raw"]) == STORY      # the body as the browser had it, decoded
    assert story["http"].get_header("Content-Encoding") is None
    assert story["http"].get_header("X-Memoryhole-Original-Content-Encoding") == "gzip"
    requests = [r for r in records if r["type"] == "request" and r["uri"].endswith("story.json")]
    assert requests and requests[0]["raw"] == b""
    resources = {r["uri"]: r for r in records if r["type"] == "resource"}
    shot, dom = resources[f"urn:screenshot:{app}"], resources[f"urn:dom:{app}"]
    assert shot["raw"].startswith(b"\x89PNG") and shot["headers"].get_header(
        "Content-Type") == "image/png"
    assert STORY["text"].encode() in dom["raw"] and b"<h1>Built by script</h1>" in dom["raw"]
    assert shot["headers"].get_header("WARC-Concurrent-To") == \
        responses[f"{base}/app.html"]["headers"].get_header("WARC-Record-ID")
    (page,) = rows(home, "SELECT text, title, via FROM captures WHERE url = ?", (app,))
    assert page["via"] == "browser" and STORY["text"] in page["text"]
    assert not any(uri.startswith(("file:", "ftp:")) for uri in responses)
    (run,) = rows(home, "SELECT stats FROM runs")
    stats = json.loads(run["stats"])
    assert stats["memoryhole/browser/pages"] == 2
    assert stats["memoryhole/browser/proxy/connections"] >= 5    # through the guard proxy
    assert story["headers"].get_header("WARC-IP-Address") == "127.0.0.1"   # the address it used
    assert run_cli(home, "check").output.rstrip().endswith(": ok")   # WARCs, index, catalogue


class _Counts(dict):
    """What BrowserRecorder counts and submits, kept for the test to read."""

    def inc_value(self, key: str, count: int = 1) -> None:
        self[key] = self.get(key, 0) + count

    def submit_exchange(self, exchange: Any, via: str = "http") -> str:
        self.setdefault("exchanges", []).append(exchange.url)
        return "<urn:uuid:0>"


def test_the_browser_s_own_requests_to_private_addresses_are_refused() -> None:
    """A page (here a data: URL, so no guard of the crawler stands in front of it) whose image
    is on a loopback server: with allow_private_addresses off the request never leaves
    Chromium. (With it on, loopback pages' requests arrive and are recorded: the crawl above.)"""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from playwright.async_api import async_playwright

    from crawlers.browser.chromium import CHROMIUM_ARGS
    from crawlers.browser.recorder import BrowserRecorder

    async def load(image: str, allow: bool) -> _Counts:
        counts = _Counts()
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium_path(),
                                                       args=CHROMIUM_ARGS)
            page = await browser.new_page()
            recorder = BrowserRecorder(counts, counts, "data:", UrlPolicy(allow_private=allow))
            await recorder.attach(page)
            await page.goto(f'data:text/html,<img src="{image}">', wait_until="networkidle")
            await recorder.settled()
            await browser.close()
        return counts

    with ScriptServer() as server, ThreadPoolExecutor(1) as pool:
        server.script("/x.png", [{"status": 200, "body": PNG.decode("latin-1"),
                                  "encoding": "latin-1", "content_type": "image/png"}])
        refused = pool.submit(asyncio.run, load(server.url("/x.png"), False)).result()
        assert server.hits().get("/x.png", 0) == 0
    assert refused.get("memoryhole/browser/blocked") == 1 and "exchanges" not in refused


class _Names(ProxyResolver):
    """The guard proxy's resolver with a fixed DNS: ``mixed.example`` has a private and a public
    address, ``inside.example`` only a private one; other names do not resolve."""

    async def lookup(self, host: str, port: int) -> list[str]:
        found = {"mixed.example": ["10.0.0.7", "93.184.216.34"], "inside.example": ["10.0.0.7"]}
        if host not in found:
            raise OSError(f"{host}: Name or service not known")
        return found[host]


def test_the_guard_proxy_connects_only_to_addresses_the_policy_allows() -> None:
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    def addresses(host: str, allow: bool = False) -> list[str] | str:
        async def ask() -> list[str] | str:
            try:
                return await _Names(UrlPolicy(allow_private=allow)).addresses(host, 80)
            except Refused as refused:
                return refused.refusal.reason
        with ThreadPoolExecutor(1) as pool:          # a loop of its own, beside Playwright's
            return pool.submit(asyncio.run, ask()).result()

    for address in ("127.0.0.1", "10.1.2.3", "169.254.169.254", "::1"):
        assert addresses(address) == "private_address", address
        assert addresses(address, allow=True) == [address]
    assert addresses("93.184.216.34") == ["93.184.216.34"]
    assert addresses("mixed.example") == ["93.184.216.34"]      # the private one is dropped
    assert addresses("inside.example") == "private_address"
    assert addresses("nowhere.example") == "unresolved"          # never let through
    assert addresses("nowhere.example", allow=True) == "unresolved"


def _wayback(home: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([str(ensure_pywb_venv() / "wayback"), "-b", "127.0.0.1", "-p",
                             str(port)], cwd=home, stdout=open(log, "wb"),
                            stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"wayback exited {proc.returncode}: {log.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(base + "/", timeout=2).read()
            return proc, base
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                pytest.fail("wayback did not answer within 60 s")
            time.sleep(0.2)


def test_the_rendered_page_replays_in_pywb_with_its_xhr(rendered, browser: Any,
                                                      tmp_path: Path) -> None:
    home, app, _hostile = rendered
    proc, base = _wayback(home, tmp_path / "wayback.log")
    try:
        page = browser.new_page()
        page.goto(f"{base}/main/{app}", wait_until="networkidle")
        frame = next(f for f in page.frames if f.url.endswith("/app.html") and "mp_" in f.url)
        frame.wait_for_selector("#story p", timeout=15_000)      # built by the replayed XHR
        assert frame.inner_text("#story") == STORY["text"]
        assert frame.inner_text("h1") == STORY["title"]
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_browser_memory_stays_bounded_over_200_pages(tmp_path: Path) -> None:
    chromium_path()
    home = tmp_path / "home"
    config = write_config(home, obey_robots=False, timeout=10, requisites=False)
    with open(config, "a", encoding="utf-8") as handle:
        handle.write("[browser]\nconcurrency = 4\n")
    paths = [f"/p/{n}.html" for n in range(200)]
    page = ("<!doctype html><html><head><title>page</title></head><body>"
            + "<p>Казахстан и Китай: новости дня.</p>" * 40
            + "<script>document.title = 'built ' + location.pathname;</script></body></html>")
    with ScriptServer() as server:
        server.script("/_default", [{"status": 200, "body": page}])
        urls = [server.url(p) for p in paths]
        from archive.seeds import Source

        source = Source(name="js", kind="page", urls=tuple(urls), render="browser")
        # "load", not "networkidle" (500 ms of quiet per page), and 4 pages at once: the test
        # is about memory, not about waiting
        result = run_crawl(Home(home), load_config(config), [source], [],
                           extra_settings={"BROWSER_MEMORY_EVERY": 50,
                                           "BROWSER_WAIT_UNTIL": "load"})
    assert result.returncode == 0
    stats = result.stats
    assert stats["memoryhole/browser/pages"] == 200
    at = {n: stats[f"memoryhole/browser/rss_mb_at_{n}"] for n in (50, 100, 150, 200)}
    assert all(value > 50 for value in at.values()), at          # Chromium was measured
    assert at[200] <= at[50] * 1.25 + 64, at                     # no growth with pages
    assert len(rows(home, "SELECT id FROM captures WHERE via = 'browser' AND url LIKE"
                          " '%/p/%'")) == 200
    assert stats["playwright/page_count/max_concurrent"] <= 4     # [browser] concurrency
    assert stats["playwright/context_count"] == 20                # 10 pages each, then closed


def test_no_chromium_is_exit_2_with_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    monkeypatch.delenv("MEMORYHOLE_CHROMIUM", raising=False)
    home = tmp_path / "home"
    write_config(home)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[browser]\nexecutable = "/nonexistent/chromium"\n')
    result = run_cli(home, "crawl", "--seeds", str(_seeds(home, ["http://127.0.0.1:9/a"])),
                     expect=2)
    assert "Chromium not found at /nonexistent/chromium" in result.output
    assert "[browser] executable" in result.output and result.output.count("\n") == 1


def test_browser_config_is_checked(tmp_path: Path) -> None:
    from archive.config_file import ConfigError

    path = tmp_path / "memoryhole.toml"
    path.write_text('[browser]\nwait_until = "soon"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r'browser\.wait_until: unknown value .soon.; use one of '
                                          r'"load", "domcontentloaded", "networkidle"'):
        load_config(path)
    path.write_text('[browser]\nconcurrency = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"browser\.concurrency: must be greater than 0"):
        load_config(path)
    path.write_text('[browser]\nexecutable = "/usr/bin/chromium"\ntimeout = 5\n',
                    encoding="utf-8")
    browser = load_config(path).browser
    assert (browser.executable, browser.timeout, browser.wait_until) == (
        "/usr/bin/chromium", 5.0, "networkidle")


def test_an_edit_made_by_script_is_diffed_from_the_dom(tmp_path: Path) -> None:
    """The server's document stays the same (a revisit); the text its script fetches changes.
    The change is found from the DOM, and the diff is made from the DOMs of both captures."""
    chromium_path()
    home = tmp_path / "home"
    write_config(home, obey_robots=False, timeout=10)
    paragraph = " ".join(["Пограничная торговля между Казахстаном и Китаем растёт."] * 8)
    versions = [{"title": "Report", "text": paragraph + " Переговоры прошли успешно."},
                {"title": "Report", "text": paragraph + " Переговоры отменены."}]
    with ScriptServer() as server:
        serve_app(server, ["/app.html"])
        server.script("/api/story.json", [{"status": 200, "body": json.dumps(v),
                                           "content_type": "application/json"}
                                          for v in versions])
        seeds = _seeds(home, [server.url("/app.html")])
        run_cli(home, "crawl", "--seeds", str(seeds))
        second = run_cli(home, "crawl", "--seeds", str(seeds))
    assert "changed 1," in second.output, second.output
    documents = rows(home, "SELECT is_revisit FROM captures WHERE url = ? ORDER BY id",
                     (server.url("/app.html"),))
    assert [d["is_revisit"] for d in documents] == [0, 1]
    (diff,) = rows(home, "SELECT unified_diff FROM diffs")
    assert "-" + paragraph + " Переговоры прошли успешно." in diff["unified_diff"]
    assert "+" + paragraph + " Переговоры отменены." in diff["unified_diff"]


def test_chromium_is_found_config_first_then_the_env_then_the_path(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crawlers.browser.chromium import BrowserMissing, find_chromium

    configured, from_env, on_path = (tmp_path / name for name in ("cfg", "env", "bin"))
    on_path.mkdir()
    for path in (configured, from_env, on_path / "chromium"):
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path))
    monkeypatch.setenv("MEMORYHOLE_CHROMIUM", str(from_env))
    assert find_chromium(str(configured)) == str(configured)
    assert find_chromium("") == str(from_env)
    monkeypatch.delenv("MEMORYHOLE_CHROMIUM")
    assert find_chromium(None) == str(on_path / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    with pytest.raises(BrowserMissing, match="apt-get install -y chromium"):
        find_chromium(None)


def test_a_browser_page_is_re_checked_in_the_browser() -> None:
    """Its HTTP answer is a script shell ("Loading"): read as the page, it would replace the
    rendered article. The re-check loads it in Chromium instead: alive while the script still
    writes the story, and a deletion once the script writes a deletion notice."""
    home = Path(tempfile.mkdtemp(prefix="mh-browser-recheck-")) / "home"
    write_config(home, obey_robots=False, timeout=10)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n')
    with ScriptServer() as server:
        serve_app(server, ["/app.html"])
        app = server.url("/app.html")
        run_cli(home, "crawl", "--seeds", str(_seeds(home, [app])))
        [good] = rows(home, "SELECT last_capture_id, last_text_digest FROM urls WHERE url = ?",
                      (app,))
        run_cli(home, "recheck", "--all")
        [check] = rows(home, "SELECT outcome, capture_id FROM checks")
        assert check["outcome"] == "alive"                   # the DOM, not the shell's text
        [via] = rows(home, "SELECT via FROM captures WHERE id = ?", (check["capture_id"],))
        assert via["via"] == "browser"
        assert rows(home, "SELECT last_capture_id, last_text_digest FROM urls WHERE url = ?",
                    (app,))[0]["last_text_digest"] == good["last_text_digest"]
        assert rows(home, "SELECT * FROM diffs") == []
        server.script("/api/story.json", [{"status": 200, "content_type": "application/json",
                                           "body": json.dumps({"title": "",
                                                               "text": "This page has been "
                                                                       "deleted"})}])
        run_cli(home, "recheck", "--all")
        run_cli(home, "recheck", "--all")
    [deletion] = json.loads(run_cli(home, "deletions", "--format", "json").output)
    assert (deletion["url"], deletion["reason"]) == (app, "unknown")
    assert deletion["evidence"]["rule"] == "news/deleted-notice@2"


class _ClosedPageMessage:
    """A Playwright request or response whose page scrapy-playwright has closed (the navigation
    failed after a redirect hop): its raw headers can no longer be asked for."""

    def __init__(self, url: str, headers: dict[str, str], **fields: Any) -> None:
        self.url, self.headers = url, headers
        self.__dict__.update(fields)

    async def headers_array(self) -> list[dict[str, str]]:
        raise RuntimeError("Target page, context or browser has been closed")


def test_a_redirect_hop_is_recorded_after_its_page_closed() -> None:
    """The hop's record uses the headers its event carried when its page is already closed."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from crawlers.browser.recorder import BrowserRecorder

    submitted = []
    writer = type("Writer", (), {"submit_exchange": lambda self, exchange, via: (
        submitted.append(exchange) or "<urn:uuid:1>")})()
    stats = type("Stats", (), {"inc_value": lambda self, key, count=1: None})()
    url = "https://93.184.216.34/moved"
    request = _ClosedPageMessage(url, {"user-agent": "t"}, method="GET", post_data_buffer=None,
                                 is_navigation_request=lambda: True, frame=None)
    response = _ClosedPageMessage(url, {"location": "http://127.0.0.1/x"}, status=302,
                                  status_text="Found", request=request)
    recorder = BrowserRecorder(writer, stats, url, UrlPolicy(frozenset({"https"})),
                               address_of=lambda _url: "93.184.216.34")
    request.frame = type("Frame", (), {})()
    request.frame.page = type("Page", (), {"main_frame": None})()
    with ThreadPoolExecutor(1) as pool:     # a loop of its own: another test's may be running
        pool.submit(asyncio.run, recorder._record(response)).result()
    (exchange,) = submitted
    assert exchange.status == 302
    assert ("location", "http://127.0.0.1/x") in exchange.response_headers
    assert ("user-agent", "t") in exchange.request_headers
