"""Proxies for the vantage tests, all on 127.0.0.1: Debian's ``tinyproxy`` (HTTP, with a
password) and ``microsocks`` (SOCKS5, with a password), and the censoring proxy of
tests.support.censor. Each runs for the length of a ``with`` block."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Self

import pytest

from demosite.httpkit import ServerProcess
from tests.support.helpers import free_port
from tests.support.tls import TlsFiles

USER, PASSWORD = "kzuser", "s3cret-proxy-pass"


def _binary(name: str, package: str) -> str:
    found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists()
                                   else None)
    if found is None:
        pytest.fail(f"{name} is missing: apt-get install -y {package} (.ci/run installs it)")
    return found


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the proxy exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


class _Process:
    command: list[str] = []

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def args(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.process)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Tinyproxy(_Process):
    """Debian's tinyproxy, asking for a password (BasicAuth)."""

    def args(self) -> list[str]:
        conf = self.folder / "tinyproxy.conf"
        conf.write_text(f"Port {self.port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\n"
                        f"Allow 127.0.0.1\nBasicAuth {USER} {PASSWORD}\nLogLevel Critical\n",
                        encoding="ascii")
        return [_binary("tinyproxy", "tinyproxy"), "-d", "-c", str(conf)]

    @property
    def url(self) -> str:
        return f"http://{USER}:{PASSWORD}@127.0.0.1:{self.port}"


class Microsocks(_Process):
    """Debian's microsocks, asking for a password, listening on 127.0.0.1 only."""

    def args(self) -> list[str]:
        return [_binary("microsocks", "microsocks"), "-i", "127.0.0.1", "-p", str(self.port),
                "-u", USER, "-P", PASSWORD]

    @property
    def url(self) -> str:
        return f"socks5://{USER}:{PASSWORD}@127.0.0.1:{self.port}"


class CensorProxy(ServerProcess):
    """tests.support.censor in a subprocess; :meth:`censor` sets what it does to a path (or a
    ``host:port`` tunnel)."""

    module = "tests.support.censor"
    root = Path(__file__).resolve().parents[2]

    def __init__(self, folder: Path, forged: TlsFiles | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.rules_path = folder / "censor-rules.json"
        self.rules: dict[str, str] = {}
        self.rules_path.write_text("{}", encoding="utf-8")
        args = [str(self.rules_path)]
        if forged is not None:
            args += ["--forged", str(forged.cert), str(forged.key)]
        super().__init__(args=args)

    def censor(self, key: str, action: str | None) -> None:
        if action is None:
            self.rules.pop(key, None)
        else:
            self.rules[key] = action
        self.rules_path.write_text(json.dumps(self.rules), encoding="utf-8")
