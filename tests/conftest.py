"""Shared pytest fixtures: local test servers on 127.0.0.1 and a scratch home folder.

Tests talk only to servers they start themselves (see ``tests/support/mockserver.py``), never to a
live URL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.support.mockserver import MockServer
    from tests.support.scriptserver import ScriptServer
    from tests.support.tls import TlsFiles
    from tests.support.webhome import ServeProcess, WebHome

REPO_ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """Make ``tests.*`` and ``demosite`` importable under a bare ``pytest`` too (``python -m
    pytest`` already has the repository on ``sys.path``)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def mockserver() -> Iterator[MockServer]:
    """One mock server for the whole session. Shared: a test that changes page versions
    must undo it (``mockserver.reset()``) or use ``fresh_mockserver`` instead."""
    from tests.support.mockserver import MockServer

    with MockServer() as server:
        yield server


@pytest.fixture
def fresh_mockserver() -> Iterator[MockServer]:
    """A mock server of this test's own (versions at 0, hit counts at 0)."""
    from tests.support.mockserver import MockServer

    with MockServer() as server:
        yield server


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    """A scripted server of this test's own (tests/support/scriptserver.py): each path answers what
    the test scripts for it."""
    from tests.support.scriptserver import ScriptServer

    with ScriptServer() as scripted:
        yield scripted


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A test CA (give it as ``[crawl] ca_file``) and its certificate for 127.0.0.1."""
    from tests.support.tls import make_tls_files

    return make_tls_files(tmp_path_factory.mktemp("tls"), "trusted")


@pytest.fixture(scope="session")
def forged_tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A certificate for the same names from a CA nothing trusts (an interception's)."""
    from tests.support.tls import make_tls_files

    return make_tls_files(tmp_path_factory.mktemp("forged"), "forger")


@pytest.fixture
def https_server(tls: TlsFiles) -> Iterator[ScriptServer]:
    """A scripted server of this test's own speaking HTTPS with the test CA's certificate."""
    from tests.support.scriptserver import ScriptServer

    with ScriptServer(tls=tls) as scripted:
        yield scripted


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    """A memoryhole home folder path for this test (not created)."""
    return tmp_path / "home"


@pytest.fixture(scope="session")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHome]:
    """The web UI tests' home (tests/support/webhome.py), built once: crawled, edited,
    re-checked until two deletions are confirmed. Tests read it; one that changes it works on a
    copy."""
    from tests.support.scriptserver import ScriptServer
    from tests.support.webhome import build_web_home

    with ScriptServer() as site, ScriptServer() as live:
        yield build_web_home(tmp_path_factory.mktemp("web") / "home", site, live)


@pytest.fixture(scope="session")
def served(web: WebHome) -> Iterator[ServeProcess]:
    """``memoryhole serve`` on the web home, in its own process, for the whole session."""
    from tests.support.webhome import ServeProcess

    with ServeProcess(web.home, web.ui_port, web.replay_port) as process:
        yield process
    assert process.returncode == 0, process.stderr()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    from tests.support.webhome import CHROMIUM_ARGS, chromium_path

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()
