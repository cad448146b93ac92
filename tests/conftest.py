"""Shared pytest fixtures: local test servers on 127.0.0.1 and a scratch home folder.

Tests talk only to servers they start themselves (see ``tests/mockserver.py``), never to a
live URL.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.mockserver import MockServer
    from tests.scriptserver import ScriptServer

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
    from tests.mockserver import MockServer

    with MockServer() as server:
        yield server


@pytest.fixture
def fresh_mockserver() -> Iterator[MockServer]:
    """A mock server of this test's own (versions at 0, hit counts at 0)."""
    from tests.mockserver import MockServer

    with MockServer() as server:
        yield server


@pytest.fixture
def server() -> Iterator[ScriptServer]:
    """A scripted server of this test's own (tests/scriptserver.py): each path answers what
    the test scripts for it."""
    from tests.scriptserver import ScriptServer

    with ScriptServer() as scripted:
        yield scripted


@pytest.fixture
def tmp_home(tmp_path: Path) -> Path:
    """A memoryhole home folder path for this test (not created)."""
    return tmp_path / "home"
