"""A home for the web UI tests, built the way a user builds one: crawl a local site (an article
with its stylesheet and image, a page that is edited, two that are deleted, a hostile page),
re-check it until the deletions are confirmed; then ``memoryhole serve`` on it, as a process.

The hostile page's script tries everything an archived page must not manage: read the UI's
cookies and localStorage, call the deletion-log API, navigate the top window, register a
service worker, reach the live web. It writes what happened into ``#results``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.helpers import free_port, run_cli, write_config
from tests.support.scriptserver import ScriptServer

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("MEMORYHOLE_TEST_ARTIFACTS", ROOT / "tests" / "artifacts"))



def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real PNG of one colour (browsers must decode it: replay tests check its size)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG_RED = png(16, 16, (200, 0, 0))
ARTICLE_TITLE = "哈萨克斯坦渴望回归中国"
ARTICLE = f"""<!doctype html><html><head><meta charset="utf-8"><title>{ARTICLE_TITLE}</title>
<link rel="stylesheet" href="/static/site.css"></head><body><article>
<h1 id="headline">{ARTICLE_TITLE}</h1>
<p>一篇文章声称哈萨克斯坦渴望回归中国，几周后被删除。</p>
<p>The article claimed that Kazakhstan was eager to return to China.</p>
<img id="photo" src="/img/photo.png" alt="photo" width="16" height="16">
</article></body></html>"""
CSS = "h1 { color: rgb(200, 0, 0); } body { background: url(/img/bg.png) }"
EDITED_BEFORE = "The minister denied the report on Tuesday."
EDITED_AFTER = "The minister confirmed the report on Wednesday."
EDITED = """<!doctype html><html><head><title>Transit deal</title></head><body><article>
<p>Kazakhstan and China signed a transit deal in Astana this week.</p>
<p>{changed}</p><p>Officials expect the first trains in the spring.</p></article></body></html>"""
GONE_TITLE = 'Gone <script>alert("pwned")</script> & "quoted"'
GONE = f"""<!doctype html><html><head><title>{GONE_TITLE.replace('&', '&amp;').replace('<', '&lt;')}
</title></head><body><article><p>A story about the border talks, soon deleted.</p>
<p>It named the officials who took part.</p></article></body></html>"""
MOVED = """<!doctype html><html><head><title>Moved story</title></head><body><article>
<p>A story that will later redirect to the home page.</p></article></body></html>"""
HOSTILE = """<!doctype html><html><head><title>Hostile page</title></head><body>
<h1>Hostile</h1><pre id="results">running</pre>
<img id="live-img" src="{live}/img-in-markup.png">
<script>
var r = {{}};
function finish(key, value) {{ r[key] = value; document.getElementById("results").textContent =
  JSON.stringify(r); }}
try {{ finish("cookie", "READ:" + document.cookie); }}
catch (e) {{ finish("cookie", "blocked:" + e.name); }}
try {{ finish("storage", "READ:" + localStorage.getItem("ui-secret")); }}
catch (e) {{ finish("storage", "blocked:" + e.name); }}
try {{ finish("top", "READ:" + top.location.href); }}
catch (e) {{ finish("top", "blocked:" + e.name); }}
try {{ top.location.href = "{live}/navigated-top"; finish("topnav", "tried"); }}
catch (e) {{ finish("topnav", "blocked:" + e.name); }}
fetch("{ui}/api/deletions").then(function (x) {{ return x.text(); }}).then(
  function (t) {{ finish("api", "READ:" + t.length); }},
  function (e) {{ finish("api", "blocked:" + e.name); }});
fetch("{live}/fetched").then(function () {{ finish("live", "REACHED"); }},
  function (e) {{ finish("live", "blocked:" + e.name); }});
try {{
  var ws = new WebSocket("{live}".replace(/^http/, "ws") + "/socket");
  ws.onopen = function () {{ finish("ws", "REACHED"); }};
  ws.onerror = function () {{ finish("ws", "blocked:error"); }};
}} catch (e) {{ finish("ws", "blocked:" + e.name); }}
var img = new Image(); img.onload = function () {{ finish("liveimg", "REACHED"); }};
img.onerror = function () {{ finish("liveimg", "blocked"); }}; img.src = "{live}/scripted.png";
try {{
  if (!navigator.serviceWorker) {{ finish("sw", "blocked:unavailable"); }}
  else navigator.serviceWorker.register("/sw.js").then(
    function () {{ finish("sw", "REGISTERED"); }},
    function (e) {{ finish("sw", "blocked:" + e.name); }});
}} catch (e) {{ finish("sw", "blocked:" + e.name); }}
</script></body></html>"""
# what a hostile site sends with its page: none of it may reach the browser from replay
HOSTILE_HEADERS = [["Set-Cookie", "archived=1; Path=/"], ["Set-Cookie", "second=2; Path=/"],
                   ["Content-Security-Policy", "default-src *; script-src * 'unsafe-inline'"],
                   ["Strict-Transport-Security", "max-age=31536000; includeSubDomains"],
                   ["X-Frame-Options", "DENY"], ["Refresh", "0; url=http://example.org/"],
                   ["Link", "<http://example.org/evil.css>; rel=stylesheet"]]
RUNAWAY = """<!doctype html><html><head><title>Runaway page</title></head><body>
<p>This page sends its frame to the live web.</p>
<script>setTimeout(function () {{ location.href = "{live}/navigated-frame"; }}, 100);</script>
</body></html>"""
PAGES = {"article": "/news/article.html", "edited": "/news/edited.html",
         "gone": "/news/gone.html", "moved": "/news/moved.html",
         "hostile": "/news/hostile.html", "runaway": "/news/runaway.html"}


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """Debian's Chromium (or $MEMORYHOLE_CHROMIUM); a clear failure, not a skip, without it."""
    import pytest

    found = os.environ.get("MEMORYHOLE_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is missing: apt-get install -y chromium (or set "
                    "MEMORYHOLE_CHROMIUM to its path); .ci/run installs it")
    return found


