"""Matching for the detection rules: does a rule (:mod:`archive.detect.ruleset`) match the
response body or the redirect of a re-check, and what did it match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from lxml import etree

from archive.detect.css import Selector
from archive.detect.ruleset import Rule, json_str, normalise
from archive.jobs import PageText
from archive.text.charset import decode_html
from archive.text.extract import fast_page_text

_SNIPPET = 80
_CLASS_ATTRS = etree.XPath("//@class")
_ID_ATTRS = etree.XPath("//@id")
# Wording searched in the whole page must sit on a short line of its own (the title or one block
# of the fast text): at most this many characters longer than the wording itself. A paragraph
# that quotes a notice is longer; the notice page's own line is not.
NOTICE_LINE_SLACK = 60
# ---------------------------------------------------------------------------------- matching


def _json_get(data: Any, path: str) -> Any:
    node = data
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


class Page:
    """A response body as the rules see it: decoded, parsed and reduced to text on demand."""

    def __init__(self, body: bytes, content_type: str | None) -> None:
        self.body = body
        self.content_type = content_type

    @cached_property
    def json_data(self) -> Any:
        """The parsed JSON body, or None when the body is not JSON."""
        mime = (self.content_type or "").split(";", 1)[0].strip().lower()
        looks = self.body.lstrip()[:1] in (b"{", b"[")
        if "json" not in mime and not (looks and mime in ("", "text/plain", "text/html",
                                                          "text/javascript",
                                                          "application/javascript")):
            return None
        try:
            return json.loads(decode_html(self.body, self.content_type)[0])
        except ValueError:
            return None

    @property
    def is_json(self) -> bool:
        return self.json_data is not None

    @cached_property
    def fast(self) -> PageText:
        return fast_page_text(self.body, self.content_type)

    @property
    def title(self) -> str | None:
        return self.fast.title

    @cached_property
    def lines(self) -> tuple[str, ...]:
        """The normalised title and the fast text's blocks, for wording searched in the page."""
        raw = [self.fast.title or "", *self.fast.text.splitlines()]
        return tuple(line for line in map(normalise, raw) if line)

    @cached_property
    def source(self) -> str:
        return decode_html(self.body, self.content_type)[0].casefold()

    @cached_property
    def source_text(self) -> str:
        """The decoded source normalised as wording is (scripts and attributes included)."""
        return normalise(decode_html(self.body, self.content_type)[0])

    @cached_property
    def tree(self) -> etree._Element | None:
        text = re.sub(r"^\s*<\?xml[^>]*\?>", "", decode_html(self.body, self.content_type)[0])
        text = text.replace("\x00", "")
        if not text.strip():
            return None
        parser = etree.HTMLParser(remove_comments=True, no_network=True)
        try:
            return etree.fromstring(text, parser=parser)
        except (etree.ParserError, etree.XMLSyntaxError, ValueError):
            return None

    @cached_property
    def tokens(self) -> tuple[frozenset[str], frozenset[str]]:
        """The class names and the ids used in the page (one attribute pass)."""
        if self.tree is None:
            return frozenset(), frozenset()
        classes = frozenset(" ".join(map(str, _CLASS_ATTRS(self.tree))).split())
        return classes, frozenset(map(str, _ID_ATTRS(self.tree)))

    def select(self, selector: Selector) -> list[etree._Element]:
        if self.tree is None:
            return []
        classes, ids = self.tokens
        if not any(need_classes <= classes and need_ids <= ids
                   for need_classes, need_ids in selector.needs):
            return []
        found = selector.xpath(self.tree)
        return [e for e in found if isinstance(e, etree._Element)] if isinstance(found, list) \
            else []


def _describe(element: etree._Element) -> str:
    classes = " ".join((element.get("class") or "").split())
    return f"<{element.tag} class={classes!r}>" if classes else f"<{element.tag}>"


def _find_text(rule: Rule, haystack: str, slack: int | None = None) -> str | None:
    """The wording of ``rule`` found in ``haystack``; with ``slack``, only when the haystack is
    at most that much longer than the wording."""
    limit = len(haystack) - (slack if slack is not None else len(haystack))
    found = next((needle for needle in rule.text_contains
                  if needle in haystack and len(needle) >= limit), None)
    if found is None:
        match = next((m for p in rule.text_regex
                      if (m := p.search(haystack)) and len(m.group(0)) >= limit), None)
        found = match.group(0) if match else None
    return found


def match_body(rule: Rule, page: Page, status: int) -> str | None:
    """What ``rule`` found in this response body (one line for ``Verdict.detail``), or None."""
    if rule.location_regex or (rule.status is not None and status not in rule.status):
        return None
    if rule.json_any:
        return _match_json(rule, page)
    if page.is_json:
        return None
    if rule.max_text is not None and len(page.fast.text) > rule.max_text:
        return None
    if rule.absent_sel is not None and page.select(rule.absent_sel):
        return None
    found: list[str] = []
    if rule.css_sel is not None:
        elements = page.select(rule.css_sel)
        if rule.or_source and not any(_find_text(rule, normalise("".join(e.itertext())),
                                                 rule.max_element_text) for e in elements):
            needle = _find_text(rule, page.source_text)     # words a script wrote
            if needle is None:
                return None
            found.append(f"the source holds {_snippet(needle)!r} (no element does)")
        elif not elements:
            return None
        elif rule.has_text:
            slack = rule.max_element_text
            hit = next(((e, t) for e in elements
                        if (t := _find_text(rule, normalise("".join(e.itertext())), slack))),
                       None)
            if hit is None:
                return None
            found.append(f"{_describe(hit[0])} says {_snippet(''.join(hit[0].itertext()))!r}")
        else:
            first = elements[0]
            found.append(f"{_describe(first)} present: {_snippet(''.join(first.itertext()))!r}")
    elif rule.has_text:
        hit = next(((line, t) for line in page.lines
                    if (t := _find_text(rule, line, NOTICE_LINE_SLACK))), None)
        if hit is None:
            return None
        found.append(f"a line of the page says {_snippet(hit[0])!r}")
    if rule.source_contains:
        needle = next((s for s in rule.source_contains if s in page.source), None)
        if needle is None:
            return None
        found.append(f"source holds {needle!r}")
    return "; ".join(found)


def _match_json(rule: Rule, page: Page) -> str | None:
    data = page.json_data
    if data is None:
        return None
    cond = next((c for c in rule.json_any
                 if all(_json_get(data, path) is not None and json_str(_json_get(data, path))
                        == want for path, want in c)), None)
    if cond is None:
        return None
    shown = ", ".join(f"{path}={want}" for path, want in cond)
    if not rule.has_text:
        return f"JSON {shown}"
    texts: Sequence[Any] = [_json_get(data, path) for path in rule.json_text]
    haystack = normalise("\n".join(t for t in texts if isinstance(t, str)))
    hit = _find_text(rule, haystack)
    return f"JSON {shown} says {_snippet(hit)!r}" if hit else None


def match_location(rule: Rule, location: str, status: int) -> str | None:
    """What ``rule`` found in a redirect's absolute Location, or None."""
    if not rule.location_regex or (rule.status is not None and status not in rule.status):
        return None
    match = next((m for p in rule.location_regex if (m := p.search(location))), None)
    return f"Location {_snippet(location)!r} matches {match.re.pattern!r}" if match else None
