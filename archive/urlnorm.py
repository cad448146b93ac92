"""URL canonicalisation: which URL a catalogue row is about.

``canonical_url`` removes what varies between links to the same page (case of scheme and host,
default port, fragment, tracking parameters such as ``utm_*``, and WeChat's share parameters)
and keeps everything that may select content: path case, the other query parameters in their
order and their original percent-encoding.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import SplitResult, quote, unquote_plus, urlsplit, urlunsplit

logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Characters kept as they are when a URL is written into another URL's path or a Link header:
# printable ASCII but space, quotes and angle brackets (its own percent escapes stay as they are).
_IN_PATH_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"<>\\^`{|}")
_NEEDS_QUOTE = re.compile(r'[^\x21-\x7e]|["<>\\^`{|}]')
_TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "yclid", "msclkid", "mc_cid", "mc_eid", "igshid", "_hsenc",
    "_hsmi", "spm",
})
_TRACKING_PREFIXES = ("utm_",)
# mp.weixin.qq.com article links carry the share context; __biz, mid, idx, sn pick the article.
_WECHAT_HOST = "mp.weixin.qq.com"
_WECHAT_PARAMS = frozenset({
    "scene", "srcid", "sharer_sharetime", "sharer_shareid", "clicktime", "enterid", "from",
    "isappinstalled", "chksm", "ascene", "devicetype", "version", "nettype", "lang", "exportkey",
    "pass_ticket", "wx_header",
})


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return parts


def _idna(host: str) -> str:
    """The host in ASCII (punycode) form, lower case; left as it is if IDNA refuses it."""
    host = host.lower()
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        logger.debug("host %r is not valid IDNA", host)
        return host


def _is_tracking(name: str, host: str) -> bool:
    key = unquote_plus(name).strip().lower()
    if key in _TRACKING_PARAMS or key.startswith(_TRACKING_PREFIXES):
        return True
    return host == _WECHAT_HOST and key in _WECHAT_PARAMS


def canonical_url(url: str) -> str:
    """The canonical form of ``url`` used as the catalogue's key.

    Lower-case scheme and host (IDNA-encoded), no default port, no fragment, ``/`` for an empty
    path, tracking query parameters removed (``utm_*``, fbclid, gclid, spm, ... and WeChat's
    share parameters on mp.weixin.qq.com), other parameters kept in order and as written.
    A string that does not parse as a URL is returned stripped.
    """
    parts = _split(url)
    if parts is None:
        return url.strip()
    scheme = parts.scheme.lower()
    hostname = _idna(parts.hostname or "")
    netloc = parts.netloc
    if hostname or netloc:
        host = f"[{hostname}]" if ":" in hostname else hostname  # IPv6 literal
        port = parts.port
        if port is not None and _DEFAULT_PORTS.get(scheme) != port:
            host = f"{host}:{port}"
        userinfo = netloc.rpartition("@")[0] if "@" in netloc else ""
        netloc = f"{userinfo}@{host}" if userinfo else host
    path = parts.path or ("/" if netloc else "")
    kept = [
        field
        for field in parts.query.split("&")
        if field and not _is_tracking(field.partition("=")[0], hostname)
    ]
    return urlunsplit((scheme, netloc, path, "&".join(kept), ""))


def domain_of(url: str) -> str:
    """The host name of ``url``: lower case, IDNA (ASCII) form, no port, no leading ``www.``.

    Empty when the URL has no host.
    """
    parts = _split(url)
    if parts is None:
        return ""
    host = _idna(parts.hostname or "").rstrip(".")
    return host[4:] if host.startswith("www.") else host


def is_http_url(url: str) -> bool:
    """Whether ``url`` is an http or https URL with a host (and a valid port, if any)."""
    parts = _split(url)
    return parts is not None and parts.scheme.lower() in _DEFAULT_PORTS and bool(parts.hostname)


def url_in_path(url: str) -> str:
    """``url`` as it can stand in the path of another URL (a replay or Memento URL) or between
    ``<`` and ``>`` in a Link header: non-ASCII and characters not allowed in a URL
    percent-encoded (UTF-8), the rest, its own percent escapes included, as it is."""
    return quote(url, safe=_IN_PATH_SAFE) if _NEEDS_QUOTE.search(url) else url


def replay_url(base: str, collection: str | None, timestamp: str | None, url: str | None,
               *, modifier: str = "") -> str | None:
    """The one way memoryhole writes a replay URL (the deletion objects, the web UI's frames and
    pages, Memento, notifications): ``{base}/{collection}/{timestamp}{modifier}/{url}``, the
    collection quoted (``@`` kept: ``coll@kz`` is a vantage point's view) and ``url`` as
    :func:`url_in_path` writes it. ``base`` is the UI's ``.../replay`` or the replay origin;
    ``timestamp`` has 14 digits; ``modifier`` ``id_`` asks the replay origin for the body as
    archived. None when a part is missing."""
    if not (collection and timestamp and url):
        return None
    return (f"{base.rstrip('/')}/{quote(collection, safe='@')}/{timestamp}{modifier}/"
            f"{url_in_path(url)}")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of ``url``, lower-cased, without credentials; None when it has
    no scheme or host (or cannot be parsed)."""
    parts = _split(url)
    if parts is None or not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}".lower()


def without_credentials(url: str) -> str:
    """``url`` as it may be shown or logged: any ``user:password@`` removed (a proxy's, a
    notification target's)."""
    parts = _split(url)
    if parts is None or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
