"""ReplayWeb.page itself (tests.support.replaywebpage_env: the published web app, from the npm
registry) opens memoryhole's WACZ exports in headless Chromium: it lists their pages and
replays the archived article with its stylesheet and image, and the evidence bundle's last good
capture. Everything is served from 127.0.0.1 (tests.support.rangeserver, with the Range requests the
app reads a WACZ with)."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import webhome as wh
from tests.support.helpers import run_cli
from tests.support.rangeserver import serve_folder
from tests.support.replaywebpage_env import ensure_replaywebpage
from tests.support.webhome import shot


@pytest.fixture(scope="module")
def served_app(web: wh.WebHome, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[str, wh.WebHome, Path]]:
    app = ensure_replaywebpage()
    folder = tmp_path_factory.mktemp("rwp") / "site"
    shutil.copytree(app, folder)
    run_cli(web.home, "export", "wacz", str(folder / "all.wacz"))
    run_cli(web.home, "export", "evidence", web.urls["gone"], str(folder / "evidence.wacz"))
    with serve_folder(folder) as base:
        yield base, web, folder


def test_replaywebpage_lists_and_replays_the_whole_home_export(
        served_app: tuple[str, wh.WebHome, Path], browser: Any) -> None:
    base, web, folder = served_app
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/?source={base}/all.wacz#view=pages")
    # the page list sits in a shadow root Playwright's text search does not enter; its footer
    # counts the pages it read from pages/pages.jsonl
    pages = len(zipfile.ZipFile(folder / "all.wacz").read("pages/pages.jsonl").splitlines()) - 1
    page.get_by_text(f"{pages} pages", exact=True).wait_for(timeout=30000)
    shot(page, "web-replaywebpage-pages")
    page.goto(f"{base}/?source={base}/all.wacz#view=replay&url={web.urls['article']}")
    frame = page.frame_locator("iframe").first
    headline = frame.locator("#headline")
    headline.wait_for(timeout=30000)
    assert headline.inner_text() == wh.ARTICLE_TITLE
    assert headline.evaluate("e => getComputedStyle(e).color") == "rgb(200, 0, 0)"
    photo = frame.locator("#photo")
    photo.evaluate("img => img.complete || new Promise(ok => img.onload = ok)")
    assert photo.evaluate("img => img.naturalWidth") == 16
    shot(page, "web-replaywebpage-article")
    context.close()


def test_replaywebpage_opens_the_evidence_bundle(served_app: tuple[str, wh.WebHome, Path],
                                                 browser: Any) -> None:
    base, web, _ = served_app
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/?source={base}/evidence.wacz#view=replay&url={web.urls['gone']}"
              "&ts=20000101000000")          # the earliest capture: the last good one
    frame = page.frame_locator("iframe").first
    text = frame.locator("article")
    text.wait_for(timeout=30000)
    assert "border talks" in text.inner_text()
    shot(page, "web-replaywebpage-evidence")
    context.close()
