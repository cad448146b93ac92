"""A censoring HTTP proxy for the vantage tests: forwards what it is not told to censor.

``python -m tests.support.censor RULES.json`` listens on 127.0.0.1 port 0 and prints its URL.
The rules file (read again on every request) maps a path (plain http requests) or a
``host:port`` (CONNECT tunnels) to what to do instead of forwarding:

- ``block200``: a 200 block page; ``block451``: a 451 block page;
- ``notice``: a 200 page with a short notice no rule knows;
- ``redirect``: a 302 to the censor's own warning host (``BLOCK_HOST``);
- ``reset``: close the connection without an answer; ``hang``: say nothing for a minute;
- ``intercept`` (CONNECT): terminate TLS itself with the certificate of ``--forged CHAIN KEY``
  (an interception whose certificate does not verify).

Nothing is forwarded anywhere but 127.0.0.1: the censor's machine, whose DNS takes every name
ending in ``.test`` for it (the tests' "public" names, tests.support.fakedns).
"""

from __future__ import annotations

import json
import select
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

from demosite.httpkit import QuietServer, serve_main

BLOCK_PAGE = ("<html><head><title>Access restricted</title></head><body><h1>Access restricted"
              "</h1><p>This content is not available in your country.</p></body></html>")
BLOCK_HOST = "warning.censor.invalid"
NOTICE = ("<html><head><title>Notice</title></head><body><p>Please stand by.</p></body>"
          "</html>")


class CensorProxy(QuietServer):
    def __init__(self, rules: Path, forged: tuple[str, str] | None) -> None:
        super().__init__(("127.0.0.1", 0), CensorHandler)
        self.rules_path = rules
        self.forged = forged

    def rule(self, key: str) -> str | None:
        try:
            rules = json.loads(self.rules_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            rules = {}
        return rules.get(key)


class CensorHandler(BaseHTTPRequestHandler):
    server: CensorProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        return None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        action = self.server.rule(parts.path)
        if self._censor(action):
            return
        if not _here(parts.hostname or ""):
            return self._answer(502, "only 127.0.0.1 here")
        with socket.create_connection(("127.0.0.1", parts.port or 80), timeout=30) as up:
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            head = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
            head += [f"{k}: {v}" for k, v in self.headers.items()
                     if k.lower() not in ("host", "connection", "proxy-connection",
                                          "proxy-authorization")]
            up.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            while chunk := up.recv(65536):
                self.wfile.write(chunk)
        self.close_connection = True

    def do_CONNECT(self) -> None:  # noqa: N802
        host, _, port = self.path.partition(":")
        action = self.server.rule(self.path)
        if action == "intercept" and self.server.forged:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.server.forged)
            try:
                with context.wrap_socket(self.connection, server_side=True) as tls:
                    tls.recv(65536)
            except (ssl.SSLError, OSError):
                pass                           # the client refused the forged certificate
            self.close_connection = True
            return
        if self._censor(action):
            return
        if not _here(host):
            return self._answer(502, "only 127.0.0.1 here")
        up = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._relay(self.connection, up)
        self.close_connection = True

    def _censor(self, action: str | None) -> bool:
        if action is None:
            return False
        if action == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
        elif action == "hang":
            time.sleep(60)
        elif action == "redirect":
            self.send_response(302)
            self.send_header("Location", f"http://{BLOCK_HOST}/blocked.html")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
        elif action in ("block200", "block451", "notice"):
            status = 451 if action == "block451" else 200
            self._answer(status, NOTICE if action == "notice" else BLOCK_PAGE, "text/html")
        self.close_connection = True
        return True

    def _answer(self, status: int, body: str, ctype: str = "text/plain") -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket) -> None:
        sockets = [a, b]
        try:
            while True:
                ready, _, _ = select.select(sockets, [], [], 30)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (b if sock is a else a).sendall(data)
        except OSError:
            return
        finally:
            b.close()


def _here(host: str) -> bool:
    """Whether ``host`` is the censor's own machine (127.0.0.1 by its DNS)."""
    return host in ("127.0.0.1", "localhost") or host.endswith(".test")


def main() -> None:
    args = sys.argv[1:]
    forged = (args[2], args[3]) if len(args) >= 4 and args[1] == "--forged" else None
    server = CensorProxy(Path(args[0]), forged)
    threading.current_thread().name = "censor"
    serve_main(server, "censor")


if __name__ == "__main__":
    main()
