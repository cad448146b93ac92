"""The UI origin's security headers (archive.web.ui): no script, no framing, frames only from
the replay origin, nothing cached."""

from __future__ import annotations

from typing import Any


class SecurityHeaders:
    """ASGI middleware: the UI's own security headers on every answer."""

    def __init__(self, app: Any, replay_origin: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", (
                "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:;"
                f" frame-src {replay_origin}; object-src 'none'; base-uri 'none';"
                " form-action 'self'; frame-ancestors 'none'").encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"cache-control", b"no-store"),
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + self.headers
            await send(message)

        return await self.app(scope, receive, send_with_headers)
