"""No other web site can read the archive or probe what it holds (RELIABILITY.md point 10).

A page on a third origin, opened in real Chromium beside a running ``memoryhole serve``, tries to
read archived pages and the deletion API (CORS fetches, no-cors fetches, images, scripts, with
and without a Referer): every request it makes to the two origins is answered 403, and the page
learns nothing, for an archived URL and an unknown one alike. Two attackers: one on another
site (127.0.0.2) and one on another port of the same host (same-site). The replay's own pages
still load their stylesheet, image and fonts (tests/test_web_browser.py), through the key in
their rewritten URLs; CORS is answered only to such keyed font and script requests.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import webhome as wh
from tests.support.helpers import http_get

ATTACK = """<!doctype html><html><body><pre id="out"></pre><script>
const targets = %(targets)s;
const out = {};
function load(tag, url, policy) {
  return new Promise(ok => {
    const e = document.createElement(tag);
    if (policy) e.referrerPolicy = policy;
    e.onload = () => ok("loaded"); e.onerror = () => ok("error");
    e.src = url; document.body.appendChild(e);
  });
}
(async () => {
  for (const [name, url] of Object.entries(targets)) {
    try { const r = await fetch(url, {mode: "cors"}); out[name + ":cors"] = "read " + r.status +
      " " + (await r.text()).slice(0, 40); } catch (e) { out[name + ":cors"] = "blocked"; }
    try { const r = await fetch(url, {mode: "no-cors", referrerPolicy: "no-referrer"});
      out[name + ":no-cors"] = "opaque " + r.type; }
    catch (e) { out[name + ":no-cors"] = "blocked"; }
    out[name + ":img"] = await load("img", url, "");
    out[name + ":img-noref"] = await load("img", url, "no-referrer");
    out[name + ":script"] = await load("script", url, "");
  }
  document.getElementById("out").textContent = JSON.stringify(out);
  document.title = "done";
})();
</script></body></html>"""


class _Attacker(BaseHTTPRequestHandler):
    page = b""

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)


@pytest.fixture(scope="module")
def attacker() -> Iterator[tuple[str, type[_Attacker]]]:
    handler = type("Attacker", (_Attacker,), {})
    server = ThreadingHTTPServer(("127.0.0.2", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.2:{server.server_port}", handler
    server.shutdown()


def _get(base: str, path: str, headers: dict[str, str] | None = None) -> Any:
    """A GET that follows the replay's redirects to a capture's own time, same headers."""
    answer = http_get(base, path, headers=dict(headers or {}))
    for _ in range(3):
        if answer[0] != 302 or "/main/" not in answer[1].get("location", ""):
            break
        answer = http_get(base, answer[1]["location"], headers=dict(headers or {}))
    return answer


def _keyed_path(served: wh.ServeProcess, web: wh.WebHome) -> tuple[str, str]:
    """The replay path of the article and the key its rewritten URLs carry."""
    status, headers, body = http_get(served.replay, f"/main/2030/{web.urls['article']}")
    if status == 302:
        status, headers, body = http_get(served.replay, headers["location"])
    assert status == 200
    match = re.search(rb'src="/main/(\d{14})\.([A-Za-z0-9_-]+)/', body)
    assert match, body[:1000]
    return match.group(1).decode(), match.group(2).decode()


def _attack(browser: Any, page_url: str, served: wh.ServeProcess) -> tuple[dict, list]:
    context = browser.new_context()
    answers: list[tuple[str, int]] = []

    def seen(response: Any) -> None:
        if response.url.startswith((served.ui, served.replay)):
            answers.append((response.url, response.status))
    context.on("response", seen)
    page = context.new_page()
    page.goto(page_url)
    page.wait_for_function("document.title === 'done'", timeout=30000)
    results = json.loads(page.inner_text("#out"))
    context.close()
    return results, answers


def _targets(served: wh.ServeProcess, web: wh.WebHome, stamp: str) -> dict[str, str]:
    return {
        "article": f"{served.replay}/main/{stamp}/{web.urls['article']}",
        "image": f"{served.replay}/main/{stamp}/{web.site.url('/img/photo.png')}",
        "unknown": f"{served.replay}/main/{stamp}/http://never.example/x.png",
        "api": f"{served.ui}/api/deletions",
        "timeline": f"{served.ui}/url?u={web.urls['gone']}",
    }


@pytest.mark.parametrize("where", ["cross-site", "same-site"])
def test_another_site_reads_and_probes_nothing(web: wh.WebHome, served: wh.ServeProcess,
                                               browser: Any, attacker: Any, where: str) -> None:
    stamp, _key = _keyed_path(served, web)
    page = (ATTACK % {"targets": json.dumps(_targets(served, web, stamp))}).encode()
    if where == "cross-site":
        base, handler = attacker
        handler.page = page
        url = base + "/attack"
    else:                                        # another port of 127.0.0.1: the same site
        web.live.script("/attack", [{"status": 200, "body": page.decode()}])
        url = web.live.url("/attack")
    results, answers = _attack(browser, url, served)
    assert set(results) == {f"{name}:{kind}" for name in _targets(served, web, stamp)
                            for kind in ("cors", "no-cors", "img", "img-noref", "script")}
    for key, value in results.items():
        assert not value.startswith("read"), (key, value)
        if key.endswith((":img", ":img-noref", ":script")):
            assert value == "error", (key, value)        # the same for archived and unknown
    assert answers, "the page made no request to memoryhole"
    assert all(status == 403 for _, status in answers), answers


def test_cors_only_for_keyed_fonts_and_scripts(web: wh.WebHome,
                                               served: wh.ServeProcess) -> None:
    stamp, key = _keyed_path(served, web)
    css = web.site.url("/static/site.css")
    sandboxed = {"Origin": "null", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors"}
    font = _get(served.replay, f"/main/{stamp}.{key}/{css}",
                    headers={**sandboxed, "Sec-Fetch-Dest": "font"})
    assert font[0] == 200 and font[1]["access-control-allow-origin"] == "null"
    fetched = _get(served.replay, f"/main/{stamp}.{key}/{css}",
                       headers={**sandboxed, "Sec-Fetch-Dest": "empty"})
    assert fetched[0] == 200 and "access-control-allow-origin" not in fetched[1]
    keyless = _get(served.replay, f"/main/{stamp}/{css}",
                       headers={**sandboxed, "Sec-Fetch-Dest": "font"})
    assert keyless[0] == 403 and "access-control-allow-origin" not in keyless[1]
    wrong = _get(served.replay, f"/main/{stamp}.{'x' * 22}/{css}",
                     headers={**sandboxed, "Sec-Fetch-Dest": "font"})
    assert wrong[0] == 403
    plain = _get(served.replay, f"/main/{stamp}/{css}")     # curl and scripts: as before
    assert plain[0] == 200 and "access-control-allow-origin" not in plain[1]
    foreign = http_get(served.ui, "/api/deletions", headers={"Origin": "http://evil.example"})
    assert foreign[0] == 403
    navigation = http_get(served.replay, f"/main/{stamp}/{web.urls['article']}", headers={
        "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest":
        "document"})
    assert navigation[0] == 302 and f"/main/{stamp}.{key}/" in navigation[1]["location"]
