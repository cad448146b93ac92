"""archive.procexit: the worker processes' exit keeps what they printed and logged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_exit_at_once_flushes_logs_and_output(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    code = ("import logging, sys\n"
            "from archive.procexit import exit_at_once\n"
            f"logging.basicConfig(filename={str(log)!r}, level=logging.INFO)\n"
            "logging.info('last line of the run')\n"
            "sys.stdout.write('progress')\n"
            "sys.stderr.write('a warning')\n"
            "exit_at_once(3)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # buffered output
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=env)
    assert done.returncode == 3
    assert (done.stdout, done.stderr) == ("progress", "a warning")
    assert "last line of the run" in log.read_text()
