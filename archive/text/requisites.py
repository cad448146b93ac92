"""Page requisites: the images, stylesheets, scripts, fonts and media a page needs to be shown.

A crawl fetches them beside each page it captures in full, so replay can show the page as it
was (``crawlers.extensions.requisites``; the crawl takes them from the tree of its fast text pass,
archive.text.markup_urls); the exports find them again the same way in the archived page. Only
what the markup names is found: URLs that scripts build at run time are not (pages rendered in
a browser record those from the browser's own traffic).

- HTML: ``img`` (``src``, ``srcset``, ``data-src`` as lazy loaders use it), ``picture source``,
  ``link`` with ``rel`` stylesheet / icon / preload, ``script src``, ``video`` / ``audio``
  (``src``, ``poster``), ``input type=image``, ``embed``, ``object data``, ``url(...)`` in
  ``<style>`` and ``style=""``; a ``<base href>`` is honoured.
- CSS: ``url(...)`` and ``@import``.

URLs come back absolute, http(s) only, without fragments, in document order, each once.
"""

from __future__ import annotations

from archive.text.charset import decode_html
from archive.text.extract import parse_html
from archive.text.markup_urls import (
    DEFAULT_LIMIT,
    absolute_urls,
    css_urls,
    is_css,
    is_html,
    tree_requisites,
)

__all__ = ["css_requisites", "html_requisites", "requisites"]


def html_requisites(body: bytes, content_type: str | None, base_url: str,
                    limit: int = DEFAULT_LIMIT) -> list[str]:
    """The requisite URLs of an HTML page (module docstring), at most ``limit``: the page is
    parsed as the fast text pass parses it, and its tree read as the crawl reads it."""
    root = parse_html(body, content_type)
    return [] if root is None else tree_requisites(root, base_url, limit)


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
