"""The browser cannot escape the address rule, and what it reads is bounded.

A watched page on a public site (``public.test``: the test's fake DNS takes it for public, at
127.0.0.1) tries every way out to a loopback service (a second server on 127.0.0.1), to the cloud
metadata address and to 10/8: a redirect, iframes (one through a redirect hop, one by a name
that resolves to loopback), a popup, a WebSocket, WebRTC, a name the crawl's DNS cannot resolve.
Private addresses are not allowed in this crawl. Chromium is given host rules that resolve the
test's names to 127.0.0.1 by itself, as a browser resolving on its own (or a rebinding DNS)
would: only the guard proxy (crawlers.browser.proxy) stands between the page and the loopback
service. Nothing may reach it, the WARC, the screenshot or the DOM; each refusal is counted and
logged with its URL. The crawl has ended (every page done) when the loopback service's request
log is read.

Bounds: a hostile page 100,000 px tall whose scripts fetch bodies over the crawl's maximum
response size (declared, chunked, gzip-inflated): none is recorded, the screenshot is clipped;
a watched URL that is a download is not taken.
"""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from archive.config import load_config
from archive.home import Home
from archive.seeds import Source
from crawlers.browser.chromium import CHROMIUM_ARGS
from crawlers.browser.recorder import png_size
from crawlers.launch import run_crawl
from tests.support.helpers import all_records, write_config
from tests.support.scriptserver import ScriptServer
from tests.support.webhome import chromium_path

SECRET = "LOOPBACK-SECRET-7f3a"
NAMES = {"TWISTED_DNS_RESOLVER": "tests.support.fakedns.TestNamesResolver",
         "FASTPATH_RESOLVER": "tests.support.fakedns.AiohttpTestNames",
         "BROWSER_PROXY_RESOLVER": "tests.support.fakedns.ProxyTestNames"}


def _page(body: str) -> dict[str, object]:
    return {"status": 200, "body": f"<!doctype html><html><head><title>t</title></head><body>"
                                   f"<h1>A public page</h1>{body}</body></html>"}


def _launch_options() -> dict[str, object]:
    """Chromium resolving the test's names by itself (no proxy would leave them unresolved)."""
    rules = "MAP *.test 127.0.0.1, MAP *.invalid 127.0.0.1"
    return {"executable_path": chromium_path(), "headless": True,
            "args": [*CHROMIUM_ARGS, f"--host-resolver-rules={rules}"]}


def _crawl(home: Path, urls: list[str], extra: dict[str, object], **config: object
           ) -> SimpleNamespace:
    path = write_config(home, obey_robots=False, timeout=10, requisites=False, **config)
    source = Source(name="hostile", kind="page", urls=tuple(urls), render="browser")
    result = run_crawl(Home(home), load_config(path), [source], [],
                       extra_settings={**NAMES, "PLAYWRIGHT_LAUNCH_OPTIONS": _launch_options(),
                                       **extra})
    assert result.returncode == 0, result.log_path.read_text()
    return SimpleNamespace(stats=result.stats, log=result.log_path.read_text(),
                           records=all_records(home))


@pytest.fixture(scope="module")
def escapes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)     # a STUN server on loopback
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    with ScriptServer() as site, ScriptServer() as inside, udp:
        inside.script("/_default", [{"status": 200, "body": f"<h1>{SECRET}</h1>"}])
        port, q = urlsplit(site.url("/")).port, urlsplit(inside.url("/")).port
        public, loop = f"http://public.test:{port}", f"http://127.0.0.1:{q}"
        pages = {
            "/redirect.html": {"status": 302, "headers": [["Location", f"{loop}/secret-redirect"]],
                               "body": "moved"},
            "/frames.html": _page(f'<iframe src="{public}/hop"></iframe>'
                                  f'<iframe src="http://inside.test:{q}/secret-named"></iframe>'),
            "/hop": {"status": 302, "headers": [["Location", f"{loop}/secret-hop"]], "body": ""},
            "/popup.html": _page(f'<script>window.open("{loop}/secret-popup")</script>'),
            "/socket.html": _page(f'<script>new WebSocket("ws://127.0.0.1:{q}/secret-ws")</script>'),
            "/private.html": _page(
                f'<iframe src="{public}/hop-metadata"></iframe>'
                '<script>window.open("http://10.1.2.3/secret-ten");'
                'new WebSocket("wss://10.9.8.7/secret-ws")</script>'),
            "/hop-metadata": {"status": 302, "body": "", "headers": [
                ["Location", "http://169.254.169.254/latest/meta-data/"]]},
            "/unresolved.html": _page(
                f'<iframe src="http://nowhere.invalid:{q}/secret-unresolved"></iframe>'),
            "/rtc.html": _page(
                "<script>const pc = new RTCPeerConnection({iceServers: [{urls: "
                f"'stun:127.0.0.1:{udp.getsockname()[1]}'}}]}}); pc.createDataChannel('x');"
                "pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete')"
                " fetch('/rtc-done'); }; pc.createOffer().then(o => pc.setLocalDescription(o));"
                "</script>"),
            "/rtc-done": {"status": 204, "body": ""},
        }
        for path, answer in pages.items():
            site.script(path, [answer])
        urls = [f"{public}{path}" for path in pages if path.endswith(".html")]
        crawl = _crawl(tmp_path_factory.mktemp("escapes") / "home", urls, {},
                       allow_private_addresses=False)
        crawl.inside = inside.hits()           # the crawl is over: every page is done
        crawl.site = site.hits()
        crawl.public, crawl.loop = public, loop
        crawl.udp = 0
        while True:
            try:
                udp.recvfrom(4096)
            except BlockingIOError:
                break
            crawl.udp += 1
        yield crawl


