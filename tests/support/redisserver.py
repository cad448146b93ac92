"""A real ``redis-server`` (Debian's) for the cluster tests: 127.0.0.1, a free port, no
persistence unless asked (``appendonly=True``: an append-only file synced at every write, so a
:meth:`RedisServer.restart` after SIGKILL loses nothing), killed at teardown; and ``memoryhole
worker`` processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from tests.support.helpers import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    def __init__(self, folder: Path, *, password: str | None = None,
                 appendonly: bool = False) -> None:
        self.folder = folder
        self.port = free_port()
        self.password = password
        self.command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                        "--save", "", "--dir", str(folder)]
        self.command += ["--appendonly", "yes", "--appendfsync", "always"] if appendonly \
            else ["--appendonly", "no"]
        if password:
            self.command += ["--requirepass", password]
        self._start()

    def _start(self) -> None:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return
            except redis.ConnectionError:       # BusyLoadingError too: loading its file
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def flush(self) -> None:
        self.client().flushall()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """SIGKILL (a crash), then the same server again on the same port and folder: with
        ``appendonly`` it loads its append-only file first."""
        self.stop()
        self._start()


class Worker:
    """``memoryhole --home HOME worker --name NAME`` in a process of its own."""

    def __init__(self, home: Path, name: str) -> None:
        self.home, self.name = home, name
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import cli; cli.main()", "--home", str(home), "worker",
             "--name", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True)

    @property
    def log(self) -> Path:
        return self.home / "logs" / f"worker-{self.name}.log"

    def kill(self) -> None:
        """SIGKILL, the worker and its crawl process (a power cut)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM to its process group (the crawl closes its WARC); its exit status."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


def wait_for(predicate, timeout: float = 30, what: str = "a condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def redis_for_tests(folder: Path, **options: Any) -> Iterator[RedisServer]:
    """A RedisServer (``options``: RedisServer's) for the length of a ``with`` block."""
    server = RedisServer(folder, **options)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def worker_pool(server: RedisServer) -> Iterator[list[Worker]]:
    """An emptied Redis and a list for the test's workers, each killed at the end."""
    server.flush()
    workers: list[Worker] = []
    try:
        yield workers
    finally:
        for worker in workers:
            worker.kill()
