"""The replay server: archived pages as they were, on an origin of their own.

``GET /{collection}/{timestamp}/{url}`` answers with the capture of ``url`` nearest that time
(the control's; ``/{collection}@{vantage}/...``: what that vantage point was answered)
(found in the CDXJ index, archive.warc.cdxj_lookup), its HTML and CSS rewritten so that everything
they load comes from here (archive.web.rewrite); ``/{collection}/{timestamp}id_/{url}`` answers
with the archived body as it was (decoded from its Content-Encoding). A request for another
time than the capture's is redirected to the capture's own timestamp (so relative URLs and the
Memento-Datetime are right). A revisit is served with its original's payload.

Archived content is hostile. Every answer here:

- is sandboxed by its Content-Security-Policy (``sandbox`` without ``allow-same-origin``: an
  opaque origin with no cookies, no storage, no service workers, no top navigation, no
  popups) and may load only from this server (``default-src`` and the rest name this origin
  alone: no request reaches the live web); only the UI origin may frame it;
- carries none of the archived response's headers but its type and, for redirects, its
  rewritten Location (non-ASCII percent-encoded). The archived headers are shown as
  ``X-Archive-Orig-*`` (Set-Cookie, CSP, HSTS, X-Frame-Options included, as text that no browser
  acts on), their bytes as archived (UTF-8 stays UTF-8) but control characters, shown as
  ``\\xNN``;
- is refused to a service worker's script fetch, and sends no Referer onwards;
- is refused (403) to another site's page (archive.web.fetch_guard): a fetch, an image or a
  script from elsewhere gets nothing, so no site can read the archive or probe what it holds.
  Replayed pages are sandboxed, so their own requests look cross-site too: the URLs rewritten
  into them carry this server's key (``/{collection}/{timestamp}.{key}/{url}``, random per
  ``serve``), which lets them through; a browser's navigation to a URL without the key is
  redirected to it, so that URLs a script builds relative to the page carry it as well. CORS
  is answered only to a keyed request for a font or a (module) script, and only to the
  sandboxed page's ``null`` origin or this origin.

Collections are names checked against the home's folders, and WARC file names from the
index are reduced to a name inside the collection's archive folder, symlinks resolved and
checked to stay there: no URL reads outside the home.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from archive.home import Home
from archive.timeutil import http_date
from archive.urlnorm import is_http_url
from archive.warc.cdxj_lookup import Capture, captures_of, nearest, original_of, split_view
from archive.warc.reader import ArchivedResponse, RecordNotFound, read_response
from archive.warc.safepath import SafePathError, collection_or_none, warc_in_collection
from archive.web.fetch_guard import cross_site_refusal
from archive.web.memento import original_links
from archive.web.rewrite import UrlRewriter, rewrite_css, rewrite_html

_REPLAY_PATH_RE = re.compile(r"^/(?P<coll>[^/]+)/(?P<ts>\d{1,14})(?P<mod>id_)?"
                             r"(?:\.(?P<key>[A-Za-z0-9_-]{1,64}))?/(?P<url>.+)$", re.S)
_CORS_DESTINATIONS = ("font", "script")
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_FOLDED_SCHEME_RE = re.compile(r"^(https?):/+", re.I)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def wire_text(value: str) -> str:
    """An archived header value as a header of ours may carry it: control characters (a tab
    aside) shown as ``\\xNN``, and text outside latin-1 sent as its UTF-8 bytes."""
    value = _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    try:
        value.encode("latin-1")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8").decode("latin-1")


def wire_url(url: str) -> str:
    """A URL for a Location header: ASCII, non-ASCII and spaces percent-encoded as UTF-8."""
    return quote(_CONTROL_RE.sub("", url), safe=_URL_SAFE)


def csp_for(replay_origin: str, ui_origin: str) -> str:
    """The Content-Security-Policy of every replayed answer."""
    here = f"'self' {replay_origin}"
    return "; ".join([
        "sandbox allow-scripts allow-forms",
        f"default-src {here} data: blob:",
        f"script-src {here} 'unsafe-inline' 'unsafe-eval' data: blob:",
        f"style-src {here} 'unsafe-inline' data:",
        f"img-src {here} data: blob:",
        f"media-src {here} data: blob:",
        f"font-src {here} data:",
        f"connect-src {here}",
        f"frame-src {here}",
        "worker-src 'none'",
        "manifest-src 'none'",
        "object-src 'none'",
        f"form-action {here}",
        f"base-uri {here}",
        f"frame-ancestors 'self' {ui_origin}",
    ])


def unfold_scheme(url: str) -> str:
    """A URL taken from a request path: browsers and proxies fold "//" in paths, so
    ``http:/example.org`` is ``http://example.org``."""
    return _FOLDED_SCHEME_RE.sub(r"\1://", url)


def replay_target(raw_path: str, query: str) -> tuple[str, str, bool, str] | None:
    """(collection, timestamp, raw mode, archived URL) of a replay path, None if it is not
    one. The URL keeps its percent escapes; a query string belongs to it."""
    match = _REPLAY_PATH_RE.match(raw_path)
    if match is None:
        return None
    url = unfold_scheme(match.group("url"))
    if query:
        url += "?" + query
    return match.group("coll"), match.group("ts"), bool(match.group("mod")), url


def replay_key(raw_path: str) -> str | None:
    """The key in a replay path (``/{collection}/{timestamp}.{key}/{url}``), if any."""
    match = _REPLAY_PATH_RE.match(raw_path)
    return match.group("key") if match else None


