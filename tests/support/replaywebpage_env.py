"""Fetch (once) ReplayWeb.page, the static web app that replays WACZ files in the browser, for
the test that opens memoryhole's exports in it.

It comes from the npm registry (``npm pack replaywebpage@VERSION``, the package the project
publishes, with its built ``index.html``, ``ui.js`` and service worker ``sw.js``) into
``<repo>/.cache/replaywebpage-VERSION``, reused while its marker is there. A file lock keeps two
test processes from fetching it at once. Nothing of it runs in Python: the tests serve the
folder on 127.0.0.1 and open it in Chromium.

    python -m tests.support.replaywebpage_env      # fetch it now and print where it is
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

VERSION = "2.5.3"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO_ROOT / ".cache" / f"replaywebpage-{VERSION}"
MARKER = ".memoryhole-ok"


class ReplayWebPageUnavailable(RuntimeError):
    """npm is missing or the registry refused the package."""


def ensure_replaywebpage(dest: Path = DEFAULT_DIR) -> Path:
    """The folder holding ReplayWeb.page's ``index.html``, ``ui.js`` and ``sw.js``."""
    dest = Path(dest).absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest.parent / f".{dest.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        app = dest / "package"
        if (dest / MARKER).exists() and (app / "sw.js").exists():
            return app
        npm = shutil.which("npm")
        if npm is None:
            raise ReplayWebPageUnavailable(
                "npm is missing: apt-get install -y npm (.ci/run installs it)")
        if dest.exists():
            shutil.rmtree(dest)
        with tempfile.TemporaryDirectory() as tmp:
            done = subprocess.run([npm, "pack", f"replaywebpage@{VERSION}", "--silent"],
                                  cwd=tmp, capture_output=True, text=True, timeout=600)
            tarballs = list(Path(tmp).glob("replaywebpage-*.tgz"))
            if done.returncode != 0 or not tarballs:
                raise ReplayWebPageUnavailable(
                    f"npm pack replaywebpage@{VERSION} failed ({done.returncode}): "
                    f"{(done.stderr or done.stdout).strip()[-1500:]}")
            with tarfile.open(tarballs[0]) as archive:
                archive.extractall(dest, filter="data")
        for name in ("index.html", "ui.js", "sw.js"):
            if not (app / name).exists():
                raise ReplayWebPageUnavailable(f"replaywebpage@{VERSION} has no {name}")
        (dest / MARKER).write_text(VERSION + "\n", encoding="utf-8")
        return app


if __name__ == "__main__":
    t0 = time.monotonic()
    print(ensure_replaywebpage(), f"({time.monotonic() - t0:.1f} s)")
