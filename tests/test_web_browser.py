"""The web UI and replay in real headless Chromium (Debian's ``chromium`` driven by Playwright,
no browser download): the log and its filter, the diff view, an archived article replayed with
its image and stylesheet while no request leaves the two local origins, and a hostile archived
page that gets none of what it tries. Screenshots go to tests/artifacts/ (or
$MEMORYHOLE_TEST_ARTIFACTS)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from tests.support import webhome as wh

HOSTILE_KEYS = ["cookie", "storage", "top", "topnav", "api", "live", "liveimg", "ws", "sw"]


def shot(page: Any, name: str) -> None:
    wh.shot(page, f"web-{name}")


def test_log_filter_and_diff_view(web: wh.WebHome, served: wh.ServeProcess, browser: Any) -> None:
    page = browser.new_page()
    page.goto(served.ui + "/")
    assert page.locator("table.log tbody tr").count() == 2
    assert page.locator("table.log").inner_text().count("127.0.0.1") >= 2
    assert wh.GONE_TITLE in page.locator("table.log").inner_text()    # shown as text
    shot(page, "deletion-log")
    page.select_option("select[name=reason]", "gone")
    page.click("form.filters button")
    page.wait_for_url(re.compile(r"reason=gone"))
    rows = page.locator("table.log tbody tr")
    assert rows.count() == 1 and web.urls["gone"] in rows.inner_text()
    shot(page, "deletion-log-filtered")
    page.goto(served.ui + "/url?" + urlencode({"u": web.urls["edited"]}))
    page.click("form.diff-form button")
    page.wait_for_url(re.compile(r"/diff\?"))
    table = page.locator("table.diff").inner_text().replace("\xa0", " ")
    assert wh.EDITED_BEFORE in table and wh.EDITED_AFTER in table
    shot(page, "diff")
    page.close()


def test_replay_shows_the_article_with_its_image_and_stylesheet_and_nothing_leaves(
        web: wh.WebHome, served: wh.ServeProcess, browser: Any) -> None:
    context = browser.new_context()
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    site_hits, live_hits = web.site.hits(), web.live.hits()
    page.goto(served.ui + f"/replay/main/2030/{web.urls['article']}")
    frame = page.frame_locator("iframe.replay-frame")
    headline = frame.locator("#headline")
    headline.wait_for()
    assert headline.inner_text() == wh.ARTICLE_TITLE
    assert headline.evaluate("e => getComputedStyle(e).color") == "rgb(200, 0, 0)"   # the CSS
    photo = frame.locator("#photo")
    photo.evaluate("img => img.complete || new Promise(ok => img.onload = ok)")
    assert photo.evaluate("img => img.naturalWidth") == 16                         # the image
    assert "timeline" in page.locator("header.banner").inner_text()
    shot(page, "replay-article")
    page.close()
    context.close()
    outside = [url for url in requests if not url.startswith((served.ui + "/", served.replay + "/"))
               and not url.startswith(("data:", "about:"))]
    assert outside == [], outside
    assert any(url.startswith(served.replay + "/") and url.endswith("/img/photo.png")
               for url in requests)
    assert web.site.hits() == site_hits and web.live.hits() == live_hits


def test_a_hostile_archived_page_achieves_nothing(web: wh.WebHome, served: wh.ServeProcess,
                                                 browser: Any) -> None:
    context = browser.new_context()
    context.add_cookies([{"name": "ui-secret", "value": "s3cret", "url": served.ui}])
    requests: list[str] = []
    refused: dict[str, str] = {}
    context.on("request", lambda request: requests.append(request.url))
    context.on("requestfailed", lambda request: refused.update({request.url: request.failure}))
    page = context.new_page()
    page.goto(served.ui + "/")
    page.evaluate("localStorage.setItem('ui-secret', 's3cret')")
    live_hits = web.live.hits()
    frame_page = served.ui + f"/replay/main/2030/{web.urls['hostile']}"
    page.goto(frame_page)
    frame = next(f for f in _wait_frames(page, served.replay))
    frame.wait_for_function(
        "keys => { try { const r = JSON.parse(document.getElementById('results').textContent);"
        " return keys.every(k => k in r); } catch (e) { return false; } }",
        arg=HOSTILE_KEYS, timeout=15000)
    results = json.loads(frame.inner_text("#results"))
    shot(page, "replay-hostile")
    # the evidence that no top navigation is under way: setting top.location threw at once
    # (results["topnav"] is "blocked:SecurityError" below), so none was started
    assert page.url.startswith(served.ui + "/replay/main/"), page.url
    for key in HOSTILE_KEYS:
        assert results[key].startswith("blocked"), (key, results)
    assert "s3cret" not in json.dumps(results)
    assert context.service_workers == []
    # the archived Set-Cookie headers set nothing; its X-Frame-Options: DENY did not act
    assert {c["name"] for c in context.cookies()} == {"ui-secret"}
    assert web.live.hits() == live_hits
    # the browser saw the script ask for the live web, and refused before sending anything
    asked = [url for url in requests if url.startswith(web.live.url("").rstrip("/"))]
    assert all(re.search(r"csp", refused.get(url) or "", re.I) for url in asked), (asked, refused)
    assert not [url for url in requests if "/api/deletions" in url and url.startswith(served.ui)
                and "frame" not in url]
    context.close()


def test_an_archived_page_cannot_navigate_its_frame_to_the_live_web(
        web: wh.WebHome, served: wh.ServeProcess, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    live_hits = web.live.hits()
    # the evidence: the browser refuses the frame's navigation to the live web (the UI's
    # frame-src) and says so, instead of a fixed wait for it
    with page.expect_console_message(lambda message: "frame-src" in message.text and
                                     "blocked" in message.text, timeout=15000) as refused:
        page.goto(served.ui + f"/replay/main/2030/{web.urls['runaway']}")
        frame = next(f for f in _wait_frames(page, served.replay))
        frame.wait_for_load_state()
    assert web.live.url("").rstrip("/") in refused.value.text
    shot(page, "replay-runaway")
    # the UI's frame-src refused it: nothing reached the live server, the frame shows no page
    assert web.live.hits() == live_hits
    assert page.url.startswith(served.ui + "/replay/main/")
    context.close()


def _wait_frames(page: Any, origin: str) -> Iterator[Any]:
    for _ in range(100):
        for frame in page.frames:
            if frame.url.startswith(origin + "/"):
                yield frame
                return
        page.wait_for_timeout(100)
    raise AssertionError(f"no frame from {origin}: {[f.url for f in page.frames]}")