class ReplayServer:
    """The Starlette app of the replay origin (``app``); ``key`` lets replayed pages' own
    requests through (random when not given)."""

    def __init__(self, home: Home, *, replay_origin: str, ui_origin: str,
                 allowed_hosts: list[str] | None = None, key: str | None = None) -> None:
        self.home = home
        self.key = key or secrets.token_urlsafe(16)
        self.replay_origin = replay_origin.rstrip("/")
        self.ui_origin = ui_origin.rstrip("/")
        self.csp = csp_for(self.replay_origin, self.ui_origin)
        middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)] \
            if allowed_hosts else []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle,
                                           methods=["GET", "HEAD"])], middleware=middleware)

    # -- answers -------------------------------------------------------------------------------
    def _secure(self, response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = self.csp
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cache-Control"] = "no-store"
        return response

    def _text(self, status: int, text: str) -> Response:
        return self._secure(PlainTextResponse(text, status_code=status))

    def timeline_url(self, url: str) -> str:
        return f"{self.ui_origin}/url?u={quote(url, safe='')}"

    def handle(self, request: Request) -> Response:
        if request.headers.get("service-worker"):
            return self._text(403, "service workers are not allowed in replay\n")
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        keyed = replay_key(raw_path) == self.key
        refusal = None if keyed else cross_site_refusal(
            request.headers, request.method, (self.replay_origin, self.ui_origin))
        if refusal is not None:
            return self._text(403, f"refused: {refusal}\n")
        response = self._answer(request, raw_path, keyed)
        origin = request.headers.get("origin")
        if keyed and origin in ("null", self.replay_origin) and \
                request.headers.get("sec-fetch-dest") in _CORS_DESTINATIONS:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    def _answer(self, request: Request, raw_path: str, keyed: bool) -> Response:
        if raw_path in ("", "/"):
            return self._text(200, "memoryhole replay server: /{collection}/{timestamp}/{url}\n")
        target = replay_target(raw_path, request.scope.get("query_string", b"").decode(
            "latin-1"))
        if target is None:
            return self._text(404, "not a replay URL: use /{collection}/{timestamp}/{url}\n")
        view, timestamp, raw, url = target
        collection, vantage = split_view(view)
        if collection_or_none(self.home, collection) is None:
            return self._text(404, "no such collection\n")
        if not is_http_url(url):
            return self._text(400, "not an http(s) URL\n")
        captures = captures_of(self.home, url, [collection])
        chosen = nearest(captures, timestamp, url, vantage)
        if chosen is None:
            return self._text(404, f"{url} is not archived in {view}; its timeline: "
                                   f"{self.timeline_url(url)}\n")
        navigation = request.headers.get("sec-fetch-mode") == "navigate"
        if chosen.timestamp != timestamp.ljust(14, "0")[:14] or chosen.view != view or (
                navigation and not keyed):
            mod = "id_" if raw else ""
            key = f".{self.key}" if keyed or navigation else ""
            return self._secure(RedirectResponse(
                f"/{chosen.view}/{chosen.timestamp}{mod}{key}/{chosen.url}", status_code=302))
        try:
            return self._memento(chosen, captures, raw)
        except (RecordNotFound, SafePathError) as exc:
            return self._text(404, f"archived record unreadable: {exc}\n")

    def _memento(self, chosen: Capture, captures: list[Capture], raw: bool) -> Response:
        record = self._read(chosen)
        payload = record
        if chosen.is_revisit:
            original = original_of(captures, chosen)
            if original is None:
                return self._text(404, "the capture is a revisit whose original is not "
                                       "archived here\n")
            payload = self._read(original)
            if record.status in (None, 304):
                record = payload
        status = record.status or 200
        content_type = record.header("Content-Type") or ("text/plain" if record.record_type ==
                                                         "response" else None)
        try:
            body = payload.decoded_body()     # cut at records.DEFAULT_DECODED_LIMIT
        except ValueError:          # an unknown Content-Encoding: the bytes as stored
            body = payload.body
        mime = (content_type or "").split(";", 1)[0].strip().lower()
        rewriter = UrlRewriter(chosen.collection, chosen.timestamp, chosen.url, key=self.key)
        if not raw and mime in _HTML_TYPES:
            body, content_type = rewrite_html(body, content_type, rewriter), \
                "text/html; charset=utf-8"
        elif not raw and mime == "text/css":
            body, content_type = rewrite_css(body, content_type, rewriter), \
                "text/css; charset=utf-8"
        headers: dict[str, str] = {}
        location = record.header("Location")
        if 300 <= status < 400 and location:
            headers["Location"] = wire_url(rewriter(location))
        response = Response(body, status_code=status, headers=headers,
                            media_type=wire_text(content_type or "application/octet-stream"))
        for name, value in record.headers:
            response.headers.append(f"X-Archive-Orig-{wire_text(name)}", wire_text(value))
        response.headers["Memento-Datetime"] = http_date(chosen.timestamp)
        response.headers["Link"] = original_links(chosen.url, self.ui_origin)
        return self._secure(response)

    def _read(self, capture: Capture) -> ArchivedResponse:
        path = warc_in_collection(self.home, capture.collection, capture.entry.filename)
        return read_response(self.home, capture.collection, path.name, capture.entry.offset)


def make_replay_app(home: Home, *, replay_origin: str, ui_origin: str,
                    allowed_hosts: list[str] | None = None, key: str | None = None) -> Any:
    return ReplayServer(home, replay_origin=replay_origin, ui_origin=ui_origin,
                        allowed_hosts=allowed_hosts, key=key).app
