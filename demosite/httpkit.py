"""A small standard-library HTTP kit shared by the demo site and the tests' mock server.

- :class:`QuietServer`: a threaded server on 127.0.0.1 whose connection errors are logged at
  debug level instead of printed.
- :class:`RawHandler`: a handler base that writes status line and headers as raw bytes, so
  duplicate headers, chunked framing and early closes are under the subclass's control.
- :func:`serve_main`: print the base URL as the only stdout line, then serve until killed.
- :class:`ServerProcess`: run such a server module as a subprocess in a ``with`` block.
"""

from __future__ import annotations

import json
import logging
import os
import select
import ssl
import subprocess
import sys
from collections.abc import Sequence
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener

logger = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
JSON = "application/json"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class QuietServer(ThreadingHTTPServer):
    """A threaded HTTP server that knows its base URL and never prints tracebacks."""

    daemon_threads = True

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        level = logging.DEBUG if isinstance(exc, OSError) else logging.ERROR
        logger.log(level, "error serving %s", client_address, exc_info=True)


class RawHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 handler base: subclasses implement :meth:`route` and answer via ``send_*``."""

    protocol_version = "HTTP/1.1"
    server_version = "memoryhole-testserver"
    timeout = 120

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (stdlib signature)
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self.dispatch()

    def do_HEAD(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def route(self, path: str, query: dict[str, str]) -> None:
        raise NotImplementedError

    def dispatch(self) -> None:
        """Split the target, call :meth:`route`; a failing route answers 500, never crashes."""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            self.route(parts.path, query)
        except OSError:
            self.close_connection = True
            logger.debug("client went away during %s", self.path, exc_info=True)
        except ValueError as exc:  # a malformed parameter: the client's fault
            logger.warning("bad request %s: %s", self.path, exc)
            self.close_connection = True
            try:
                self.send_raw(400, b"<html><body><h1>400 bad request</h1></body></html>")
            except OSError:
                pass
        except Exception:
            logger.exception("handler failed for %s", self.path)
            self.close_connection = True
            try:
                self.send_raw(500, b"<html><body><h1>500 server error</h1></body></html>")
            except OSError:
                pass

    def read_json(self) -> Any:
        """The request body decoded as JSON (``{}`` when empty)."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        return json.loads(raw or b"{}")

    def send_head(self, status: int, headers: Sequence[tuple[str, str]]) -> None:
        """Write the status line and exactly these headers (plus Date and Server)."""
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}", f"Date: {formatdate(usegmt=True)}",
                 f"Server: {self.server_version}", *(f"{k}: {v}" for k, v in headers)]
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace"))

    def send_raw(self, status: int, body: bytes = b"", headers: Sequence[tuple[str, str]] = (),
                 ctype: str | None = HTML) -> None:
        """A complete response with Content-Type (unless None) and Content-Length."""
        head = [("Content-Type", ctype)] if ctype else []
        head += [*headers, ("Content-Length", str(len(body)))]
        self.send_head(status, head)
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, data: Any, status: int = 200) -> None:
        self.send_raw(status, json.dumps(data, ensure_ascii=False).encode(), ctype=JSON)


def serve_main(server: QuietServer, name: str) -> None:
    """Print the server's base URL as the one stdout line, then serve until killed."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"{name} %(levelname)s %(name)s: %(message)s")
    print(server.base, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def read_url_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first stdout line of a server subprocess (its base URL); kills it if none comes."""
    if proc.stdout is None:
        raise ValueError("the process needs stdout=PIPE")
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().decode(errors="replace").strip() if ready else ""
    if not line.startswith(("http://", "https://")):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"server did not start (exit code {proc.returncode}, said {line!r})")
    return line


class ServerProcess:
    """Runs ``python -m <module>`` for the length of a ``with`` block and talks to it."""

    module = ""
    root = PACKAGE_ROOT

    def __init__(self, timeout: float = 30.0, args: Sequence[str] = (),
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.timeout = timeout
        self.args = list(args)                         # for ``python -m <module>``
        self.base = ""
        self.proc: subprocess.Popen[bytes] | None = None
        # loopback: never through a proxy; an HTTPS server's own CA when it has one
        self._opener = build_opener(ProxyHandler({}), HTTPSHandler(context=ssl_context))

    def __enter__(self) -> Self:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.root), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen([sys.executable, "-m", self.module, *self.args],
                                     stdout=subprocess.PIPE, cwd=self.root, env=env)
        self.base = read_url_line(self.proc, self.timeout)
        logger.debug("%s started at %s (pid %s)", self.module, self.base, self.proc.pid)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Terminate the subprocess (kill it if it does not stop within 10 s)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def url(self, path: str) -> str:
        """An absolute URL on this server for a path (with or without the leading slash)."""
        return self.base + (path if path.startswith("/") else "/" + path)

    def request(self, path: str, data: Any = None) -> Any:
        """GET ``path`` (or POST ``data`` as JSON) and decode the JSON answer."""
        body = None if data is None else json.dumps(data).encode()
        req = Request(self.url(path), data=body, headers={"Content-Type": JSON})
        with self._opener.open(req, timeout=self.timeout) as resp:
            return json.loads(resp.read())
