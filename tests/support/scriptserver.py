"""A scripted HTTP server for re-check tests: each path answers from a script set by the test.

``python -m tests.support.scriptserver`` listens on 127.0.0.1 port 0 and prints its URL.
The test sets ``POST /_script {"path": "/a", "responses": [...], "cycle": false}``; each request to
the path takes the next response, and the last one repeats (or the list cycles). A response is
``{"status": 200, "body": "...", "headers": [["Name", "value"]], "close": false, "delay": 0}``;
``"close": true`` drops the connection without an answer; ``"repeat": n`` sends the body n
times over, ``"chunked": true`` in chunks with no Content-Length (large hostile bodies),
``"drip": seconds`` one byte of the body every that many seconds after the head (slowloris).
``GET /_requests`` gives, per path, the request line and headers (in order, as received) of every
request to it; ``GET /_concurrency`` the most requests it held at once (from arrival until its
answer starts). Paths with no script answer with the ``/_default`` script (a 404 page unless
set), so a site that answers 200 to every unknown path (soft 404) is one call away.
``If-None-Match`` equal to a response's ``ETag`` gives a 304.
"""

from __future__ import annotations

import argparse
import ssl
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from demosite.httpkit import QuietServer, RawHandler, ServerProcess, serve_main
from tests.support.tls import TlsFiles

NOT_FOUND = {"status": 404, "body": "<html><head><title>Not Found</title></head>"
             "<body><h1>Not Found</h1></body></html>"}


class ScriptState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.scripts: dict[str, dict[str, Any]] = {"/_default": {"responses": [NOT_FOUND]}}
        self.positions: Counter[str] = Counter()
        self.hits: Counter[str] = Counter()
        self.requests: dict[str, list[list[Any]]] = {}
        self.in_flight = 0
        self.most_in_flight = 0                  # requests answered at the same time, at most

    def next_response(self, path: str) -> dict[str, Any]:
        with self.lock:
            self.hits[path] += 1
            script = self.scripts.get(path) or self.scripts["/_default"]
            key = path if path in self.scripts else "/_default"
            responses = script["responses"]
            index = self.positions[key]
            self.positions[key] += 1
            if script.get("cycle"):
                return responses[index % len(responses)]
            return responses[min(index, len(responses) - 1)]


class ScriptHTTPServer(QuietServer):
    def __init__(self, address: tuple[str, int] = ("127.0.0.1", 0),
                 tls: tuple[str, str] | None = None) -> None:
        super().__init__(address, ScriptHandler)
        self.state = ScriptState()
        self.tls = tls is not None
        if tls is not None:         # HTTPS with this chain and key; the handshake in the handler
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.socket = context.wrap_socket(self.socket, server_side=True,
                                              do_handshake_on_connect=False)

    @property
    def base(self) -> str:
        host, port = self.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"


class ScriptHandler(RawHandler):
    server: ScriptHTTPServer

    def route(self, path: str, query: dict[str, str]) -> None:
        state = self.server.state
        if path == "/_script" and self.command == "POST":
            data = self.read_json()
            with state.lock:
                state.scripts[data["path"]] = {"responses": data["responses"],
                                               "cycle": bool(data.get("cycle"))}
                state.positions[data["path"]] = 0
            return self.send_json({"ok": True})
        if path == "/_hits":
            with state.lock:
                return self.send_json(dict(state.hits))
        if path == "/_requests":
            with state.lock:
                return self.send_json(state.requests)
        if path == "/_concurrency":
            with state.lock:
                return self.send_json({"most_in_flight": state.most_in_flight})
        with state.lock:
            state.requests.setdefault(path, []).append(
                [self.requestline, [list(pair) for pair in self.headers.items()]])
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
        answer = state.next_response(path)
        try:
            if answer.get("delay"):
                time.sleep(float(answer["delay"]))
        finally:
            # held until its answer starts: once the client has the answer it may send its next
            # request, which must not find this one still counted
            with state.lock:
                state.in_flight -= 1
        return self.answer(answer)

    def answer(self, answer: dict[str, Any]) -> None:
        if answer.get("close"):
            self.close_connection = True
            self.connection.close()
            return None
        headers = [tuple(h) for h in answer.get("headers", [])]
        etag = next((v for k, v in headers if k.lower() == "etag"), None)
        if etag and self.headers.get("If-None-Match") == etag:
            return self.send_head(304, [("ETag", etag)])
        body = answer.get("body", "")
        raw = body.encode(answer.get("encoding", "utf-8")) if isinstance(body, str) else body
        raw *= int(answer.get("repeat", 1))
        ctype = answer.get("content_type", "text/html; charset=utf-8")
        if answer.get("drip"):
            self.send_head(int(answer.get("status", 200)),
                           [("Content-Type", ctype), *headers,
                            ("Content-Length", str(len(raw)))])
            try:
                for byte in raw:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(float(answer["drip"]))
            except ConnectionError:           # the client gave up: that is the point
                self.close_connection = True
            return None
        if not answer.get("chunked"):
            return self.send_raw(int(answer.get("status", 200)), raw, headers, ctype=ctype)
        self.send_head(int(answer.get("status", 200)),
                       [("Content-Type", ctype), *headers, ("Transfer-Encoding", "chunked")])
        for start in range(0, len(raw), 1 << 16):
            chunk = raw[start:start + (1 << 16)]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")
        return None


class ScriptServer(ServerProcess):
    """``with ScriptServer() as s: s.script("/a", [{"status": 404}])``. With ``tls`` it speaks
    HTTPS with that certificate (tests.support.tls); ``port`` binds a chosen port (0: any)."""

    module = "tests.support.scriptserver"
    root = Path(__file__).resolve().parents[2]

    def __init__(self, tls: TlsFiles | None = None, port: int = 0, timeout: float = 30.0) -> None:
        args = ["--port", str(port)]
        context = None
        if tls is not None:
            args += ["--tls", str(tls.cert), str(tls.key)]
            context = ssl.create_default_context(cafile=str(tls.ca))
        super().__init__(timeout, args, context)

    def script(self, path: str, responses: list[dict[str, Any]], cycle: bool = False) -> None:
        self.request("/_script", {"path": path, "responses": responses, "cycle": cycle})

    def hits(self) -> dict[str, int]:
        return self.request("/_hits")

    def most_in_flight(self) -> int:
        """The most requests it was answering at one time."""
        return self.request("/_concurrency")["most_in_flight"]

    def requests(self, path: str) -> list[tuple[str, list[tuple[str, str]]]]:
        """Request line and headers of each request to ``path``, oldest first."""
        return [(line, [tuple(h) for h in headers])
                for line, headers in self.request("/_requests").get(path, [])]


def main() -> None:
    parser = argparse.ArgumentParser(description="the scripted test server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls", nargs=2, metavar=("CHAIN", "KEY"))
    args = parser.parse_args()
    serve_main(ScriptHTTPServer(("127.0.0.1", args.port), tuple(args.tls) if args.tls else None),
               "scriptserver")


if __name__ == "__main__":
    main()
