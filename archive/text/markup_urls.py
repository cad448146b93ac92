"""The URLs a page's markup names for its requisites, found in element attributes and CSS (shared by
the scanner of archive.text.requisites and the parsed tree of archive.text.extract's fast text pass,
which finds them at almost no cost in the tree it builds anyway)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urldefrag, urljoin

from lxml import etree

from archive.urlnorm import is_http_url

DEFAULT_LIMIT = 50
_CSS_URL_RE = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)"'\s]*))\s*\)""", re.I)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.I)
_LINK_RELS = frozenset({"stylesheet", "icon", "shortcut", "apple-touch-icon", "preload",
                        "modulepreload"})
_SRC_TAGS = frozenset({"img", "script", "video", "audio", "source", "track", "embed", "input"})


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


def tag_urls(tag: str, get: Mapping[str, str]) -> list[str]:
    """The requisite URLs an element names by its attributes (``get``: name -> value)."""
    found: list[str] = []
    if tag == "link":
        rels = set(get.get("rel", "").lower().split())
        if rels & _LINK_RELS and get.get("href"):
            found.append(get["href"])
    elif tag in _SRC_TAGS:
        if tag == "input" and get.get("type", "").lower() != "image":
            return []
        for name in ("src", "data-src", "poster"):
            if get.get(name):
                found.append(get[name])
        for name in ("srcset", "data-srcset"):
            if get.get(name):
                found += srcset_urls(get[name])
    elif tag == "object" and get.get("data"):
        found.append(get["data"])
    if tag in ("body", "table", "td") and get.get("background"):
        found.append(get["background"])
    return found



# The elements a requisite can come from by its attributes or content.
_TREE_TAGS = ("img", "link", "source", "video", "audio", "track", "embed", "input", "object",
              "style", "script", "base", "body", "table", "td")
_TREE_TAG_SET = frozenset(_TREE_TAGS)


def tree_requisites(root: etree._Element, base_url: str, limit: int = DEFAULT_LIMIT, *,
                    styles: bool = True) -> list[str]:
    """The requisite URLs of a page parsed by lxml (its HTML parser lowers tag and attribute
    names and resolves character references), in document order, at most ``limit``.

    ``styles``: look at the ``style`` attribute of every element too (a walk of the whole tree
    in Python); without it only the elements of _TREE_TAGS are visited (lxml picks them, far
    cheaper). The caller knows whether the page holds ``url(`` at all."""
    base = base_url
    raw: list[str] = []
    for element in root.iter() if styles else root.iter(*_TREE_TAGS):
        tag = element.tag
        if tag in _TREE_TAG_SET:
            if tag == "base":
                if base == base_url and element.get("href"):
                    base = urljoin(base_url, element.get("href", "").strip())
                continue
            if tag == "style":
                raw += css_urls(element.text or "")
            else:
                raw += tag_urls(tag, element.attrib)
        if styles and (style := element.get("style")) and "url(" in style:
            raw += css_urls(style)
    return absolute_urls(raw, base, limit)


def absolute_urls(raw: list[str], base: str, limit: int) -> list[str]:
    """``raw`` made absolute against ``base``: http(s) only, no fragments, each once, at most
    ``limit``."""
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
