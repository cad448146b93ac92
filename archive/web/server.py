"""``memoryhole serve``: the web UI and the replay server, two origins in one process.

Both listen on the same host, on two ports (the replay server's is the UI's + 1 unless given):
archived pages never run in the UI's origin. Port 0 picks a free port (tests); the addresses
are known once the sockets are bound, before any page is made, because the UI's and the replay
server's security headers name each other's origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from archive.catalogue.db import connect
from archive.catalogue.search import SEARCH_CATCH_UP, pending, refresh_text_index
from archive.home import Home
from archive.jobs import CONTROL
from archive.web.replay import make_replay_app
from archive.web.ui import make_ui_app


@dataclass(frozen=True)
class Addresses:
    host: str
    ui_port: int
    replay_port: int

    def origin(self, port: int) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        host = "[::1]" if host in ("::", "::1") else host
        return f"http://{host}:{port}"

    @property
    def ui_origin(self) -> str:
        return self.origin(self.ui_port)

    @property
    def replay_origin(self) -> str:
        return self.origin(self.replay_port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                      f"pick another with --port / --replay-port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to :func:`serve` (two servers share them)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def index_for_search(home: Home, on_progress: Callable[[str], None] | None = None) -> int:
    """Index every capture the writers queued for text search (archive.catalogue.search), telling
    ``on_progress`` how it goes when there are many; returns how many were indexed."""
    db = connect(home.db_path)
    try:
        waiting = pending(db)
        if waiting == 0:
            return 0
        if on_progress is not None and waiting > SEARCH_CATCH_UP:
            on_progress(f"indexing {waiting} captures for text search…")
        step = max(waiting // 10, 1)
        shown = [0]

        def progress(done: int, total: int) -> None:
            if on_progress is not None and waiting > SEARCH_CATCH_UP and \
                    (done - shown[0] >= step or done == total):
                shown[0] = done
                on_progress(f"text index: {done}/{total}")

        return refresh_text_index(db, progress=progress)
    except sqlite3.Error as exc:          # a busy or broken catalogue must not stop serving
        if on_progress is not None:
            on_progress(f"text index not updated: {exc}")
        return 0
    finally:
        db.conn.close()


def serve(home: Home, host: str = "127.0.0.1", port: int = 8765,
          replay_port: int | None = None,
          on_ready: Callable[[Addresses], None] | None = None,
          on_progress: Callable[[str], None] | None = None,
          control_name: str = CONTROL, cluster: tuple[str, str] | None = None) -> None:
    """Serve until SIGINT or SIGTERM; the text index catches up in the background.
    ``control_name`` is the control's vantage in check rows (the config's); ``cluster`` the
    config's Redis URL and home id, for the workers page (None: no cluster)."""
    ui_sock = _bind(host, port)
    try:
        replay_sock = _bind(host, replay_port if replay_port is not None else
                            (ui_sock.getsockname()[1] + 1 if port else 0))
    except OSError:
        ui_sock.close()
        raise
    addresses = Addresses(host, ui_sock.getsockname()[1], replay_sock.getsockname()[1])
    # a page of another site whose name resolves to 127.0.0.1 (DNS rebinding) gets nothing
    allowed = ["127.0.0.1", "localhost", "::1", "[::1]"] if is_loopback(host) else None
    ui_app = make_ui_app(home, ui_origin=addresses.ui_origin,
                         replay_origin=addresses.replay_origin, allowed_hosts=allowed,
                         control_name=control_name, cluster=cluster)
    replay_app = make_replay_app(home, replay_origin=addresses.replay_origin,
                                 ui_origin=addresses.ui_origin, allowed_hosts=allowed)
    indexer = threading.Thread(target=index_for_search, args=(home, on_progress),
                               name="memoryhole-text-index", daemon=True)
    servers = [_Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                      server_header=False, access_log=False))
               for app in (ui_app, replay_app)]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stop, servers)
        if on_ready is not None:
            loop.call_soon(on_ready, addresses)
        loop.call_soon(indexer.start)
        await asyncio.gather(servers[0].serve(sockets=[ui_sock]),
                             servers[1].serve(sockets=[replay_sock]))

    try:
        asyncio.run(run())
    finally:
        ui_sock.close()
        replay_sock.close()


def _stop(servers: list[Any]) -> None:
    for server in servers:
        server.should_exit = True
