"""Build (once) and locate the separate virtualenv that holds pywb, for replay tests.

pywb must not share a venv with Scrapy: it installs ``brotlipy``, whose ``brotli`` module
shadows Google's ``brotli`` and breaks Scrapy's br decoding (NOTES.md "WARC"). So tests get
pywb from ``<repo>/.venv-pywb``, created on demand with ``python -m venv`` and ``pip install``
from the package registry, and reused while it works (a marker file is written last, so a
half-built venv is rebuilt). A file lock keeps two test processes from building it at once.

    python -m tests.support.pywb_env        # build it now and print where it is
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

PYWB_REQUIREMENT = "pywb==2.10.0"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VENV = REPO_ROOT / ".venv-pywb"
MARKER = ".memoryhole-pywb-ok"


class PywbUnavailable(RuntimeError):
    """The pywb venv could not be built (registry refused, build failed)."""


def _works(venv: Path) -> bool:
    marker = venv / MARKER
    if not marker.exists() or not (venv / "bin" / "wayback").exists():
        return False
    if marker.read_text(encoding="utf-8").strip() != PYWB_REQUIREMENT:
        return False
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import pywb.apps.cli"],
                           capture_output=True, timeout=120)
    return probe.returncode == 0


def ensure_pywb_venv(venv: Path = DEFAULT_VENV) -> Path:
    """The venv's ``bin`` folder, building the venv first if it is missing or broken."""
    venv = Path(venv).absolute()
    venv.parent.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(str(venv).encode()).hexdigest()[:12]
    with open(Path(tempfile.gettempdir()) / f"memoryhole-{venv.name}-{key}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _works(venv):
            return venv / "bin"
        started = time.monotonic()
        if venv.exists():
            shutil.rmtree(venv)
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             PYWB_REQUIREMENT],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=900,
                                  env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
                raise PywbUnavailable(
                    f"building the pywb venv failed: {' '.join(step)} exited "
                    f"{done.returncode}:\n{tail}\nfix the cause, then run: "
                    f"rm -rf {venv} && python -m tests.support.pywb_env")
        if not (venv / "bin" / "wayback").exists():
            raise PywbUnavailable(f"{PYWB_REQUIREMENT} installed no wayback script in {venv}")
        (venv / MARKER).write_text(PYWB_REQUIREMENT + "\n", encoding="utf-8")
        log.warning("built %s in %.1f s", venv, time.monotonic() - started)
        return venv / "bin"


if __name__ == "__main__":
    t0 = time.monotonic()
    print(ensure_pywb_venv(), f"({time.monotonic() - t0:.1f} s)")
