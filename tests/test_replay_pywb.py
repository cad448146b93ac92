"""pywb replays a home written by archive.warc.writer + archive.warc.cdxj, as it is (DESIGN.md
"Storage").

pywb runs from its own venv (tests/support/pywb_env.py builds ``.venv-pywb`` once, about
20 s); if it cannot be installed the test fails with pip's message, it does not skip.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from archive.home import Home
from archive.integrity.check import check_home
from archive.timeutil import timestamp14
from archive.warc.cdxj import cdxj_lines, merge_into_index
from archive.warc.records import WrittenRecord
from tests.support.helpers import free_port
from tests.support.pywb_env import ensure_pywb_venv
from tests.test_warc_writer import page, write_sample

COLL = "evidence"


@pytest.fixture
def replay(tmp_path: Path) -> Iterator[tuple[str, list[WrittenRecord], Home]]:
    bin_dir = ensure_pywb_venv()
    home = Home(tmp_path / "home")
    home.ensure(COLL)
    written, _ = write_sample(home.archive_dir(COLL))
    merge_into_index(home.index_path(COLL), cdxj_lines(written))
    port = free_port()
    log = open(tmp_path / "wayback.log", "wb")
    proc = subprocess.Popen([str(bin_dir / "wayback"), "-b", "127.0.0.1", "-p", str(port)],
                            cwd=home.root, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"wayback exited {proc.returncode}: "
                            f"{(tmp_path / 'wayback.log').read_text(errors='replace')}")
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("wayback did not answer within 60 s")
                time.sleep(0.2)
        yield base, written, home
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def fetch(base: str, rec: WrittenRecord) -> tuple[int, object, bytes]:
    url = f"{base}/{COLL}/{timestamp14(rec.date)}id_/{rec.url}"
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.mark.timeout(600)
def test_pywb_replays_responses_encoded_bodies_and_revisits(replay: tuple) -> None:
    started = time.monotonic()
    base, written, home = replay
    assert check_home(home, None).ok
    plain_gzip, br_json, not_found, revisit = written[0], written[2], written[4], written[10]
    assert revisit.record_type == "revisit"

    status, headers, body = fetch(base, plain_gzip)
    assert status == 200 and body == page(1)   # pywb decodes the stored gzip bytes
    assert headers["X-Archive-Orig-Content-Encoding"] == "gzip"
    assert headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]

    status, headers, body = fetch(base, br_json)
    assert status == 200 and headers["X-Archive-Orig-Content-Encoding"] == "br"
    assert body == b'{"items": [1, 2, 3]}' * 50

    status, _, body = fetch(base, not_found)
    assert status == 404 and body == b"<h1>Not here</h1>"

    status, headers, body = fetch(base, revisit)  # the revisit resolves to the original payload
    assert status == 200 and body == page(1)
    assert headers["Memento-Datetime"] == "Sun, 22 Nov 2026 05:00:00 GMT"
    assert time.monotonic() - started < 60
