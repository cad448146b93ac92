"""Matching for the detection rules: a small CSS subset, text normalisation, and the response
body or redirect a rule looks at (see :mod:`archive.detect.ruleset` for the rule format).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from lxml import etree

from archive.jobs import PageText
from archive.text.extract import decode_html, fast_page_text

if TYPE_CHECKING:
    from archive.detect.ruleset import Rule

_SNIPPET = 80
_CLASS_ATTRS = etree.XPath("//@class")
_ID_ATTRS = etree.XPath("//@id")
# Wording searched in the whole page must sit on a short line of its own (the title or one block
# of the fast text): at most this many characters longer than the wording itself. A paragraph
# that quotes a notice is longer; the notice page's own line is not.
NOTICE_LINE_SLACK = 60
_CSS_TOKEN_RE = re.compile(
    r"""(?P<ws>\s*)(?:
        (?P<comma>,)
      | (?P<child>>)
      | (?P<tag>[A-Za-z][A-Za-z0-9-]*|\*)
      | \.(?P<cls>-?[_A-Za-z][\w-]*)
      | \#(?P<id>-?[_A-Za-z][\w-]*)
      | \[\s*(?P<attr>[A-Za-z_][\w:-]*)\s*(?:(?P<op>[~^$*]?=)\s*
            (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[\w-]+))\s*)?\]
    )""",
    re.VERBOSE,
)


# ------------------------------------------------------------------------------ CSS subset


@dataclass(frozen=True)
class Selector:
    """A compiled CSS selector list: its XPath, and per alternative the class names and ids it
    needs, so a page that lacks them all is answered without running the XPath."""

    text: str
    xpath: etree.XPath = field(compare=False, repr=False)
    needs: tuple[tuple[frozenset[str], frozenset[str]], ...] = ()

    @classmethod
    def compile(cls, selectors: str) -> Selector:
        alternatives = _parse_css(selectors)
        try:
            xpath = etree.XPath(" | ".join(alt for alt, _, _ in alternatives))
        except etree.XPathSyntaxError as exc:
            raise ValueError(f"CSS selector {selectors!r}: {exc}") from exc
        return cls(selectors, xpath, tuple((classes, ids) for _, classes, ids in alternatives))


def css_to_xpath(selectors: str) -> str:
    """XPath for a CSS selector list in the subset :mod:`archive.detect.ruleset` documents;
    ValueError for anything else."""
    return " | ".join(alt for alt, _, _ in _parse_css(selectors))


def _parse_css(selectors: str) -> list[tuple[str, frozenset[str], frozenset[str]]]:
    """(XPath, class names, ids) of each alternative of a selector list."""
    text = selectors.strip()
    alternatives: list[tuple[str, frozenset[str], frozenset[str]]] = []
    steps: list[str] = []
    classes: set[str] = set()
    ids: set[str] = set()
    tag: str | None = None
    preds: list[str] = []
    in_compound = False
    axis = "//"
    pos = 0

    def unsupported(at: int) -> ValueError:
        return ValueError(f"unsupported CSS selector {selectors!r} near {text[at:at + 20]!r}")

    while pos < len(text):
        m = _CSS_TOKEN_RE.match(text, pos)
        if m is None or m.end() == pos:
            raise unsupported(pos)
        start, pos = pos, m.end()
        if in_compound and (m["ws"] or m["comma"] or m["child"]):
            steps.append(f"{axis}{tag or '*'}" + "".join(f"[{p}]" for p in preds))
            tag, preds, in_compound, axis = None, [], False, "//"
        if m["comma"]:
            if not steps or axis != "//":
                raise unsupported(start)
            alternatives.append(("".join(steps), frozenset(classes), frozenset(ids)))
            steps, classes, ids = [], set(), set()
        elif m["child"]:
            if not steps:
                raise unsupported(start)
            axis = "/"
        elif m["tag"]:
            if in_compound:
                raise unsupported(start)
            tag, in_compound = m["tag"].lower(), True
        else:
            in_compound = True
            preds.append(_css_predicate(m))
            if m["cls"]:
                classes.add(m["cls"])
            elif m["id"]:
                ids.add(m["id"])
    if in_compound:
        steps.append(f"{axis}{tag or '*'}" + "".join(f"[{p}]" for p in preds))
    elif not steps or axis != "//":
        raise unsupported(len(text))
    alternatives.append(("".join(steps), frozenset(classes), frozenset(ids)))
    return alternatives


def _css_predicate(m: re.Match[str]) -> str:
    if m["cls"]:
        padded = _xpath_literal(m["cls"], " ")
        return f"contains(concat(' ', normalize-space(@class), ' '), {padded})"
    if m["id"]:
        return f"@id={_xpath_literal(m['id'])}"
    attr, op = m["attr"].lower(), m["op"]
    if not op:
        return f"@{attr}"
    value = next(v for v in (m["dq"], m["sq"], m["bare"]) if v is not None)
    lit = _xpath_literal(value)
    return {
        "=": f"@{attr}={lit}",
        "~=": f"contains(concat(' ', normalize-space(@{attr}), ' '), {_xpath_literal(value, ' ')})",
        "^=": f"starts-with(@{attr}, {lit})",
        "$=": f"substring(@{attr}, string-length(@{attr}) - {len(value) - 1})={lit}",
        "*=": f"contains(@{attr}, {lit})",
    }[op]


def _xpath_literal(value: str, pad: str = "") -> str:
    value = f"{pad}{value}{pad}"
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"attribute value {value!r} holds both quote characters")


# ---------------------------------------------------------------------------------- matching


def normalise(text: str) -> str:
    """Text for comparison: NFKC, case folded, curly quotes straightened, zero-width characters
    dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    for curly, straight in (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'),
                            ("\u200b", ""), ("\ufeff", "")):
        text = text.replace(curly, straight)
    return " ".join(text.split())


def json_str(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


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
        if not elements:
            return None
        if rule.has_text:
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