def _refused(crawl: SimpleNamespace, url: str) -> bool:
    return f"browser: connection refused: {url}" in crawl.log


def _nothing_secret(crawl: SimpleNamespace) -> None:
    for record in crawl.records:
        assert SECRET.encode() not in record["raw"], record["uri"]
        if record["type"] == "response":
            assert record["uri"].startswith(crawl.public), record["uri"]


def test_a_redirect_to_loopback_is_refused(escapes: SimpleNamespace) -> None:
    assert escapes.site.get("/redirect.html") == 1
    assert "/secret-redirect" not in escapes.inside
    assert _refused(escapes, f"{escapes.loop}/secret-redirect")
    hop = [r for r in escapes.records if r["uri"] == f"{escapes.public}/redirect.html"]
    assert [r["http"].get_statuscode() for r in hop if r["type"] == "response"] == ["302"]
    assert not [r for r in escapes.records if r["type"] == "resource"
                and r["uri"].endswith("/redirect.html")]       # no screenshot, no DOM of it
    _nothing_secret(escapes)


def test_iframes_reach_no_loopback_by_a_redirect_hop_or_by_name(escapes: SimpleNamespace
                                                                 ) -> None:
    assert escapes.site.get("/hop") == 1
    assert "/secret-hop" not in escapes.inside and "/secret-named" not in escapes.inside
    assert _refused(escapes, f"{escapes.loop}/secret-hop")
    port = escapes.loop.rsplit(":", 1)[1]
    assert _refused(escapes, f"http://inside.test:{port}/secret-named")
    dom = next(r for r in escapes.records if r["uri"] == f"urn:dom:{escapes.public}/frames.html")
    assert b"<iframe" in dom["raw"]
    _nothing_secret(escapes)


def test_a_popup_reaches_no_loopback(escapes: SimpleNamespace) -> None:
    assert "/secret-popup" not in escapes.inside
    assert _refused(escapes, f"{escapes.loop}/secret-popup")


def test_a_websocket_reaches_no_loopback(escapes: SimpleNamespace) -> None:
    assert "/secret-ws" not in escapes.inside
    assert _refused(escapes, f"https://127.0.0.1:{escapes.loop.rsplit(':', 1)[1]}/")  # CONNECT


def test_metadata_and_private_ranges_are_refused(escapes: SimpleNamespace) -> None:
    for url in ("http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/secret-ten",
                "https://10.9.8.7:443/"):
        assert _refused(escapes, url), url
    assert escapes.stats["memoryhole/browser/proxy/refused/private_address"] >= 8
    _nothing_secret(escapes)


def test_a_name_the_crawl_cannot_resolve_is_refused(escapes: SimpleNamespace) -> None:
    """Chromium would resolve it (its host rules): the proxy's own lookup fails, so it is
    refused, not let through."""
    assert "/secret-unresolved" not in escapes.inside
    port = escapes.loop.rsplit(":", 1)[1]
    assert _refused(escapes, f"http://nowhere.invalid:{port}/secret-unresolved")
    assert escapes.stats["memoryhole/browser/proxy/refused/unresolved"] >= 1


def test_webrtc_sends_nothing_around_the_proxy(escapes: SimpleNamespace) -> None:
    assert escapes.udp == 0
    assert escapes.site.get("/rtc-done") == 1        # ICE gathering was over before the end


def test_nothing_private_was_reached_at_all(escapes: SimpleNamespace) -> None:
    assert escapes.inside == {}
    assert escapes.stats["memoryhole/browser/pages"] >= 5       # the public pages were archived
    _nothing_secret(escapes)


