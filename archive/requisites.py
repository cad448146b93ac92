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

import codecs
import re
from html import unescape
from urllib.parse import urljoin

from archive.markup_urls import (
    DEFAULT_LIMIT,
    absolute_urls,
    css_urls,
    is_css,
    is_html,
    srcset_urls,
    tag_urls,
)
from archive.text import declared_codec, decode_html

__all__ = ["DEFAULT_LIMIT", "css_requisites", "css_urls", "html_requisites", "is_css",
           "is_html", "requisites", "srcset_urls"]

_RAW_TEXT = frozenset({"script", "style", "title", "textarea"})     # content is not markup
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_SCANNED = ("img", "link", "script", "source", "video", "audio", "track", "embed", "input",
            "object", "body", "table", "td", "base", "style", "title", "textarea")
# The tags of _SCANNED, written in lower or upper case (a case-insensitive regex over a whole
# page took 0.27 ms of 45 KB, this one 0.08; a tag in mixed case, <Img>, is not seen).
_TAG_RE = re.compile("<(?=[" + "".join(sorted({n[0] + n[0].upper() for n in _SCANNED}))
                     + "])(" + "|".join([*_SCANNED, *(n.upper() for n in _SCANNED)])
                     + r")(?=[\s/>])([^>]*)>")
_CLOSE_RE = {tag: re.compile(f"</{tag}", re.I) for tag in ("script", "style", "title",
                                                            "textarea")}
_STYLE_ATTR_RE = re.compile(
    r"""<[a-zA-Z][^>]*?\sstyle\s*=\s*(?:"([^"]*url\([^"]*)"|'([^']*url\([^']*)')""", re.I)
_ATTR_RE = re.compile(r"""([^\s"'=<>/]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


def _attributes(text: str) -> dict[str, str]:
    """Attribute names and values of a tag (values as scanned: see html_requisites)."""
    attrs: dict[str, str] = {}
    for match in _ATTR_RE.finditer(text):
        name = match.group(1).lower()
        if name not in attrs:
            attrs[name] = next((g for g in match.groups()[1:] if g is not None), "")
    return attrs


def _real(value: str, codec: str) -> str:
    """A value of the latin-1 view as the page's text: its bytes decoded (UTF-8 first, then
    the declared charset), character references resolved."""
    if not value.isascii():
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:        # already text (a resolved reference)
            raw = None
        if raw is not None:
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                value = raw.decode(codec, "replace")
    return unescape(value) if "&" in value else value


def html_requisites(body: bytes, content_type: str | None, base_url: str,
                    limit: int = DEFAULT_LIMIT) -> list[str]:
    """The requisite URLs of an HTML page (module docstring), at most ``limit``.

    A tag scanner rather than a parser: it runs in the crawl process on every page, and
    lxml took 1.7 ms of a 45 KB page, half of what the rest of the crawl spends on it. It
    skips comments and the content of scripts, titles and text areas, as a parser would.
    It scans the bytes seen as latin-1 (one character per byte, as fast as bytes): markup is
    ASCII in every charset a page uses but UTF-16 (decoded first), and no GBK or Big5 trail
    byte is a ``<``, ``>``, ``=`` or quote; only the URLs found are decoded."""
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        body = decode_html(body, content_type)[0].encode("utf-8")
    codec = declared_codec(body, content_type) or "cp1252"
    text = body.decode("latin-1")
    if "<!--" in text:
        text = _COMMENT_RE.sub(" ", text)
    base = base_url
    found: list[tuple[int, list[str]]] = []
    skipped: list[tuple[int, int]] = []        # content that is not markup
    pos = 0
    while (match := _TAG_RE.search(text, pos)) is not None:
        tag = match.group(1).lower()
        pos = match.end()
        if skipped and skipped[-1][0] <= match.start() < skipped[-1][1]:
            continue
        attrs = _attributes(match.group(2)) if tag not in ("title", "textarea") else {}
        if tag == "base":
            if attrs.get("href") and base == base_url:
                base = urljoin(base_url, _real(attrs["href"], codec).strip())
            continue
        found.append((match.start(), tag_urls(tag, attrs)))
        if tag in _RAW_TEXT:
            closing = _CLOSE_RE[tag].search(text, pos)
            close = len(text) if closing is None else closing.start()
            if tag == "style":
                found.append((pos, css_urls(text[pos:close])))
            skipped.append((pos, close))
            pos = close
    if "url(" in text or "URL(" in text:       # style="" on any element
        for match in _STYLE_ATTR_RE.finditer(text):
            at = match.start()
            if not any(start <= at < end for start, end in skipped):
                found.append((at, css_urls(unescape(match.group(1) or match.group(2)))))
    found.sort(key=lambda item: item[0])
    return absolute_urls([_real(url, codec) for _, urls in found for url in urls],
                     _real(base, codec), limit)


def css_requisites(body: bytes, content_type: str | None, base_url: str,
                   limit: int = DEFAULT_LIMIT) -> list[str]:
    """The URLs a stylesheet refers to (fonts, images, imported sheets), at most ``limit``."""
    text, _ = decode_html(body, content_type)
    return absolute_urls(css_urls(text), base_url, limit)


def requisites(body: bytes, content_type: str | None, base_url: str,
               limit: int = DEFAULT_LIMIT) -> list[str]:
    """The requisites of an HTML page or a stylesheet; nothing for other types."""
    if is_css(content_type):
        return css_requisites(body, content_type, base_url, limit)
    if is_html(content_type):
        return html_requisites(body, content_type, base_url, limit)
    return []
