"""Rewrite an archived HTML page or stylesheet so that everything it loads and links to comes
from the replay server: ``/{collection}/{timestamp}/{absolute URL}`` there, which answers with
the capture nearest that time.

HTML is parsed with lxml and serialised again as UTF-8 (the charset is decoded as the crawl
decoded it, archive.text.extract). Rewritten: every URL attribute of the HTML standard (``href``,
``src``, ``srcset``, ``action``, ``formaction``, ``poster``, ``data``, ``background``,
``cite``, lazy loaders' ``data-src`` / ``data-srcset``), ``url(...)`` and ``@import`` in
``<style>`` and ``style=""``, ``<meta http-equiv=refresh>``, and ``<base href>``. Removed:
``<meta http-equiv>`` that sets a Content-Security-Policy, cookies or a charset (the replay
server sets its own), ``integrity`` attributes (the bytes are the archived ones, but
subresource integrity must not make a browser refuse a stylesheet served from another URL),
and the ``target`` of links and forms (the replay frame may open no window and cannot
navigate the page around it: links open in the frame).

Scripts are left as they are: URLs a script builds at run time reach the replay server only if
they are relative (and then its Referer fallback finds them), and the replay server's
Content-Security-Policy stops any that point at the live web.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urldefrag, urljoin

from lxml import etree, html

from archive.text.charset import decode_html
from archive.text.markup_urls import srcset_urls
from archive.urlnorm import is_http_url

_URL_ATTRS = ("href", "src", "action", "formaction", "poster", "data", "background", "cite",
              "data-src", "longdesc", "icon", "manifest")
_SRCSET_ATTRS = ("srcset", "data-srcset", "imagesrcset")
_CSS_URL_RE = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""", re.I)
_CSS_IMPORT_RE = re.compile(r"""@import\s+(["'])([^"']*)\1""", re.I)
_REFRESH_RE = re.compile(r"^(\s*\d+\s*[;,]\s*(?:url\s*=\s*)?)(['\"]?)(.*?)\2\s*$", re.I)
_DROPPED_EQUIV = frozenset({"content-security-policy", "content-security-policy-report-only",
                            "set-cookie", "content-type", "refresh-never"})
_SKIP_SCHEMES = ("data:", "javascript:", "mailto:", "tel:", "about:", "blob:", "#")


class UrlRewriter:
    """Turns URLs found in a capture of ``page_url`` into replay paths at ``timestamp``, with
    the replay server's ``key`` when given (archive.web.replay)."""

    def __init__(self, collection: str, timestamp: str, page_url: str,
                 key: str | None = None) -> None:
        self.prefix = f"/{collection}/{timestamp}{'.' + key if key else ''}/"
        self.base = page_url

    def __call__(self, value: str, base: str | None = None) -> str:
        text = value.strip()
        if not text or text.lower().startswith(_SKIP_SCHEMES):
            return value
        try:
            absolute = urljoin(base or self.base, text)
        except ValueError:
            return value
        if text.startswith("#"):
            return value
        url, fragment = urldefrag(absolute)
        if not is_http_url(url):
            return value
        return self.prefix + url + (f"#{fragment}" if fragment else "")


def rewrite_css_text(text: str, rewrite: Callable[[str], str]) -> str:
    """``url(...)`` and ``@import "..."`` in CSS text, rewritten."""
    text = _CSS_URL_RE.sub(lambda m: f"url({m.group(1)}{rewrite(m.group(2))}{m.group(1)})", text)
    return _CSS_IMPORT_RE.sub(lambda m: f"@import {m.group(1)}{rewrite(m.group(2))}{m.group(1)}",
                              text)


def rewrite_css(body: bytes, content_type: str | None, rewriter: UrlRewriter) -> bytes:
    """A stylesheet with its URLs rewritten, as UTF-8."""
    text, _ = decode_html(body, content_type)
    return rewrite_css_text(text, rewriter).encode("utf-8")


def _rewrite_srcset(value: str, rewrite: Callable[[str], str]) -> str:
    out = value
    for url in srcset_urls(value):
        out = out.replace(url, rewrite(url), 1)
    return out


def rewrite_html(body: bytes, content_type: str | None, rewriter: UrlRewriter) -> bytes:
    """An HTML page with its URLs rewritten (module docstring), as UTF-8."""
    text, _ = decode_html(body, content_type)
    if not text.strip():
        return b""
    try:
        root = html.document_fromstring(text.replace("\x00", ""))
    except (etree.ParserError, ValueError):
        return b""
    base = rewriter.base
    for element in root.iter("base"):
        if element.get("href"):
            base = urljoin(rewriter.base, element.get("href").strip())
            break

    def rewrite(value: str) -> str:
        return rewriter(value, base)

    for element in list(root.iter()):
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.lower()
        if tag == "meta":
            equiv = (element.get("http-equiv") or "").strip().lower()
            if equiv in _DROPPED_EQUIV or (element.get("charset") is not None):
                element.getparent().remove(element)
                continue
            if equiv == "refresh" and element.get("content"):
                match = _REFRESH_RE.match(element.get("content"))
                if match and match.group(3):
                    element.set("content", match.group(1) + rewrite(match.group(3)))
            continue
        if tag == "base" and element.get("href"):
            element.set("href", rewrite(element.get("href")))
            continue
        for name in _URL_ATTRS:
            if element.get(name) is not None:
                element.set(name, rewrite(element.get(name)))
        for name in _SRCSET_ATTRS:
            if element.get(name):
                element.set(name, _rewrite_srcset(element.get(name), rewrite))
        if element.get("integrity") is not None:
            del element.attrib["integrity"]
        if tag in ("a", "area", "form") and element.get("target") is not None:
            del element.attrib["target"]      # new windows and the top frame stay closed
        if element.get("style"):
            element.set("style", rewrite_css_text(element.get("style"), rewrite))
        if tag == "style" and element.text:
            element.text = rewrite_css_text(element.text, rewrite)
    head = root.find("head")
    if head is not None:
        head.insert(0, etree.Element("meta", charset="utf-8"))
    return html.tostring(root, encoding="utf-8", method="html", doctype="<!DOCTYPE html>")