def shot(page: Any, name: str) -> None:
    """A full-page screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@dataclass
class WebHome:
    home: Path
    site: ScriptServer
    live: ScriptServer
    ui_port: int
    replay_port: int
    urls: dict[str, str] = field(default_factory=dict)


def _binary(data: bytes, content_type: str) -> dict[str, Any]:
    return {"status": 200, "body": data.decode("latin-1"), "encoding": "latin-1",
            "content_type": content_type}


def build_web_home(home: Path, site: ScriptServer, live: ScriptServer) -> WebHome:
    """Crawl, edit, delete and re-check: a home with captures, a diff and two deletions."""
    ui_port, replay_port = free_port(), free_port()
    web = WebHome(home, site, live, ui_port, replay_port,
                  {name: site.url(path) for name, path in PAGES.items()})
    write_config(home, obey_robots=False, timeout=5)
    with open(home / "memoryhole.toml", "a", encoding="utf-8") as handle:
        handle.write('[recheck]\nconfirm_after = "0s"\n'
                     f'[serve]\nbase_url = "http://127.0.0.1:{ui_port}"\n')
    live_base = live.url("").rstrip("/")
    site.script(PAGES["article"], [{"status": 200, "body": ARTICLE}])
    site.script("/static/site.css", [{"status": 200, "body": CSS, "content_type": "text/css"}])
    site.script("/img/photo.png", [_binary(PNG_RED, "image/png")])
    site.script("/img/bg.png", [_binary(PNG_RED, "image/png")])
    site.script(PAGES["edited"], [{"status": 200, "body": EDITED.format(changed=EDITED_BEFORE)}])
    site.script(PAGES["gone"], [{"status": 200, "body": GONE}])
    site.script(PAGES["moved"], [{"status": 200, "body": MOVED}])
    site.script(PAGES["hostile"], [{"status": 200, "headers": HOSTILE_HEADERS,
                                    "body": HOSTILE.format(live=live_base,
                                                           ui=f"http://127.0.0.1:{ui_port}")}])
    site.script(PAGES["runaway"], [{"status": 200, "body": RUNAWAY.format(live=live_base)}])
    seeds = home / "seeds.toml"
    seeds.write_text('[[source]]\nname = "site"\nkind = "page"\nurls = [' + ", ".join(
        json.dumps(url) for url in web.urls.values()) + "]\n", encoding="utf-8")
    run_cli(home, "crawl", "--seeds", str(seeds))
    site.script(PAGES["edited"], [{"status": 200, "body": EDITED.format(changed=EDITED_AFTER)}])
    run_cli(home, "crawl", "--seeds", str(seeds))
    site.script(PAGES["gone"], [{"status": 404, "body": "<h1>Not Found</h1>"}])
    site.script(PAGES["moved"], [{"status": 302, "headers": [["Location", "/"]], "body": ""}])
    # replay tools find a capture by its 14-digit timestamp: the last good capture and the
    # tombstone must not fall in the same second (a fast machine did that once)
    time.sleep(1.1)
    run_cli(home, "recheck", "--all")
    second = run_cli(home, "recheck", "--all")
    assert "deletions confirmed 2" in second.output, second.output
    return web


class ServeProcess:
    """``memoryhole --home HOME serve`` in its own process; stopped with SIGTERM."""

    def __init__(self, home: Path, ui_port: int = 0, replay_port: int = 0,
                 host: str = "127.0.0.1") -> None:
        self.home = home
        self.argv = [sys.executable, "-c", "from cli import main; main()", "--home", str(home),
                     "serve", "--host", host, "--port", str(ui_port),
                     "--replay-port", str(replay_port)]
        self.process: subprocess.Popen[str] | None = None
        self.ui = self.replay = ""
        self.banner = ""

    def __enter__(self) -> ServeProcess:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(self.argv, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            match = re.search(r"UI: (http://\S+?)/ +\(replay server: (http://\S+?)/\)", line)
            if match:
                self.ui, self.replay, self.banner = match.group(1), match.group(2), line
                return self
        self.__exit__()
        raise RuntimeError(f"serve did not start: {line!r} {self.stderr()}")

    def stderr(self) -> str:
        if self.process is None or self.process.poll() is None:
            return ""
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode
