"""Who may ask the two origins of ``memoryhole serve`` for what: a request another site's page
makes (a fetch, an image, a script, a form) is refused, so no web page the researcher visits can
read the archive, probe which URLs are watched, or act on the UI.

The browser says where a request comes from in its Fetch Metadata headers
(``Sec-Fetch-Site``, ``Sec-Fetch-Mode``) and, for CORS and POST requests, ``Origin``. A request
is let through when it comes from no site (typed, a bookmark), from the same origin, from the
same site with an ``Origin``/``Referer`` of ours, or is a navigation with GET (a followed link
shows a page the other site cannot read). A client that sends no Fetch Metadata (curl, scripts,
older browsers) is let through unless it names a foreign ``Origin``.

Replayed pages are sandboxed (an opaque origin: their requests are cross-site, with no Referer
and ``Origin: null``); the replay server lets theirs through by the key in the URLs it rewrites
(archive.web.replay), which no other site can learn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from archive.urlnorm import origin_of

__all__ = ["CrossSiteGuard", "cross_site_refusal"]

_REFUSED_BODY = b"cross-site request refused (memoryhole serves only its own pages)\n"


def cross_site_refusal(headers: Mapping[str, str], method: str,
                       own_origins: Iterable[str]) -> str | None:
    """Why a request with these (lower-cased) headers must be refused, or None."""
    ours = {origin.rstrip("/").lower() for origin in own_origins}
    origin = headers.get("origin")
    if origin is not None and origin.lower() not in ours:
        return f"Origin {origin} is not one of memoryhole's"
    site = headers.get("sec-fetch-site")
    if site is None or site in ("none", "same-origin"):
        return None
    if headers.get("sec-fetch-mode") == "navigate" and method in ("GET", "HEAD"):
        return None
    if site == "same-site":
        referer = origin_of(headers.get("referer", ""))
        if (origin is not None and origin.lower() in ours) or referer in ours:
            return None
    return f"a {site} {headers.get('sec-fetch-dest', 'request')} from another site"


class CrossSiteGuard:
    """ASGI middleware: answers 403 to the requests :func:`cross_site_refusal` refuses."""

    def __init__(self, app: Any, own_origins: Iterable[str]) -> None:
        self.app = app
        self.own_origins = tuple(own_origins)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            if cross_site_refusal(headers, scope.get("method", "GET"),
                                  self.own_origins) is not None:
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"cache-control", b"no-store")]})
                await send({"type": "http.response.body", "body": _REFUSED_BODY})
                return
        await self.app(scope, receive, send)
