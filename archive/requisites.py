"""Page requisites: the images, stylesheets, scripts, fonts and media a page needs to be shown.

A crawl fetches them beside each page it captures in full, so replay can show the page as it
was (``crawlers.requisites``); the evidence export finds them again the same way in the
archived page. Only what the markup names is found: URLs that scripts build at run time are
not (pages rendered in a browser record those from the browser's own traffic).

- HTML: ``img`` (``src``, ``srcset``, ``data-src`` as lazy loaders use it), ``picture source``,
  ``link`` with ``rel`` stylesheet / icon / preload, ``script src``, ``video`` / ``audio``
  (``src``, ``poster``), ``input type=image``, ``embed``, ``object data``, ``url(...)`` in
  ``<style>`` and ``style=""``; a ``<base href>`` is honoured.
- CSS: ``url(...)`` and ``@import``.

URLs come back absolute, http(s) only, without fragments, in document order, each once.
"""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin

from lxml import etree, html

from archive.text import decode_html
from archive.urlnorm import is_http_url

DEFAULT_LIMIT = 50
_CSS_URL_RE = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)""", re.I)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
_LINK_RELS = frozenset({"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload",
                        "modulepreload"})
_SRC_TAGS = frozenset({"img", "script", "video", "audio", "source", "track", "embed", "iframe",
                       "input"})


def is_css(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == "text/css"


def is_html(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() in ("text/html",
                                                                       "application/xhtml+xml")


def srcset_urls(value: str) -> list[str]:
    """The URLs of a ``srcset`` attribute, parsed as the HTML standard says: a URL runs to the
    next white space (trailing commas end its candidate), then descriptors run to a comma."""
    urls: list[str] = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < end and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0
            while pos < end and (value[pos] != "," or depth):
                depth = max(0, depth + {"(": 1, ")": -1}.get(value[pos], 0))
                pos += 1
        if url:
            urls.append(url)
    return urls


def css_urls(text: str) -> list[str]:
    """``url(...)`` and ``@import "..."`` references in a stylesheet, as written."""
    found = [next(g for g in m.groups() if g is not None) for m in _CSS_URL_RE.finditer(text)]
    found += [m.group(1) or m.group(2) for m in _CSS_IMPORT_RE.finditer(text)]
    return [u.strip() for u in found if u and u.strip()]


def _element_urls(element: etree._Element) -> list[str]:
    tag = element.tag if isinstance(element.tag, str) else ""
    tag = tag.lower()
    get = element.get
    found: list[str] = []
    if tag == "link":
        rels = set((get("rel") or "").lower().split())
        if rels & _LINK_RELS and get("href"):
            found.append(get("href"))
    elif tag in _SRC_TAGS:
        if tag == "input" and (get("type") or "").lower() != "image":
            return []
        if tag == "iframe":           # a frame is a page of its own, not a requisite
            return []
        for name in ("src", "data-src", "poster"):
            if get(name):
                found.append(get(name))
        for name in ("srcset", "data-srcset"):
            if get(name):
                found += srcset_urls(get(name))
    elif tag == "object" and get("data"):
        found.append(get("data"))
    elif tag == "style" and element.text:
        found += css_urls(element.text)
    if get("style"):
        found += css_urls(get("style"))
    if tag in ("body", "table", "td") and get("background"):
        found.append(get("background"))
    return found


def html_requisites(body: bytes, content_type: str | None, base_url: str,
                    limit: int = DEFAULT_LIMIT) -> list[str]:
    """The requisite URLs of an HTML page (module docstring), at most ``limit``."""
    text, _ = decode_html(body, content_type)
    if not text.strip():
        return []
    try:
        root = html.document_fromstring(text.replace("\x00", ""))
    except (etree.ParserError, ValueError):
        return []
    base = base_url
    for element in root.iter("base"):
        if element.get("href"):
            base = urljoin(base_url, element.get("href").strip())
            break
    raw: list[str] = []
    for element in root.iter():
        if isinstance(element.tag, str):
            raw += _element_urls(element)
    return _absolute(raw, base, limit)


def css_requisites(body: bytes, content_type: str | None, base_url: str,
                   limit: int = DEFAULT_LIMIT) -> list[str]:
    """The URLs a stylesheet refers to (fonts, images, imported sheets), at most ``limit``."""
    text, _ = decode_html(body, content_type)
    return _absolute(css_urls(text), base_url, limit)


def requisites(body: bytes, content_type: str | None, base_url: str,
               limit: int = DEFAULT_LIMIT) -> list[str]:
    """The requisites of an HTML page or a stylesheet; nothing for other types."""
    if is_css(content_type):
        return css_requisites(body, content_type, base_url, limit)
    if is_html(content_type):
        return html_requisites(body, content_type, base_url, limit)
    return []


def _absolute(raw: list[str], base: str, limit: int) -> list[str]:
    seen: set[str] = set()
    urls: list[str] = []
    for value in raw:
        value = value.strip()
        if not value or value.startswith(("data:", "javascript:", "#", "about:", "blob:")):
            continue
        try:
            url = urldefrag(urljoin(base, value))[0]
        except ValueError:
            continue
        if url in seen or not is_http_url(url):
            continue
        seen.add(url)
        urls.append(url)
        if len(urls) >= limit:
            break
    return urls