MB = 1 << 20


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    tall = _page('<div style="height:100000px;background:linear-gradient(red,blue)">tall</div>'
                 "<script>for (const p of ['/big-declared', '/big-chunked', '/big-gzip', "
                 "'/small.json']) fetch(p).then(r => r.arrayBuffer());</script>")
    inflating = gzip.compress(b"x" * 3 * MB)
    with ScriptServer() as site:
        site.script("/tall.html", [tall])
        site.script("/big-declared", [{"status": 200, "body": "d" * MB, "repeat": 3,
                                       "content_type": "application/octet-stream"}])
        site.script("/big-chunked", [{"status": 200, "body": "c" * MB, "repeat": 3,
                                      "chunked": True, "content_type": "text/plain"}])
        site.script("/big-gzip", [{"status": 200, "body": inflating.decode("latin-1"),
                                   "encoding": "latin-1", "content_type": "text/plain",
                                   "headers": [["Content-Encoding", "gzip"]]}])
        site.script("/small.json", [{"status": 200, "body": json.dumps({"ok": True}),
                                     "content_type": "application/json"}])
        site.script("/download.bin", [{"status": 200, "body": "z" * (MB // 4),
                                       "content_type": "application/octet-stream", "headers": [
                                           ["Content-Disposition", "attachment; filename=a.bin"]]}])
        # a small document whose script builds a DOM of 3 MB (the limit is 2)
        site.script("/dom.html", [_page("<script>const p = document.createElement('p');"
                                        "p.textContent = 'x'.repeat(3 * 1024 * 1024);"
                                        "document.body.append(p);</script>")])
        url = site.url("/tall.html").replace("127.0.0.1", "public.test")
        download = url.replace("/tall.html", "/download.bin")
        dom = url.replace("/tall.html", "/dom.html")
        crawl = _crawl(tmp_path_factory.mktemp("hostile") / "home", [url, download, dom], {},
                       allow_private_addresses=False, max_response_mb=2)
        crawl.site = site.hits()
        crawl.url, crawl.download, crawl.dom = url, download, dom
    yield crawl


def test_bodies_over_the_maximum_size_are_not_recorded(hostile: SimpleNamespace) -> None:
    base = hostile.url.rsplit("/", 1)[0]
    assert all(hostile.site.get(p) == 1 for p in ("/big-declared", "/big-chunked", "/big-gzip"))
    responses = {r["uri"] for r in hostile.records if r["type"] == "response"}
    assert {hostile.url, f"{base}/small.json"} <= responses
    assert not {f"{base}/big-declared", f"{base}/big-chunked", f"{base}/big-gzip"} & responses
    assert hostile.stats["memoryhole/browser/too_big"] == 3
    assert "over the limit" in hostile.log


def test_the_full_page_screenshot_is_clipped(hostile: SimpleNamespace) -> None:
    [shot] = [r for r in hostile.records if r["uri"] == f"urn:screenshot:{hostile.url}"]
    assert png_size(shot["raw"]) == (1280, 16384)          # BROWSER_SCREENSHOT_MAX_HEIGHT
    assert hostile.stats["memoryhole/browser/screenshot_clipped"] == 1


def test_a_dom_built_over_the_maximum_size_is_not_read(hostile: SimpleNamespace) -> None:
    """A page whose script builds a huge document: its DOM is measured in the browser and never
    read into the crawl process; no DOM or screenshot stands for it, its document is archived as
    it came, and the fetch counts as failed."""
    assert hostile.stats["memoryhole/browser/dom_too_large"] == 1
    assert not [r for r in hostile.records if r["type"] == "resource"
                and r["uri"].endswith(hostile.dom)]
    assert [r for r in hostile.records if r["type"] == "response" and r["uri"] == hostile.dom]
    assert hostile.stats["memoryhole/fetch_errors/DomTooLarge"] == 1
    assert "over the limit of 2097152" in hostile.log


def test_a_download_is_refused(hostile: SimpleNamespace) -> None:
    """A watched URL that is a download (of any size, to disk, then read whole by
    scrapy-playwright) is not taken, even one under the size limit: no record holds it, no DOM
    stands for it."""
    assert hostile.site.get("/download.bin") == 1
    assert all(b"z" * 4096 not in r["raw"] for r in hostile.records)
    assert not [r for r in hostile.records if r["type"] == "resource"
                and r["uri"].endswith(hostile.download)]          # no DOM, no screenshot
    for record in hostile.records:           # its answer, as far as the browser saw it
        if record["type"] == "response" and record["uri"] == hostile.download:
            assert record["headers"].get_header("WARC-Truncated") == "unspecified"
